//! The load generator: a closed loop (C requests in flight, each sent when the last answered)
//! and an open loop (requests started on a fixed schedule, whatever the server does).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use super::connection::{Connection, Endpoint};

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Open loop: requests allowed in flight before new ones wait (their wait still counts).
const OPEN_LOOP_IN_FLIGHT: usize = 10_000;

/// What to send: bodies used in turn, all to one path.
#[derive(Clone)]
pub struct Work {
    pub base: String,
    pub key: String,
    pub path: &'static str,
    pub bodies: Arc<[Bytes]>,
}

impl Work {
    fn body(&self, index: u64) -> Bytes {
        self.bodies[(index % self.bodies.len() as u64) as usize].clone()
    }
}

/// The outcome of a load phase.
pub struct Load {
    /// Request latency in microseconds.
    pub latency: Histogram<u64>,
    /// Messages the server accepted.
    pub accepted: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub started: Instant,
    pub elapsed: Duration,
}

impl Load {
    fn new(started: Instant) -> Self {
        Self {
            latency: histogram(),
            accepted: 0,
            errors: 0,
            first_error: None,
            started,
            elapsed: Duration::ZERO,
        }
    }

    fn merge(&mut self, other: Load) {
        let _ = self.latency.add(&other.latency);
        self.accepted += other.accepted;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn record(&mut self, latency: Duration, outcome: Result<u64, String>) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
        match outcome {
            Ok(accepted) => self.accepted += accepted,
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }

    /// Accepted messages per second over the load phase.
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A latency percentile in milliseconds.
    pub fn millis(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_millis(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// A keep-alive HTTP/1.1 pool sized for `connections`.
pub fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()?)
}

/// Sends one request through the pool (open loop); the number of messages accepted, or why not.
async fn send(http: &reqwest::Client, work: &Work, index: u64) -> Result<u64, String> {
    let response = http
        .post(format!("{}{}", work.base, work.path))
        .bearer_auth(&work.key)
        .header("content-type", "application/json")
        .body(work.body(index))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    accepted(status, &text)
}

/// The number of messages an answer accepted, or why it accepted none.
fn accepted(status: u16, text: &[u8]) -> Result<u64, String> {
    if status != 202 {
        let start = String::from_utf8_lossy(&text[..text.len().min(300)]).into_owned();
        return Err(format!("{status}: {start}"));
    }
    Ok(accepted_count(text).unwrap_or(1))
}

/// `accepted_count` of a batch answer, read from its start without parsing the whole body.
fn accepted_count(body: &[u8]) -> Option<u64> {
    let head = std::str::from_utf8(&body[..body.len().min(100)]).ok()?;
    let rest = head.split_once("\"accepted_count\":")?.1;
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `requests` requests, `concurrency` at a time, each worker sending its next as soon as the
/// last answered, on a connection of its own.
pub async fn closed_loop(work: &Work, requests: u64, concurrency: usize) -> anyhow::Result<Load> {
    let endpoint = Endpoint::new(&work.base, &work.key, work.path)?;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..(concurrency as u64).min(requests) {
        let (work, next) = (work.clone(), next.clone());
        let mut connection = Connection::new(endpoint.clone());
        workers.spawn(async move {
            let mut load = Load::new(started);
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= requests {
                    break;
                }
                let sent = Instant::now();
                let outcome = connection
                    .post(work.body(index), REQUEST_TIMEOUT)
                    .await
                    .and_then(|(status, text)| accepted(status.as_u16(), &text));
                load.record(sent.elapsed(), outcome);
            }
            load
        });
    }
    let mut total = Load::new(started);
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(load) => total.merge(load),
            Err(error) => {
                total.errors += 1;
                total.first_error.get_or_insert(error.to_string());
            }
        }
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// `rate` requests per second for `duration`, each started at its scheduled time whether or
/// not earlier ones answered; latency counts from the scheduled time.
pub async fn open_loop(http: &reqwest::Client, work: &Work, rate: u64, duration: Duration) -> Load {
    let requests = (rate as f64 * duration.as_secs_f64()).round().max(1.0) as u64;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now() + Duration::from_millis(20);
    let permits = Arc::new(tokio::sync::Semaphore::new(OPEN_LOOP_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let mut total = Load::new(started);
    for index in 0..requests {
        let scheduled = started + period.mul_f64(index as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, work, permits) = (http.clone(), work.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let outcome = send(&http, &work, index).await;
            (scheduled.elapsed(), outcome)
        });
        while let Some(done) = tasks.try_join_next() {
            collect(&mut total, done);
        }
    }
    while let Some(done) = tasks.join_next().await {
        collect(&mut total, done);
    }
    total.elapsed = started.elapsed();
    total
}

fn collect(
    total: &mut Load,
    done: Result<(Duration, Result<u64, String>), tokio::task::JoinError>,
) {
    match done {
        Ok((latency, outcome)) => total.record(latency, outcome),
        Err(error) => total.record(Duration::ZERO, Err(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_count_is_read_from_the_start() {
        assert_eq!(
            accepted_count(br#"{"accepted_count":1000,"rejected_count":0,"accepted":[]}"#),
            Some(1000)
        );
        assert_eq!(accepted_count(br#"{"id":"msg_1","status":"queued"}"#), None);
    }
}

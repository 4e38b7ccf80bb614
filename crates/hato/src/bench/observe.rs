//! Watching the server's progress through `/metrics` (Prometheus text format).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Delivery reports that set a message to `delivered`, committed to the store.
const APPLIED: Series = Series {
    name: "hato_receipts_total",
    labels: &[("result", "applied"), ("status", "delivered")],
};

/// Delivery reports that arrived before their message's submit result was recorded: kept, and
/// applied by a reconciliation pass within a second or so, which this counter does not see.
const UNMATCHED: Series = Series {
    name: "hato_receipts_total",
    labels: &[("result", "unmatched"), ("status", "delivered")],
};

/// Receipts still waiting for their message (sampled from the store on each scrape).
const UNMATCHED_NOW: Series = Series {
    name: "hato_receipts_unmatched",
    labels: &[],
};

/// Messages delivered in the store: applied receipts, plus the early ones that are no longer
/// waiting (reconciled). Exact when every receipt is a `delivered` one for a known message,
/// as in the bench.
pub fn delivered(text: &str) -> f64 {
    APPLIED.sum(text) + UNMATCHED.sum(text) - UNMATCHED_NOW.sum(text)
}

/// Messages a carrier accepted.
pub fn submitted(text: &str) -> f64 {
    SUBMITTED.sum(text)
}

/// Time spent running write transactions, all operations (`hato_store_write_seconds`).
const STORE_WRITES: Series = Series {
    name: "hato_store_write_seconds_sum",
    labels: &[],
};

/// Seconds the store has spent in write transactions so far. On SQLite they run one at a time
/// on the single writer, so its change over a run, divided by the run's length, is how busy
/// that writer was.
pub fn store_write_seconds(text: &str) -> f64 {
    STORE_WRITES.sum(text)
}

/// Messages a carrier accepted (counted as the round ends, just before its outcomes commit).
const SUBMITTED: Series = Series {
    name: "hato_dispatch_outcomes_total",
    labels: &[("outcome", "sent")],
};

/// Inbound (MO) messages stored: counted once their transaction has committed, just before the
/// SMSC is answered `deliver_sm_resp` OK.
const INBOUND_STORED: Series = Series {
    name: "hato_inbound_total",
    labels: &[("result", "stored")],
};

/// Inbound messages recognised as a redelivery of one already stored (acknowledged, kept once).
const INBOUND_DUPLICATE: Series = Series {
    name: "hato_inbound_total",
    labels: &[("result", "duplicate")],
};

/// Inbound messages stored (all connectors).
pub fn inbound_stored(text: &str) -> f64 {
    INBOUND_STORED.sum(text)
}

/// Inbound messages taken for redeliveries (all connectors).
pub fn inbound_duplicates(text: &str) -> f64 {
    INBOUND_DUPLICATE.sum(text)
}

/// Scheduled or backing-off dispatch jobs (all lanes).
pub const DELAYED: Series = Series {
    name: "hato_queue_delayed",
    labels: &[("queue", "dispatch")],
};

/// Dispatch jobs ready to run (all lanes).
pub const READY: Series = Series {
    name: "hato_queue_ready",
    labels: &[("queue", "dispatch")],
};

/// A metric name and the labels a sample must carry; samples that match are summed (e.g. over
/// connectors or lanes).
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub labels: &'static [(&'static str, &'static str)],
}

impl Series {
    /// Sum of the matching samples in an exposition; 0 when there are none yet (counters
    /// appear on their first increment).
    pub fn sum(&self, text: &str) -> f64 {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.trim_end_matches('}')),
                    None => (series, ""),
                };
                if name != self.name {
                    return None;
                }
                let all = self.labels.iter().all(|(key, wanted)| {
                    labels
                        .split(',')
                        .filter_map(|pair| pair.split_once('='))
                        .any(|(k, v)| k == *key && v.trim_matches('"') == *wanted)
                });
                all.then(|| value.parse::<f64>().ok()).flatten()
            })
            .sum()
    }
}

/// Reads `/metrics` once.
pub async fn scrape(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let response = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .context("cannot read /metrics")?;
    if !response.status().is_success() {
        bail!("/metrics answered {}", response.status());
    }
    Ok(response.text().await?)
}

/// The embedded SMSC simulator's counters (`GET /v1/simulator`).
pub async fn simulator(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> anyhow::Result<serde_json::Value> {
    let response = http
        .get(format!("{base}/v1/simulator"))
        .bearer_auth(key)
        .send()
        .await
        .context("cannot read /v1/simulator")?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        bail!("the server runs no embedded SMSC simulator (GET /v1/simulator answered 404)");
    }
    if !status.is_success() {
        bail!(
            "GET /v1/simulator answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(response.json().await?)
}

/// A counter of [`simulator`]'s answer; 0 when absent.
pub fn counter(stats: &serde_json::Value, name: &str) -> f64 {
    stats[name].as_f64().unwrap_or(0.0)
}

/// Polls until `count` (e.g. [`delivered`]) reaches `goal`; returns when it did, or fails after
/// `timeout`.
pub async fn wait_until(
    http: &reqwest::Client,
    base: &str,
    (what, count): (&str, fn(&str) -> f64),
    goal: f64,
    timeout: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = count(&scrape(http, base).await?);
        if seen >= goal {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            bail!("{what} reached only {seen} of {goal} within {timeout:?}");
        }
        // Coarse polls cost the server little; 20 ms is ≤ 1 % of any run we report.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_samples_are_summed() {
        let text = "# TYPE hato_receipts_total counter\n\
            hato_receipts_total{result=\"applied\",status=\"delivered\"} 41\n\
            hato_receipts_total{status=\"delivered\",result=\"applied\",x=\"y\"} 1\n\
            hato_receipts_total{result=\"part\",status=\"delivered\"} 7\n\
            hato_receipts_totally{result=\"applied\",status=\"delivered\"} 9\n";
        assert_eq!(APPLIED.sum(text), 42.0);
        assert_eq!(SUBMITTED.sum(text), 0.0);
        let reconciled = format!("{text}hato_receipts_unmatched 3\n");
        assert_eq!(delivered(&reconciled), 39.0);
    }

    #[test]
    fn store_write_time_is_summed_over_operations() {
        let text = "hato_store_write_seconds_sum{operation=\"insert\"} 1.5\n\
            hato_store_write_seconds_count{operation=\"insert\"} 10\n\
            hato_store_write_seconds_sum{operation=\"receipts\"} 0.25\n\
            hato_store_write_wait_seconds_sum{operation=\"insert\"} 9\n";
        assert_eq!(store_write_seconds(text), 1.75);
    }
}

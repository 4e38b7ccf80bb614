//! The dispatcher: queue → route → carrier → recorded outcome.
//!
//! Each round claims a batch of due jobs (OTP lane first, then transactional, then
//! promotional) and submits every message of the batch concurrently; the carrier's window and
//! throughput limits pace the actual sending. Several rounds overlap, bounded by
//! `dispatch_in_flight`, so a slow carrier response never idles the queue. Outcomes of a round
//! are written in one transaction.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream::FuturesUnordered};
use hato_core::{Message, MessageId, PhoneNumber, Sender};
use hato_store::{DispatchJob, Store, SubmitResult};
use tokio::sync::{Notify, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{EngineConfig, OutboundSms, Router, SubmitOutcome, clock::now_ms, retry::delay_after};

pub(crate) async fn run(
    store: Store,
    config: Arc<EngineConfig>,
    router: Arc<Router>,
    wakeup: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let in_flight = Arc::new(Semaphore::new(config.dispatch_in_flight));
    let rounds = TaskTracker::new();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let batch = config.dispatch_batch.min(config.dispatch_in_flight) as u32;
        let permits = tokio::select! {
            permits = in_flight.clone().acquire_many_owned(batch) => permits.expect("semaphore never closes"),
            () = shutdown.cancelled() => break,
        };
        let now = now_ms();
        let lease_until = now + config.lease.as_millis() as i64;
        let jobs = match store.claim_dispatch(now, lease_until, batch as usize).await {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(error = ?error, "claiming dispatch jobs failed");
                idle(&wakeup, &shutdown, Duration::from_secs(1)).await;
                continue;
            }
        };
        if jobs.is_empty() {
            drop(permits);
            // New messages wake us at once; scheduled ones and retries are picked up within
            // one poll interval, which costs nothing on a queue of any size.
            idle(&wakeup, &shutdown, config.idle_poll).await;
            continue;
        }
        let full = jobs.len() as u32 == batch;
        rounds.spawn(dispatch_round(
            store.clone(),
            config.clone(),
            router.clone(),
            jobs,
            permits,
        ));
        if !full {
            // A partial batch means the queue is drained for now. Let it refill for `gather`
            // whatever wakes us: new messages arrive one by one, and claiming each alone would
            // cost two transactions per message on the single writer.
            tokio::select! {
                () = tokio::time::sleep(config.gather) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
    // Shutdown: let the rounds in flight finish and record their outcomes.
    rounds.close();
    rounds.wait().await;
}

async fn idle(wakeup: &Notify, shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = wakeup.notified() => {}
        () = tokio::time::sleep(duration) => {}
        () = shutdown.cancelled() => {}
    }
}

async fn dispatch_round(
    store: Store,
    config: Arc<EngineConfig>,
    router: Arc<Router>,
    jobs: Vec<DispatchJob>,
    _permits: tokio::sync::OwnedSemaphorePermit,
) {
    let mut submissions: FuturesUnordered<_> = jobs
        .into_iter()
        .map(|job| dispatch_one(config.clone(), router.clone(), job))
        .collect();
    // Outcomes are recorded as they come, in small groups, so one slow submission (a paced or
    // throttled carrier) never holds back the status of the others in its round.
    let mut results = Vec::new();
    let mut flush_at = tokio::time::Instant::now() + FLUSH_INTERVAL;
    loop {
        let next = tokio::time::timeout_at(flush_at, submissions.next()).await;
        let finished = matches!(next, Ok(None));
        if let Ok(Some(result)) = next {
            record_metrics(&result);
            results.push(result);
        }
        let due =
            finished || results.len() >= FLUSH_SIZE || tokio::time::Instant::now() >= flush_at;
        if due && !results.is_empty() {
            record(&store, std::mem::take(&mut results)).await;
        }
        if due {
            flush_at = tokio::time::Instant::now() + FLUSH_INTERVAL;
        }
        if finished {
            return;
        }
    }
}

/// Most outcomes written in one transaction, and the longest an outcome waits to be written.
const FLUSH_SIZE: usize = 100;
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

async fn record(store: &Store, results: Vec<SubmitResult>) {
    // Until this commits the jobs stay leased; if it keeps failing they are retried after the
    // lease runs out.
    let mut attempt = 0;
    while let Err(error) = store.record_submit_results(&results).await {
        attempt += 1;
        tracing::error!(error = ?error, attempt, "recording submit results failed");
        if attempt >= 5 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
    }
}

fn record_metrics(result: &SubmitResult) {
    let (outcome, connector) = match result {
        SubmitResult::Sent { connector, .. } => ("sent", connector.clone()),
        SubmitResult::Retry { .. } => ("retry", String::new()),
        SubmitResult::Wait { .. } => ("wait", String::new()),
        SubmitResult::Failed { connector, .. } => ("failed", connector.clone().unwrap_or_default()),
        SubmitResult::Expired { .. } => ("expired", String::new()),
    };
    metrics::counter!("hato_dispatch_outcomes_total", "outcome" => outcome, "connector" => connector).increment(1);
}

async fn dispatch_one(
    config: Arc<EngineConfig>,
    router: Arc<Router>,
    job: DispatchJob,
) -> SubmitResult {
    let DispatchJob { job, message } = job;
    let job_id = job.id;
    let message_id = message.id.clone();
    let now = now_ms();
    if let Some(expires) = message.expires_at
        && expires.as_millisecond() <= now
    {
        return SubmitResult::Expired {
            job_id,
            message_id,
            at: now,
        };
    }
    let sms = match outbound(&message, now) {
        Ok(sms) => sms,
        Err(reason) => {
            return SubmitResult::Failed {
                job_id,
                message_id,
                connector: None,
                code: "invalid_message".into(),
                reason,
                at: now,
            };
        }
    };
    let started = std::time::Instant::now();
    let mut last_retry: Option<(String, String, bool, Option<Duration>)> = None;
    for carrier in router.candidates(&sms) {
        if !carrier.is_ready() {
            continue;
        }
        match carrier.submit(sms.clone()).await {
            SubmitOutcome::Accepted { carrier_ids } => {
                metrics::histogram!("hato_submit_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                let at = now_ms();
                let created = message.created_at.as_millisecond();
                metrics::histogram!("hato_send_latency_seconds")
                    .record((at - created).max(0) as f64 / 1000.0);
                return SubmitResult::Sent {
                    job_id,
                    message_id,
                    connector: carrier.name().to_owned(),
                    carrier_ids,
                    at,
                };
            }
            SubmitOutcome::Rejected { code, reason } => {
                return SubmitResult::Failed {
                    job_id,
                    message_id,
                    connector: Some(carrier.name().to_owned()),
                    code,
                    reason,
                    at: now_ms(),
                };
            }
            SubmitOutcome::Retry {
                code,
                reason,
                throttled,
                retry_after,
            } => {
                tracing::debug!(message_id = %message_id, connector = carrier.name(), code, reason, "temporary refusal");
                // A throttled carrier is busy, not broken: try the next route first.
                last_retry = Some((code, reason, throttled, retry_after));
            }
            SubmitOutcome::Unavailable { reason } => {
                tracing::debug!(message_id = %message_id, connector = carrier.name(), reason, "carrier unavailable");
            }
        }
    }
    let now = now_ms();
    match last_retry {
        None => {
            // No carrier could take it: wait without using up an attempt.
            SubmitResult::Wait {
                job_id,
                message_id,
                run_at: now + config.unavailable_retry.as_millis() as i64,
            }
        }
        Some((code, reason, throttled, retry_after)) => {
            let attempt = usize::try_from(job.attempts).unwrap_or(usize::MAX);
            let delay = if throttled {
                Some(retry_after.unwrap_or(Duration::from_millis(500)))
            } else {
                delay_after(&config.retry_schedule, attempt, 0.2)
                    .map(|d| d.max(retry_after.unwrap_or_default()))
            };
            match delay {
                Some(delay) => SubmitResult::Retry {
                    job_id,
                    message_id,
                    run_at: now + delay.as_millis() as i64,
                },
                None => SubmitResult::Failed {
                    job_id,
                    message_id,
                    connector: None,
                    code,
                    reason,
                    at: now,
                },
            }
        }
    }
}

/// The carrier's view of a stored message.
fn outbound(message: &Message, now: i64) -> Result<OutboundSms, String> {
    let from = message
        .from
        .as_deref()
        .map(|from| {
            Sender::parse(from, "ZZ").map_err(|e| format!("stored sender is not valid: {e}"))
        })
        .transpose()?;
    Ok(OutboundSms {
        message_id: MessageId::clone(&message.id),
        kind: message.kind,
        to: PhoneNumber::from_trusted(message.to.clone()),
        from,
        body: message.body.clone(),
        request_receipt: true,
        validity: message
            .expires_at
            .map(|at| Duration::from_millis((at.as_millisecond() - now).max(0) as u64)),
    })
}

//! The dispatcher: queue → route → carrier → recorded outcome.
//!
//! Work comes two ways. Each claim takes a batch of due jobs (OTP lane first, then
//! transactional, then promotional); and while the queue has nothing due, the API hands over
//! messages it stored already claimed ([`crate::handoff`]). Every message is submitted on a
//! task of its own; the carrier's window and throughput limits pace the actual sending, and
//! `dispatch_in_flight` bounds how many are out at once (a permit each, held until its outcome
//! is recorded). Outcomes go to one recorder, which writes whatever has gathered in one
//! transaction, so the number of transactions does not grow with the message rate.

use std::{sync::Arc, time::Duration};

use hato_core::{Message, MessageId, PhoneNumber, Sender};
use hato_store::{Backend, DispatchJob, Store, SubmitResult};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    EngineConfig, OutboundSms, Router, SubmitOutcome,
    clock::now_ms,
    handoff::{Handoff, Intake},
    recorded::Recorded,
    retry::delay_after,
};

/// An outcome on its way to the recorder, with the window room its message held.
type Outcome = (SubmitResult, OwnedSemaphorePermit);

/// What every submission needs.
#[derive(Clone)]
struct Submitter {
    config: Arc<EngineConfig>,
    router: Arc<Router>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    recorded: Arc<Recorded>,
    tasks: TaskTracker,
}

impl Submitter {
    /// Submits each job on a task of its own; `permits` holds one permit per job.
    fn submit_all(&self, jobs: Vec<DispatchJob>, mut permits: OwnedSemaphorePermit) {
        for job in jobs {
            let Some(permit) = permits.split(1) else {
                tracing::error!("a dispatch job came without room in the window");
                return;
            };
            self.submit(job, permit);
        }
    }

    /// Submits one job on a task of its own, holding `permit` until its outcome is stored.
    fn submit(&self, job: DispatchJob, permit: OwnedSemaphorePermit) {
        let this = self.clone();
        self.tasks.spawn(async move {
            let result = dispatch_one(this.config, this.router, job).await;
            record_metrics(&result);
            this.recorded.handed_over();
            // The recorder outlives every submission (see `run`).
            let _ = this.outcomes.send((result, permit));
        });
    }
}

/// What the dispatcher shares with the rest of the engine.
pub(crate) struct Links {
    /// Direct dispatch: the API's side of the window, and the jobs it hands over.
    pub intake: Arc<Intake>,
    pub handoffs: mpsc::UnboundedReceiver<Handoff>,
    /// Rung when new messages are queued.
    pub wakeup: Arc<Notify>,
    /// Outcomes handed to the recorder and stored, which receipts wait for.
    pub recorded: Arc<Recorded>,
}

pub(crate) async fn run(
    store: Store,
    config: Arc<EngineConfig>,
    router: Arc<Router>,
    links: Links,
    shutdown: CancellationToken,
) {
    let Links {
        intake,
        handoffs,
        wakeup,
        recorded,
    } = links;
    let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record_outcomes(
        store.clone(),
        outcomes_rx,
        recorded.clone(),
        config.gather,
    ));
    let submitter = Submitter {
        config: config.clone(),
        router,
        outcomes,
        recorded,
        tasks: TaskTracker::new(),
    };
    tokio::join!(
        claim_loop(&store, &config, &intake, &submitter, &wakeup, &shutdown),
        handoff_loop(handoffs, &submitter, &shutdown),
    );
    // Shutdown: the submissions in flight finish, then the recorder writes what is left.
    submitter.tasks.close();
    submitter.tasks.wait().await;
    drop(submitter);
    let _ = recorder.await;
}

async fn claim_loop(
    store: &Store,
    config: &EngineConfig,
    intake: &Intake,
    submitter: &Submitter,
    wakeup: &Notify,
    shutdown: &CancellationToken,
) {
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let batch = config.dispatch_batch.min(config.dispatch_in_flight) as u32;
        let mut permits = tokio::select! {
            permits = intake.in_flight.clone().acquire_many_owned(batch) => permits.expect("semaphore never closes"),
            () = shutdown.cancelled() => break,
        };
        let now = now_ms();
        let lease_until = now + config.lease.as_millis() as i64;
        let jobs = match store.claim_dispatch(now, lease_until, batch as usize).await {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(error = ?error, "claiming dispatch jobs failed");
                intake.set_drained(false);
                drop(permits);
                idle(wakeup, shutdown, Duration::from_secs(1)).await;
                continue;
            }
        };
        let full = jobs.len() as u32 == batch;
        intake.set_drained(!full);
        if jobs.is_empty() {
            drop(permits);
            // New messages wake us at once; scheduled ones and retries are picked up within
            // one poll interval, which costs nothing on a queue of any size.
            idle(wakeup, shutdown, config.idle_poll).await;
            continue;
        }
        // The room of the jobs not found goes back now.
        if let Some(held) = permits.split(jobs.len()) {
            submitter.submit_all(jobs, held);
        }
        drop(permits);
        if !full {
            // A partial batch means the queue is drained for now. Let it refill for `gather`
            // whatever wakes us: queued messages arrive one by one, and claiming each alone
            // would cost a transaction per message on the single writer.
            tokio::select! {
                () = tokio::time::sleep(config.gather) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}

/// Submits what the API hands over until shutdown, then what was handed over before it.
async fn handoff_loop(
    mut handoffs: mpsc::UnboundedReceiver<Handoff>,
    submitter: &Submitter,
    shutdown: &CancellationToken,
) {
    loop {
        tokio::select! {
            handoff = handoffs.recv() => match handoff {
                Some(Handoff { job, permit }) => submitter.submit(job, permit),
                None => return,
            },
            () = shutdown.cancelled() => break,
        }
    }
    // The HTTP server has stopped before the engine: nothing new arrives, but what a
    // request handed over just before is sent rather than left to its lease.
    handoffs.close();
    while let Some(Handoff { job, permit }) = handoffs.recv().await {
        submitter.submit(job, permit);
    }
}

async fn idle(wakeup: &Notify, shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = wakeup.notified() => {}
        () = tokio::time::sleep(duration) => {}
        () = shutdown.cancelled() => {}
    }
}

/// Writes outcomes as they come, as a group commit does: whatever has arrived (after letting
/// more gather for `gather` when there are few) goes into one transaction, and each message's
/// room in the window is given back once its outcome is stored, and `recorded` counts it
/// for the receipts waiting on it. Ends when every submitter is gone and every outcome
/// written.
///
/// SQLite writes one transaction at a time, so one write in flight and the rest gathering
/// makes the next transaction larger. PostgreSQL runs transactions side by side, each waiting
/// on round trips: with one in flight, outcomes were stored after their delivery receipts had
/// arrived (86 % of them, against 7 % with four), which sends those receipts the slow way
/// (kept as unmatched, reconciled later).
async fn record_outcomes(
    store: Store,
    mut outcomes: mpsc::UnboundedReceiver<Outcome>,
    recorded: Arc<Recorded>,
    gather: Duration,
) {
    let parallel = match store.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    };
    let slots = Arc::new(Semaphore::new(parallel));
    let writes = TaskTracker::new();
    let mut batch: Vec<Outcome> = Vec::with_capacity(MAX_RECORD);
    while outcomes.recv_many(&mut batch, MAX_RECORD).await > 0 {
        if batch.len() < MIN_RECORD && !gather.is_zero() {
            tokio::time::sleep(gather).await;
        }
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // Whatever arrived while waiting joins this transaction.
        while batch.len() < MAX_RECORD {
            match outcomes.try_recv() {
                Ok(outcome) => batch.push(outcome),
                Err(_) => break,
            }
        }
        let (results, permits): (Vec<SubmitResult>, Vec<OwnedSemaphorePermit>) =
            batch.drain(..).unzip();
        let store = store.clone();
        let recorded = recorded.clone();
        writes.spawn(async move {
            let count = results.len();
            record(&store, results).await;
            recorded.stored(count);
            drop(permits);
            drop(slot);
        });
    }
    writes.close();
    writes.wait().await;
}

/// Below this many outcomes the recorder waits `gather` for more before writing.
const MIN_RECORD: usize = 100;
/// Most outcomes written in one transaction.
const MAX_RECORD: usize = 1000;

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

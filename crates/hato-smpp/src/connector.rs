//! The connector: Hato as an ESME towards one SMSC, over one or more binds.
//!
//! [`Connector::start`] spawns one supervisor task per session. A supervisor connects,
//! binds, runs the session until it ends, and reconnects with exponential backoff until
//! shutdown: the step starts at `reconnect_min` and doubles up to `reconnect_max`, and each
//! wait is drawn at random from the upper half of the step (`backoff.rs`), so the sessions
//! of many processes coming back after an SMSC outage do not all reconnect at once.
//!
//! [`Connector::submit`] encodes a message into parts, and for each part waits for the
//! throughput pacer, picks a bound transmitter with a free window slot (round robin), waits
//! for a slot, and hands the part to that session. Parts that never reached a socket (their
//! session died first) are sent again on another bind; parts written but never answered are
//! reported as [`SubmitOutcome::Retry`], since the SMSC may or may not have them.
//!
//! Receipts and inbound messages are handed to the engine as [`ConnectorEvent`]s with an
//! ack; see [`ConnectorEvent`] for the durability contract. Multipart inbound messages are
//! reassembled across all sessions of the connector; every part stays unanswered until the
//! whole message is acked (stricter than acking parts as they come: nothing the engine has
//! not stored is ever acknowledged), and an incomplete set is answered with `ESME_RX_T_APPN`
//! after `reassembly_timeout` so the SMSC sends it again.

use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusmpp::pdus::SubmitSm;
use rusmpp::values::ServiceType;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::address::{destination_address, source_address};
use crate::backoff::Backoff;
use crate::config::{BindMode, ConfigError, ConnectorConfig};
use crate::event::{ConnectorEvent, ConnectorSnapshot, OutboundSms, SubmitOutcome};
use crate::long_message::{EncodeOptions, encode_message};
use crate::pacer::Pacer;
use crate::pdu;
use crate::reassembly::Reassembler;
use crate::session::{self, PartResult, Responder, Role, SubmitRequest};
use crate::status::{
    ESME_RINVMSGLEN, ESME_RINVSRCADR, ESME_RX_T_APPN, StatusClass, classify_status, status_name,
};

/// A running connector. Cheap to clone; every clone drives the same sessions.
#[derive(Clone, Debug)]
pub struct Connector {
    shared: Arc<Shared>,
    tracker: TaskTracker,
}

/// A bound transmitter's entry points.
#[derive(Clone, Debug)]
pub(crate) struct BindHandle {
    pub(crate) requests: mpsc::Sender<SubmitRequest>,
    pub(crate) window: Arc<Semaphore>,
}

/// Where a transmitting session publishes itself while bound.
#[derive(Debug, Default)]
pub(crate) struct Slot(Mutex<Option<BindHandle>>);

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<BindHandle>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set(&self, handle: Option<BindHandle>) {
        *self.lock() = handle;
    }

    pub(crate) fn take(&self) -> Option<BindHandle> {
        self.lock().take()
    }

    fn get(&self) -> Option<BindHandle> {
        self.lock().clone()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) submitted: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) receipts: AtomicU64,
    pub(crate) inbound: AtomicU64,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) transmitters_up: AtomicUsize,
    pub(crate) bound: AtomicUsize,
    pub(crate) last_error: Mutex<Option<String>>,
}

/// State shared by the handle, the supervisors and the sessions.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ConnectorConfig,
    pub(crate) service_type: ServiceType,
    pub(crate) events: mpsc::Sender<ConnectorEvent>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) slots: Vec<Slot>,
    pub(crate) pacer: Pacer,
    pub(crate) stats: Stats,
    reassembler: Mutex<Reassembler<Responder>>,
    next_slot: AtomicUsize,
    reference: AtomicU16,
}

impl Shared {
    pub(crate) fn reassembler(&self) -> MutexGuard<'_, Reassembler<Responder>> {
        self.reassembler.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record_error(&self, error: String) {
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    fn pick(&self) -> Option<BindHandle> {
        let n = self.slots.len();
        let start = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let mut fallback = None;
        for i in 0..n {
            if let Some(handle) = self.slots[(start + i) % n].get() {
                if handle.window.available_permits() > 0 {
                    return Some(handle);
                }
                fallback.get_or_insert(handle);
            }
        }
        fallback
    }
}

/// How many times a part that never reached a socket is offered to another bind.
const MAX_SEND_ATTEMPTS: usize = 4;

impl Connector {
    /// Validates `config` and starts the sessions; must be called inside a Tokio runtime.
    /// Events (receipts, inbound messages, bind changes) go to `events`; cancelling
    /// `shutdown` stops taking submits, drains each in-flight window, unbinds and stops.
    pub fn start(
        config: ConnectorConfig,
        events: mpsc::Sender<ConnectorEvent>,
        shutdown: CancellationToken,
    ) -> Result<Connector, ConfigError> {
        config.validate()?;
        let service_type =
            pdu::service_type(&config.service_type).map_err(|_| ConfigError::NotAscii {
                field: "service_type",
            })?;
        let transmitters = config.binds;
        let shared = Arc::new(Shared {
            service_type,
            events,
            shutdown,
            slots: (0..transmitters).map(|_| Slot::default()).collect(),
            pacer: Pacer::new(config.throughput, config.throttle_pause),
            stats: Stats::default(),
            reassembler: Mutex::new(Reassembler::new(config.reassembly_timeout)),
            next_slot: AtomicUsize::new(0),
            reference: AtomicU16::new(seed_reference(&config.name)),
            config,
        });
        let tracker = TaskTracker::new();
        for bind in 0..shared.config.binds {
            let roles: &[Role] = match shared.config.bind_mode {
                BindMode::Transceiver => &[Role::Transceiver],
                BindMode::TransmitterReceiver => &[Role::Transmitter, Role::Receiver],
            };
            for &role in roles {
                let slot = (role != Role::Receiver).then_some(bind);
                tracker.spawn(supervise(Arc::clone(&shared), role, slot));
            }
        }
        tracker.spawn(sweep_reassembly(Arc::clone(&shared)));
        tracker.close();
        info!(connector = %shared.config.name, sessions = shared.config.sessions(), "connector started");
        Ok(Connector { shared, tracker })
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// Submits a message: waits for the throughput cap and a window slot for each part, then
    /// for every part's response. Returns [`SubmitOutcome::Unavailable`] at once when no bind
    /// is up or the connector is shutting down, so the caller can fail over.
    pub async fn submit(&self, sms: OutboundSms) -> SubmitOutcome {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() {
            return unavailable("the connector is shutting down");
        }
        if shared.stats.transmitters_up.load(Ordering::Relaxed) == 0 {
            return unavailable("no bind is up");
        }
        let pdus = match self.build(&sms) {
            Ok(pdus) => pdus,
            Err(outcome) => return outcome,
        };
        let mut pending = Vec::with_capacity(pdus.len());
        for pdu in &pdus {
            match self.send_part(pdu.clone()).await {
                Ok(rx) => pending.push(rx),
                Err(reason) => {
                    if pending.is_empty() {
                        return unavailable(reason);
                    }
                    break;
                }
            }
        }
        let mut ids = Vec::with_capacity(pdus.len());
        let mut failure: Option<SubmitOutcome> = None;
        for (index, rx) in pending.into_iter().enumerate() {
            let mut result = rx.await.unwrap_or(PartResult::NotSent);
            let mut attempts = 1;
            while result == PartResult::NotSent && attempts < MAX_SEND_ATTEMPTS {
                attempts += 1;
                result = match self.send_part(pdus[index].clone()).await {
                    Ok(rx) => rx.await.unwrap_or(PartResult::NotSent),
                    Err(_) => break,
                };
            }
            match result {
                PartResult::Accepted(id) => ids.push(id),
                other => failure = Some(worse(failure, part_failure(other))),
            }
        }
        if ids.len() < pdus.len() && failure.is_none() {
            failure = Some(retry(
                None,
                "the connection was lost before every part was sent".into(),
                false,
            ));
        }
        match failure {
            None => SubmitOutcome::Accepted { message_ids: ids },
            Some(SubmitOutcome::Retry {
                command_status,
                reason,
                throttled,
                ..
            }) => SubmitOutcome::Retry {
                command_status,
                reason,
                throttled,
                accepted_ids: ids,
                retry_after: throttled.then_some(self.shared.config.throttle_pause),
            },
            Some(SubmitOutcome::Unavailable { reason }) if !ids.is_empty() => {
                retry(None, reason, false)
            }
            Some(other) => other,
        }
    }

    fn build(&self, sms: &OutboundSms) -> Result<Vec<SubmitSm>, SubmitOutcome> {
        let config = &self.shared.config;
        let options = EncodeOptions {
            mode: config.long_messages,
            data_coding_gsm7: config.data_coding_gsm7,
            data_coding_ucs2: config.data_coding_ucs2,
            reference: self.shared.reference.fetch_add(1, Ordering::Relaxed),
            units_per_part: None,
        };
        let parts = encode_message(&sms.body, options).map_err(|e| SubmitOutcome::Rejected {
            command_status: ESME_RINVMSGLEN,
            reason: e.to_string(),
        })?;
        let source = source_address(&sms.source, config.source_ton_npi);
        let destination = destination_address(&sms.destination, config.destination_ton_npi);
        let receipt = config.registered_delivery && sms.request_receipt;
        let validity = sms.validity.map(pdu::relative_validity);
        parts
            .iter()
            .map(|part| {
                pdu::submit_sm(
                    &self.shared.service_type,
                    &source,
                    &destination,
                    part,
                    receipt,
                    validity.as_deref(),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SubmitOutcome::Rejected {
                command_status: ESME_RINVSRCADR,
                reason: e.to_string(),
            })
    }

    /// Hands one part to a bound session; the receiver resolves with its response.
    async fn send_part(
        &self,
        mut pdu: SubmitSm,
    ) -> Result<oneshot::Receiver<PartResult>, &'static str> {
        let shared = &self.shared;
        tokio::select! {
            _ = shared.pacer.acquire() => {}
            _ = shared.shutdown.cancelled() => return Err("the connector is shutting down"),
        }
        for _ in 0..shared.slots.len() * 2 + 2 {
            if shared.shutdown.is_cancelled() {
                return Err("the connector is shutting down");
            }
            let Some(handle) = shared.pick() else {
                return Err("no bind is up");
            };
            let permit = tokio::select! {
                permit = Arc::clone(&handle.window).acquire_owned() => permit,
                _ = shared.shutdown.cancelled() => return Err("the connector is shutting down"),
            };
            let Ok(permit) = permit else {
                continue;
            };
            let (reply, rx) = oneshot::channel();
            match handle
                .requests
                .send(SubmitRequest { pdu, permit, reply })
                .await
            {
                Ok(()) => return Ok(rx),
                Err(mpsc::error::SendError(request)) => pdu = request.pdu,
            }
        }
        Err("no bind is up")
    }

    /// Whether a transmitting session is bound, so [`Connector::submit`] can send now.
    pub fn is_ready(&self) -> bool {
        !self.shared.shutdown.is_cancelled()
            && self.shared.stats.transmitters_up.load(Ordering::Relaxed) > 0
    }

    /// Counters and state right now.
    pub fn snapshot(&self) -> ConnectorSnapshot {
        let shared = &self.shared;
        let stats = &shared.stats;
        let (current_rate, rate_limit) = shared.pacer.rates();
        ConnectorSnapshot {
            name: shared.config.name.clone(),
            binds_up: stats.bound.load(Ordering::Relaxed),
            binds_total: shared.config.sessions(),
            transmitters_up: stats.transmitters_up.load(Ordering::Relaxed),
            window_in_use: stats.in_flight.load(Ordering::Relaxed),
            submitted: stats.submitted.load(Ordering::Relaxed),
            accepted: stats.accepted.load(Ordering::Relaxed),
            failed: stats.failed.load(Ordering::Relaxed),
            throttled: stats.throttled.load(Ordering::Relaxed),
            receipts: stats.receipts.load(Ordering::Relaxed),
            inbound: stats.inbound.load(Ordering::Relaxed),
            last_error: stats
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            current_rate,
            rate_limit,
        }
    }

    /// Resolves once the connector has stopped after shutdown: windows drained, sessions
    /// unbound, tasks finished.
    pub async fn stopped(&self) {
        self.tracker.wait().await;
    }
}

fn unavailable(reason: impl Into<String>) -> SubmitOutcome {
    SubmitOutcome::Unavailable {
        reason: reason.into(),
    }
}

fn retry(command_status: Option<u32>, reason: String, throttled: bool) -> SubmitOutcome {
    SubmitOutcome::Retry {
        command_status,
        reason,
        throttled,
        accepted_ids: Vec::new(),
        retry_after: None,
    }
}

fn part_failure(result: PartResult) -> SubmitOutcome {
    match result {
        PartResult::Accepted(_) => unreachable_accepted(),
        PartResult::Status(status) => {
            let reason = format!("the SMSC answered {}", status_name(status));
            match classify_status(status) {
                StatusClass::Throttled => retry(Some(status), reason, true),
                StatusClass::Temporary | StatusClass::Ok => retry(Some(status), reason, false),
                StatusClass::Permanent => SubmitOutcome::Rejected {
                    command_status: status,
                    reason,
                },
            }
        }
        PartResult::Lost(reason) => retry(None, reason, false),
        PartResult::NotSent => unavailable("no bind could take the message"),
    }
}

fn unreachable_accepted() -> SubmitOutcome {
    retry(
        None,
        "internal: accepted part reported as a failure".into(),
        false,
    )
}

/// Rejected beats throttled beats other retries beats unavailable.
fn worse(current: Option<SubmitOutcome>, new: SubmitOutcome) -> SubmitOutcome {
    fn rank(outcome: &SubmitOutcome) -> u8 {
        match outcome {
            SubmitOutcome::Rejected { .. } => 4,
            SubmitOutcome::Retry {
                throttled: true, ..
            } => 3,
            SubmitOutcome::Retry { .. } => 2,
            SubmitOutcome::Unavailable { .. } => 1,
            SubmitOutcome::Accepted { .. } => 0,
        }
    }
    match current {
        Some(current) if rank(&current) >= rank(&new) => current,
        _ => new,
    }
}

/// A per-connector starting point for concatenation references, so two connectors (or a
/// restart) do not start at the same number.
fn seed_reference(name: &str) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let hash = name
        .bytes()
        .fold(nanos, |h, b| h.rotate_left(5) ^ u32::from(b));
    hash as u16
}

/// Keeps one session alive: bind, run, back off, again, until shutdown.
async fn supervise(shared: Arc<Shared>, role: Role, slot: Option<usize>) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    loop {
        if shared.shutdown.is_cancelled() {
            break;
        }
        let bound = tokio::select! {
            bound = session::connect_and_bind(Arc::clone(&shared), role, slot) => bound,
            _ = shared.shutdown.cancelled() => break,
        };
        match bound {
            Ok(session) => {
                bind_changed(&shared, true).await;
                let bound_at = tokio::time::Instant::now();
                let ended = session.run().await;
                backoff.session_ended(bound_at.elapsed());
                bind_changed(&shared, false).await;
                match ended {
                    Ok(()) => info!(connector = %config.name, "unbound"),
                    Err(error) => {
                        warn!(connector = %config.name, %error, "session ended");
                        shared.record_error(format!("session ended: {error}"));
                    }
                }
            }
            Err(error) => {
                warn!(connector = %config.name, %error, "bind failed");
                shared.record_error(format!("bind failed: {error}"));
            }
        }
        let delay = backoff.next_delay(&mut rand::rng());
        debug!(connector = %config.name, role = role.as_str(), ?delay, "reconnecting after a pause");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.shutdown.cancelled() => break,
        }
    }
}

async fn bind_changed(shared: &Shared, up: bool) {
    let bound = if up {
        shared.stats.bound.fetch_add(1, Ordering::Relaxed) + 1
    } else {
        shared.stats.bound.fetch_sub(1, Ordering::Relaxed) - 1
    };
    let event = ConnectorEvent::BindChanged {
        connector: shared.config.name.clone(),
        bound,
        total: shared.config.sessions(),
    };
    // Informational: never let a busy engine hold a session hostage for long.
    let _ = tokio::time::timeout(shared.config.response_timeout, shared.events.send(event)).await;
}

/// Answers incomplete multipart sets that waited too long, and everything left at shutdown.
async fn sweep_reassembly(shared: Arc<Shared>) {
    let every = (shared.config.reassembly_timeout / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let expired = shared.reassembler().expire(tokio::time::Instant::now().into_std());
                for responder in expired {
                    responder.respond(ESME_RX_T_APPN);
                }
            }
            _ = shared.shutdown.cancelled() => break,
        }
    }
    let left = shared.reassembler().drain();
    for responder in left {
        responder.respond(ESME_RX_T_APPN);
    }
}

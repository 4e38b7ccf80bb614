//! An SMSC simulator speaking real SMPP 3.4 over TCP, for development, tests and benchmarks.
//!
//! It accepts any number of sessions (transmitter, receiver, transceiver), optionally checks
//! credentials, answers `submit_sm` pipelined, sends delivery receipts after a delay with a
//! deterministic mix of outcomes ([`OutcomeMix`], keyed by a submit counter), plays handsets
//! replying ([`Simulator::send_mo`], multipart and out of order included) or answering what
//! they were sent by rule ([`HandsetReply`]), injects faults on
//! demand ([`Fault`]) and reports what it saw ([`Simulator::stats`], overall and per bound
//! session; [`Simulator::received`], [`Simulator::received_messages`],
//! [`Simulator::deliver_responses`]).
//!
//! Message ids: `submit_sm_resp` carries ids in [`SimulatorConfig::submit_ids`] form and
//! receipts in [`SimulatorConfig::receipt_ids`] form (hex and decimal by default), so the
//! id normalisation of whoever matches receipts is exercised all the time.
//!
//! A `deliver_sm` (receipt or MO) goes to a bound receiver or transceiver of the same
//! `system_id` (the submitting session when it can receive); when none is bound, or its
//! session closes before answering, it is held and sent when one binds. Like a real SMSC,
//! a session gets at most [`SimulatorConfig::deliver_window`] unanswered `deliver_sm`s; the
//! rest wait, in order, for answers (a burst of 100,000 MO is sent as fast as the ESME
//! answers, not all at once). A `deliver_sm` answered with an error is sent again after
//! [`SimulatorConfig::redeliver_after`], if set.
//! Receipts ([`SimulatorConfig::receipts_as`]) and MO messages ([`MoMessage::send_as`]) can
//! be sent as `data_sm` instead, as some SMSCs do: text in `message_payload`, receipt facts
//! in TLVs; everything said here of `deliver_sm` holds for them too.

mod dates;
mod replies;
mod session;

pub use replies::HandsetReply;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hato_core::simulation::{OutcomeMix, SimulatedOutcome};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::address::Address;
use crate::config::LongMessageMode;
use crate::long_message::{EncodeOptions, encode_message};
use crate::pdu::{self, ESM_DELIVERY_RECEIPT, ReceiptTlvs};
use crate::reassembly::Reassembler;
use crate::receipt::{ReceiptState, format_receipt_text};
use crate::status::ESME_RINVDSTADR;
use crate::wire::Out;

/// How message ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormat {
    /// `65537`
    Decimal,
    /// `00010001` (upper case, zero-padded to 8 digits)
    Hex,
}

impl IdFormat {
    fn format(self, value: u64) -> String {
        match self {
            IdFormat::Decimal => value.to_string(),
            IdFormat::Hex => format!("{value:08X}"),
        }
    }
}

/// What the simulator does.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// `(system_id, password)` a bind must present; `None` accepts any.
    pub credentials: Option<(String, String)>,
    /// Id form in `submit_sm_resp`.
    pub submit_ids: IdFormat,
    /// Id form in receipts (text and `receipted_message_id`).
    pub receipt_ids: IdFormat,
    /// Delay between a `submit_sm` and its receipt.
    pub receipt_delay: Duration,
    /// Outcomes: `rejected` answers the `submit_sm` with `reject_status`; the others are
    /// reported in receipts.
    pub outcomes: OutcomeMix,
    /// Status for submits whose outcome is [`SimulatedOutcome::Rejected`].
    pub reject_status: u32,
    /// `err:` code (and GSM `network_error_code`) for undelivered messages.
    pub undelivered_error: u16,
    /// `err:` code for expired messages.
    pub expired_error: u16,
    /// Whether receipts also carry `receipted_message_id` / `message_state` /
    /// `network_error_code` TLVs (the text is always there).
    pub receipt_tlvs: bool,
    /// Keep every submitted PDU and every answer to a delivery, for [`Simulator::received`]
    /// and [`Simulator::deliver_responses`] (off in `hato serve` and `hato smsc`, which run
    /// for long; the counters in [`Simulator::stats`] are always kept).
    pub record: bool,
    /// Resend a `deliver_sm` answered with an error after this long; `None` never resends.
    pub redeliver_after: Option<Duration>,
    /// The PDU receipts are sent as.
    pub receipts_as: DeliveryPdu,
    /// How long parts of a submitted multipart message wait for the rest in
    /// [`Simulator::received_messages`].
    pub reassembly_timeout: Duration,
    /// Most `deliver_sm`/`data_sm` a session has sent and not yet had answered (at least 1).
    pub deliver_window: usize,
    /// Handsets that answer what they are sent, by rule ([`HandsetReply`]); none by default.
    pub replies: Vec<HandsetReply>,
}

impl Default for SimulatorConfig {
    /// Any credentials, hex ids in responses and decimal in receipts, receipts after 10 ms,
    /// everything delivered, rejections as `ESME_RINVDSTADR`, TLVs on, recording on, no
    /// redelivery.
    fn default() -> Self {
        Self {
            credentials: None,
            submit_ids: IdFormat::Hex,
            receipt_ids: IdFormat::Decimal,
            receipt_delay: Duration::from_millis(10),
            outcomes: OutcomeMix::default(),
            reject_status: ESME_RINVDSTADR,
            undelivered_error: 1,
            expired_error: 0,
            receipt_tlvs: true,
            record: true,
            redeliver_after: None,
            receipts_as: DeliveryPdu::DeliverSm,
            reassembly_timeout: Duration::from_secs(60),
            deliver_window: 1_000,
            replies: Vec::new(),
        }
    }
}

/// A fault to inject; counts apply to the next `submit_sm`s received, across sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close every session at once, without unbinding.
    DisconnectAll,
    /// Answer the next `count` submits with `status` (e.g. `ESME_RTHROTTLED`).
    RespondWith {
        /// The status.
        status: u32,
        /// How many submits.
        count: usize,
    },
    /// Hold the responses to the next `count` submits for `delay`.
    DelayResponses {
        /// How long.
        delay: Duration,
        /// How many submits.
        count: usize,
    },
    /// Never answer the next `count` submits.
    DropResponses {
        /// How many submits.
        count: usize,
    },
    /// Send the receipt of the next `count` submits before their `submit_sm_resp`.
    ReceiptsBeforeResponses {
        /// How many submits.
        count: usize,
    },
}

/// Counters since start.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorStats {
    /// Sessions currently bound.
    pub bound: usize,
    /// Binds accepted.
    pub binds_accepted: u64,
    /// Binds refused.
    pub binds_rejected: u64,
    /// `submit_sm` received.
    pub submits: u64,
    /// `submit_sm` answered `ESME_ROK`.
    pub submits_ok: u64,
    /// `submit_sm` answered with an error.
    pub submits_failed: u64,
    /// Receipts sent (`deliver_sm` or `data_sm`, resends included).
    pub receipts_sent: u64,
    /// MO parts sent (`deliver_sm` or `data_sm`, resends included).
    pub mo_sent: u64,
    /// `deliver_sm_resp` / `data_sm_resp` with `ESME_ROK`.
    pub deliver_ok: u64,
    /// `deliver_sm_resp` / `data_sm_resp` (or `generic_nack`) with an error.
    pub deliver_failed: u64,
    /// `enquire_link` received.
    pub enquire_links: u64,
    /// `unbind` received.
    pub unbinds: u64,
    /// `generic_nack` received.
    pub generic_nacks: u64,
    /// PDUs that could not be decoded.
    pub invalid_pdus: u64,
    /// The most `submit_sm` one session had unanswered at once.
    pub max_outstanding: usize,
    /// `submit_sm` per second between the first and the last one received.
    pub submit_rate: f64,
    /// Every session bound right now, in order of connection, with its own counters: how
    /// the load spreads over the binds of a connector.
    pub sessions: Vec<SessionStats>,
}

/// One bound session in [`SimulatorStats::sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStats {
    /// The simulator's number for the connection (from 1, in order of arrival).
    pub id: u64,
    /// The bind's `system_id`.
    pub system_id: String,
    /// How it is bound.
    pub role: BindRole,
    /// `submit_sm` received on this session.
    pub submits: u64,
    /// `deliver_sm` / `data_sm` (receipts and MO) sent on this session, resends included.
    pub delivers: u64,
}

/// One `submit_sm` as received, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSubmit {
    /// The id it was given (submit form).
    pub message_id: String,
    /// The bind's `system_id`.
    pub system_id: String,
    /// Source TON.
    pub source_ton: u8,
    /// Source NPI.
    pub source_npi: u8,
    /// Source address.
    pub source: String,
    /// Destination TON.
    pub destination_ton: u8,
    /// Destination NPI.
    pub destination_npi: u8,
    /// Destination address.
    pub destination: String,
    /// `esm_class`.
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// This PDU's decoded text (header removed).
    pub text: String,
    /// Concatenation facts, if a part.
    pub concat: Option<crate::long_message::Concat>,
    /// Whether the text came in `message_payload`.
    pub payload: bool,
    /// When it arrived.
    pub received_at: Instant,
}

/// A submitted message with its parts put back together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Source address.
    pub source: String,
    /// Destination address.
    pub destination: String,
    /// Whole text.
    pub text: String,
    /// PDUs it came in.
    pub parts: usize,
}

/// The PDU that carries a receipt or MO message to the ESME.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryPdu {
    /// `deliver_sm`, text in `short_message` (or `message_payload` for long payloads):
    /// what nearly every SMSC sends.
    #[default]
    DeliverSm,
    /// `data_sm`, text in `message_payload`, receipt facts in TLVs.
    DataSm,
}

/// What a `deliver_sm` was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverKind {
    /// A receipt for this id (receipt form).
    Receipt {
        /// The id.
        message_id: String,
    },
    /// Part `part` (from 1) of `parts` of an MO message.
    Mo {
        /// Sender.
        from: String,
        /// Recipient.
        to: String,
        /// Position, from 1.
        part: usize,
        /// Number of parts.
        parts: usize,
    },
}

/// The answer to one `deliver_sm` or `data_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverResponse {
    /// What was delivered.
    pub kind: DeliverKind,
    /// The PDU it was delivered in.
    pub sent_as: DeliveryPdu,
    /// The `command_id` of the ESME's answer: `deliver_sm_resp` (0x80000005), `data_sm_resp`
    /// (0x80000103) or `generic_nack` (0x80000000).
    pub response_id: u32,
    /// The ESME's `command_status`.
    pub command_status: u32,
}

/// Order in which MO parts are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PartOrder {
    /// 1, 2, 3...
    #[default]
    InOrder,
    /// ..., 3, 2, 1.
    Reversed,
    /// These 0-based indices, in this order (repeats allowed: a resent part).
    Custom(Vec<usize>),
}

/// A message from a handset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoMessage {
    /// The handset's number (`+8190…`) or any address.
    pub from: String,
    /// The number or short code it is sent to.
    pub to: String,
    /// Text.
    pub body: String,
    /// How parts are marked (UDH 8/16-bit, SAR, or one PDU with `message_payload`).
    pub concat: LongMessageMode,
    /// Forces parts of at most this many characters (to make short texts multipart).
    pub units_per_part: Option<usize>,
    /// Order of the parts.
    pub order: PartOrder,
    /// Deliver only to binds of this `system_id` (default: any).
    pub system_id: Option<String>,
    /// The PDU each part is sent as (default `deliver_sm`).
    pub send_as: DeliveryPdu,
}

impl MoMessage {
    /// A message sent the usual way: UDH 8-bit when long, parts in order.
    pub fn new(from: impl Into<String>, to: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            body: body.into(),
            concat: LongMessageMode::Udh8,
            units_per_part: None,
            order: PartOrder::InOrder,
            system_id: None,
            send_as: DeliveryPdu::DeliverSm,
        }
    }
}

/// Why the simulator could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulatorError {
    /// No receiver or transceiver is bound.
    #[error("no receiving session is bound")]
    NoReceiver,
    /// The message cannot be encoded.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// A part index in [`PartOrder::Custom`] is out of range.
    #[error("part index {0} is out of range")]
    PartIndex(usize),
}

#[derive(Debug, Default)]
struct Counters {
    binds_accepted: AtomicU64,
    binds_rejected: AtomicU64,
    submits: AtomicU64,
    submits_ok: AtomicU64,
    submits_failed: AtomicU64,
    receipts_sent: AtomicU64,
    mo_sent: AtomicU64,
    deliver_ok: AtomicU64,
    deliver_failed: AtomicU64,
    enquire_links: AtomicU64,
    unbinds: AtomicU64,
    generic_nacks: AtomicU64,
    invalid_pdus: AtomicU64,
    max_outstanding: AtomicUsize,
}

#[derive(Debug, Default)]
struct Faults {
    respond_with: VecDeque<(u32, usize)>,
    delay: VecDeque<(Duration, usize)>,
    drop: usize,
    receipt_first: usize,
}

/// The faults that apply to one submit.
#[derive(Debug, Default)]
struct SubmitFaults {
    status: Option<u32>,
    delay: Option<Duration>,
    drop: bool,
    receipt_first: bool,
}

fn take_one<T: Copy>(queue: &mut VecDeque<(T, usize)>) -> Option<T> {
    let (value, count) = queue.front_mut()?;
    let value = *value;
    *count -= 1;
    if *count == 0 {
        queue.pop_front();
    }
    Some(value)
}

/// How a session is bound: what it can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRole {
    /// `bind_transmitter`: submits only.
    Transmitter,
    /// `bind_receiver`: receipts and MO only.
    Receiver,
    /// `bind_transceiver`: both.
    Transceiver,
}

impl BindRole {
    fn receives(self) -> bool {
        self != BindRole::Transmitter
    }

    /// `"transmitter"`, `"receiver"` or `"transceiver"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BindRole::Transmitter => "transmitter",
            BindRole::Receiver => "receiver",
            BindRole::Transceiver => "transceiver",
        }
    }
}

/// Per-session counters, shared by the connection task and the session table.
#[derive(Debug, Default)]
struct SessionCounters {
    submits: AtomicU64,
    delivers: AtomicU64,
}

#[derive(Debug)]
struct SessionEntry {
    system_id: String,
    role: BindRole,
    counters: Arc<SessionCounters>,
    writer: mpsc::UnboundedSender<Out>,
    next_sequence: Arc<AtomicU32>,
    kill: CancellationToken,
    /// Deliveries sent on this session and not answered yet.
    unanswered: usize,
}

/// A `deliver_sm` with what it is, kept until answered.
#[derive(Debug, Clone)]
struct Deliverable {
    system_id: Option<String>,
    /// A `deliver_sm` or a `data_sm`.
    pdu: Pdu,
    kind: DeliverKind,
}

#[derive(Debug)]
struct Shared {
    config: SimulatorConfig,
    shutdown: CancellationToken,
    counters: Counters,
    sessions: Mutex<HashMap<u64, SessionEntry>>,
    next_session: AtomicU64,
    next_key: AtomicU64,
    /// Added to the counter to make message ids: derived from the start time so a restarted
    /// simulator does not hand out the ids of the previous run, as a real SMSC would not.
    id_base: u64,
    next_reference: AtomicU32,
    round_robin: AtomicUsize,
    faults: Mutex<Faults>,
    faults_active: AtomicBool,
    received: Mutex<Vec<ReceivedSubmit>>,
    messages: Mutex<(Reassembler<()>, Vec<ReceivedMessage>)>,
    /// Parts of submitted messages waiting for the rest, before the reply rules see them.
    to_answer: Mutex<Reassembler<()>>,
    responses: Mutex<Vec<DeliverResponse>>,
    pending: Mutex<HashMap<(u64, u32), Deliverable>>,
    held: Mutex<VecDeque<Deliverable>>,
    receipts: mpsc::UnboundedSender<(Instant, Deliverable, Option<u64>)>,
    started: Instant,
    /// Nanoseconds after `started` of the first and last submit, plus one (0 = none yet).
    first_submit: AtomicU64,
    last_submit: AtomicU64,
}

impl Shared {
    /// [`Simulator::send_mo`], also used by the reply rules.
    fn send_mo(&self, message: MoMessage) -> Result<usize, SimulatorError> {
        if !self.has_receiver(message.system_id.as_deref()) {
            return Err(SimulatorError::NoReceiver);
        }
        let parts = encode_message(
            &message.body,
            EncodeOptions {
                mode: message.concat,
                data_coding_gsm7: 0x00,
                data_coding_ucs2: 0x08,
                reference: self.next_reference.fetch_add(1, Ordering::Relaxed) as u16,
                units_per_part: message.units_per_part,
            },
        )
        .map_err(|e| SimulatorError::Build(e.to_string()))?;
        let order: Vec<usize> = match &message.order {
            PartOrder::InOrder => (0..parts.len()).collect(),
            PartOrder::Reversed => (0..parts.len()).rev().collect(),
            PartOrder::Custom(order) => order.clone(),
        };
        if let Some(&bad) = order.iter().find(|&&i| i >= parts.len()) {
            return Err(SimulatorError::PartIndex(bad));
        }
        let source = handset_address(&message.from);
        let destination = handset_address(&message.to);
        for &index in &order {
            let pdu = delivery_pdu(
                message.send_as,
                &source,
                &destination,
                0,
                &parts[index],
                None,
            )
            .map_err(|e| SimulatorError::Build(e.to_string()))?;
            let deliverable = Deliverable {
                system_id: message.system_id.clone(),
                pdu,
                kind: DeliverKind::Mo {
                    from: message.from.clone(),
                    to: message.to.clone(),
                    part: index + 1,
                    parts: parts.len(),
                },
            };
            self.dispatch(deliverable, None);
        }
        Ok(order.len())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running simulator. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    tracker: TaskTracker,
}

impl Simulator {
    /// Starts serving on `listener` until `shutdown` is cancelled.
    pub async fn start(
        config: SimulatorConfig,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Simulator {
        let local_addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (receipts, receipt_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            messages: Mutex::new((Reassembler::new(config.reassembly_timeout), Vec::new())),
            to_answer: Mutex::new(Reassembler::new(config.reassembly_timeout)),
            config,
            shutdown,
            counters: Counters::default(),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            next_key: AtomicU64::new(0),
            id_base: id_base(),
            next_reference: AtomicU32::new(1),
            round_robin: AtomicUsize::new(0),
            faults: Mutex::new(Faults::default()),
            faults_active: AtomicBool::new(false),
            received: Mutex::new(Vec::new()),
            responses: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            held: Mutex::new(VecDeque::new()),
            receipts,
            started: Instant::now(),
            first_submit: AtomicU64::new(0),
            last_submit: AtomicU64::new(0),
        });
        let tracker = TaskTracker::new();
        tracker.spawn(accept_loop(Arc::clone(&shared), listener, tracker.clone()));
        tracker.spawn(receipt_loop(Arc::clone(&shared), receipt_rx));
        Simulator {
            shared,
            local_addr,
            tracker,
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sends a message from a handset, as one or more `deliver_sm`; returns the number of
    /// PDUs sent. Fails when no receiving session is bound.
    pub fn send_mo(&self, message: MoMessage) -> Result<usize, SimulatorError> {
        self.shared.send_mo(message)
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        let shared = &self.shared;
        let mut faults = lock(&shared.faults);
        match fault {
            Fault::DisconnectAll => {
                for session in lock(&shared.sessions).values() {
                    session.kill.cancel();
                }
            }
            Fault::RespondWith { status, count } => faults.respond_with.push_back((status, count)),
            Fault::DelayResponses { delay, count } => faults.delay.push_back((delay, count)),
            Fault::DropResponses { count } => faults.drop += count,
            Fault::ReceiptsBeforeResponses { count } => faults.receipt_first += count,
        }
        shared.faults_active.store(true, Ordering::Release);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
        self.shared.faults_active.store(false, Ordering::Release);
    }

    /// Counters.
    pub fn stats(&self) -> SimulatorStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let submits = load(&c.submits);
        let first = self.shared.first_submit.load(Ordering::Relaxed);
        let last = self.shared.last_submit.load(Ordering::Relaxed);
        let submit_rate = if first > 0 && last > first && submits > 1 {
            (submits - 1) as f64 / Duration::from_nanos(last - first).as_secs_f64()
        } else {
            0.0
        };
        let mut sessions: Vec<SessionStats> = lock(&self.shared.sessions)
            .iter()
            .map(|(id, s)| SessionStats {
                id: *id,
                system_id: s.system_id.clone(),
                role: s.role,
                submits: s.counters.submits.load(Ordering::Relaxed),
                delivers: s.counters.delivers.load(Ordering::Relaxed),
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        SimulatorStats {
            bound: sessions.len(),
            binds_accepted: load(&c.binds_accepted),
            binds_rejected: load(&c.binds_rejected),
            submits,
            submits_ok: load(&c.submits_ok),
            submits_failed: load(&c.submits_failed),
            receipts_sent: load(&c.receipts_sent),
            mo_sent: load(&c.mo_sent),
            deliver_ok: load(&c.deliver_ok),
            deliver_failed: load(&c.deliver_failed),
            enquire_links: load(&c.enquire_links),
            unbinds: load(&c.unbinds),
            generic_nacks: load(&c.generic_nacks),
            invalid_pdus: load(&c.invalid_pdus),
            max_outstanding: c.max_outstanding.load(Ordering::Relaxed),
            submit_rate,
            sessions,
        }
    }

    /// Every `submit_sm` accepted so far (with [`SimulatorConfig::record`]).
    pub fn received(&self) -> Vec<ReceivedSubmit> {
        lock(&self.shared.received).clone()
    }

    /// Every submitted message whose parts have all arrived, reassembled.
    pub fn received_messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared.messages).1.clone()
    }

    /// Every answer to a `deliver_sm`, in arrival order (when `record` is on).
    pub fn deliver_responses(&self) -> Vec<DeliverResponse> {
        lock(&self.shared.responses).clone()
    }

    /// Forgets what was received and answered (counters stay).
    pub fn clear_received(&self) {
        lock(&self.shared.received).clear();
        lock(&self.shared.messages).1.clear();
        lock(&self.shared.responses).clear();
    }

    /// Resolves once every task has stopped after shutdown.
    pub async fn stopped(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// TON/NPI for an address given as text: `+digits` international, up to 8 digits a short
/// code, other digits international, anything else alphanumeric.
fn handset_address(value: &str) -> Address {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let (ton, npi) = match (value.starts_with('+'), numeric) {
        (true, true) => (1, 1),
        (false, true) if digits.len() <= 8 => (3, 0),
        (false, true) => (1, 1),
        _ => (5, 0),
    };
    Address {
        ton,
        npi,
        value: if numeric {
            digits.to_owned()
        } else {
            value.to_owned()
        },
    }
}

impl Shared {
    fn submit_seen(&self, now: Instant) {
        let nanos = now.saturating_duration_since(self.started).as_nanos() as u64 + 1;
        let _ = self
            .first_submit
            .compare_exchange(0, nanos, Ordering::Relaxed, Ordering::Relaxed);
        self.last_submit.fetch_max(nanos, Ordering::Relaxed);
    }

    fn has_receiver(&self, system_id: Option<&str>) -> bool {
        lock(&self.sessions)
            .values()
            .any(|s| s.role.receives() && system_id.is_none_or(|id| id == s.system_id))
    }

    fn take_faults(&self) -> SubmitFaults {
        if !self.faults_active.load(Ordering::Acquire) {
            return SubmitFaults::default();
        }
        let mut faults = lock(&self.faults);
        let taken = SubmitFaults {
            status: take_one(&mut faults.respond_with),
            delay: take_one(&mut faults.delay),
            drop: faults.drop > 0,
            receipt_first: faults.receipt_first > 0,
        };
        faults.drop = faults.drop.saturating_sub(1);
        faults.receipt_first = faults.receipt_first.saturating_sub(1);
        if faults.respond_with.is_empty()
            && faults.delay.is_empty()
            && faults.drop == 0
            && faults.receipt_first == 0
        {
            self.faults_active.store(false, Ordering::Release);
        }
        taken
    }

    /// Sends a `deliver_sm` to a receiving session (preferably `preferred`), or holds it
    /// behind those already waiting. Locks are taken in the order held, sessions, pending.
    fn dispatch(&self, deliverable: Deliverable, preferred: Option<u64>) {
        let mut held = lock(&self.held);
        if held.is_empty() {
            if let Some(deliverable) = self.try_send(deliverable, preferred) {
                debug!("no receiver bound with room in its window: holding a deliver_sm");
                held.push_back(deliverable);
            }
            return;
        }
        held.push_back(deliverable);
        drop(held);
        self.send_held();
    }

    /// Sends held deliveries, oldest first, while some session has room. One that no bound
    /// session may take (another `system_id`) stays, without holding back the others.
    ///
    /// It is called on every delivery and every answer, so it costs what it sends, not what
    /// waits: under load thousands wait for a receiver that acknowledges as it stores, and
    /// rebuilding the queue on each call made the simulator quadratic (measured: 17 % of the
    /// server's CPU in memmove, and throughput halved, at 512 clients).
    fn send_held(&self) {
        let mut held = lock(&self.held);
        let mut passed_over = Vec::new();
        while !held.is_empty() && self.any_room() {
            let Some(next) = held.pop_front() else { break };
            if let Some(next) = self.try_send(next, None) {
                passed_over.push(next);
            }
        }
        // Those no session could take go back in front, in their order.
        for deliverable in passed_over.into_iter().rev() {
            held.push_front(deliverable);
        }
    }

    /// Whether a bound receiver has room in its window.
    fn any_room(&self) -> bool {
        let window = self.config.deliver_window.max(1);
        lock(&self.sessions)
            .values()
            .any(|s| s.role.receives() && s.unanswered < window)
    }

    /// Sends to a session that may receive it and has room in its window (preferably
    /// `preferred`); gives the delivery back when there is none (an `Option`, not a `Result`:
    /// nothing went wrong, and a delivery is too large for an error variant).
    fn try_send(&self, deliverable: Deliverable, preferred: Option<u64>) -> Option<Deliverable> {
        let window = self.config.deliver_window.max(1);
        let mut sessions = lock(&self.sessions);
        let accepts = |s: &SessionEntry| {
            s.role.receives()
                && s.unanswered < window
                && deliverable
                    .system_id
                    .as_deref()
                    .is_none_or(|id| id == s.system_id)
        };
        let target = preferred
            .filter(|id| sessions.get(id).is_some_and(accepts))
            .or_else(|| {
                let candidates: Vec<u64> = sessions
                    .iter()
                    .filter(|(_, s)| accepts(s))
                    .map(|(id, _)| *id)
                    .collect();
                if candidates.is_empty() {
                    return None;
                }
                let pick = self.round_robin.fetch_add(1, Ordering::Relaxed) % candidates.len();
                Some(candidates[pick])
            });
        let Some((session_id, session)) =
            target.and_then(|id| sessions.get_mut(&id).map(|s| (id, s)))
        else {
            return Some(deliverable);
        };
        session.unanswered += 1;
        let sequence = session.next_sequence.fetch_add(1, Ordering::Relaxed);
        let command = Command::new(CommandStatus::EsmeRok, sequence, deliverable.pdu.clone());
        match &deliverable.kind {
            DeliverKind::Receipt { .. } => {
                self.counters.receipts_sent.fetch_add(1, Ordering::Relaxed)
            }
            DeliverKind::Mo { .. } => self.counters.mo_sent.fetch_add(1, Ordering::Relaxed),
        };
        session.counters.delivers.fetch_add(1, Ordering::Relaxed);
        lock(&self.pending).insert((session_id, sequence), deliverable);
        let _ = session.writer.send(Out::Pdu(command));
        None
    }

    /// Records the answer (`response_id`, `status`) to a `deliver_sm` or `data_sm`, and
    /// schedules a resend after an error.
    fn delivered(self: &Arc<Self>, session_id: u64, sequence: u32, response_id: u32, status: u32) {
        let Some(deliverable) = lock(&self.pending).remove(&(session_id, sequence)) else {
            return;
        };
        if let Some(session) = lock(&self.sessions).get_mut(&session_id) {
            session.unanswered = session.unanswered.saturating_sub(1);
        }
        let counter = if status == 0 {
            &self.counters.deliver_ok
        } else {
            &self.counters.deliver_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // Kept only when recording: the embedded simulator of `hato serve` answers a receipt
        // for every message it is sent, and would otherwise hold one entry per message forever.
        if self.config.record {
            lock(&self.responses).push(DeliverResponse {
                kind: deliverable.kind.clone(),
                sent_as: match deliverable.pdu {
                    Pdu::DataSm(_) => DeliveryPdu::DataSm,
                    _ => DeliveryPdu::DeliverSm,
                },
                response_id,
                command_status: status,
            });
        }
        if status != 0
            && let Some(after) = self.config.redeliver_after
        {
            let shared = Arc::clone(self);
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(after) => shared.dispatch(deliverable, None),
                    _ = shared.shutdown.cancelled() => {}
                }
            });
        }
        self.send_held();
    }

    /// A session ended: its unanswered `deliver_sm`s wait for the next receiver.
    fn session_closed(&self, session_id: u64) {
        lock(&self.sessions).remove(&session_id);
        let mut pending = lock(&self.pending);
        let orphaned: Vec<(u64, u32)> = pending
            .keys()
            .filter(|(s, _)| *s == session_id)
            .copied()
            .collect();
        let orphaned: Vec<Deliverable> = orphaned
            .into_iter()
            .filter_map(|key| pending.remove(&key))
            .collect();
        drop(pending);
        lock(&self.held).extend(orphaned);
        // Another bound receiver may take them now.
        self.send_held();
    }

    /// The receipt `deliver_sm` for a submitted message.
    fn receipt(
        &self,
        key: u64,
        outcome: SimulatedOutcome,
        original_source: &Address,
        original_destination: &Address,
        text: &str,
        submitted_at: &str,
    ) -> Option<Deliverable> {
        let state = match outcome {
            SimulatedOutcome::Delivered => ReceiptState::Delivered,
            SimulatedOutcome::Undelivered => ReceiptState::Undelivered,
            SimulatedOutcome::Expired => ReceiptState::Expired,
            SimulatedOutcome::Rejected => ReceiptState::Rejected,
        };
        let error = match state {
            ReceiptState::Undelivered => self.config.undelivered_error,
            ReceiptState::Expired => self.config.expired_error,
            _ => 0,
        };
        let id = self
            .config
            .receipt_ids
            .format(message_number(self.id_base, key));
        let excerpt: String = text
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(20)
            .collect();
        let done = dates::now_yymmddhhmm();
        let body = format_receipt_text(
            &id,
            1,
            u32::from(state == ReceiptState::Delivered),
            submitted_at,
            &done,
            state,
            &format!("{error:03}"),
            &excerpt,
        );
        let part = crate::long_message::EncodedPart {
            short_message: body.into_bytes(),
            udhi: false,
            sar: None,
            payload: None,
            data_coding: 0,
        };
        let tlvs = self.config.receipt_tlvs.then(|| ReceiptTlvs {
            message_id: id.clone(),
            message_state: state.message_state(),
            network_error: (error != 0).then_some((3, error)),
        });
        match delivery_pdu(
            self.config.receipts_as,
            original_destination,
            original_source,
            ESM_DELIVERY_RECEIPT,
            &part,
            tlvs.as_ref(),
        ) {
            Ok(pdu) => Some(Deliverable {
                system_id: None,
                pdu,
                kind: DeliverKind::Receipt { message_id: id },
            }),
            Err(error) => {
                warn!(%error, "cannot build a receipt");
                None
            }
        }
    }
}

/// A receipt or MO part as a `deliver_sm` or a `data_sm`.
fn delivery_pdu(
    kind: DeliveryPdu,
    source: &Address,
    destination: &Address,
    esm_class: u8,
    part: &crate::long_message::EncodedPart,
    receipt: Option<&ReceiptTlvs>,
) -> Result<Pdu, pdu::BuildError> {
    Ok(match kind {
        DeliveryPdu::DeliverSm => Pdu::DeliverSm(pdu::deliver_sm(
            source,
            destination,
            esm_class,
            part,
            receipt,
        )?),
        DeliveryPdu::DataSm => {
            Pdu::DataSm(pdu::data_sm(source, destination, esm_class, part, receipt)?)
        }
    })
}

/// The number behind the `key`-th message id: offset so hex and decimal forms differ.
fn message_number(base: u64, key: u64) -> u64 {
    base + key
}

/// Seconds since the epoch (20 bits of them) in the high part: distinct per start, and ids stay
/// under 2^44 (11 hex digits, 14 decimal), well within `message_id`'s 65 characters.
fn id_base() -> u64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    ((seconds & 0xF_FFFF) << 24) + 0x0001_0000
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shared.shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                tracker.spawn(session::serve(Arc::clone(&shared), stream));
            }
            Err(error) => {
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn receipt_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<(Instant, Deliverable, Option<u64>)>,
) {
    loop {
        let next = tokio::select! {
            next = rx.recv() => next,
            _ = shared.shutdown.cancelled() => break,
        };
        let Some((due, deliverable, preferred)) = next else {
            break;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(due) => shared.dispatch(deliverable, preferred),
            _ = shared.shutdown.cancelled() => break,
        }
    }
}

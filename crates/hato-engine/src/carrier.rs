//! The carrier interface the dispatcher drives. The SMPP connector and the simulated carrier
//! implement it; the engine knows nothing of their protocols.

use std::time::Duration;

use futures::future::BoxFuture;
use hato_core::{MessageId, MessageKind, PhoneNumber, Sender};
use tokio::sync::oneshot;

/// One message to submit.
#[derive(Debug, Clone)]
pub struct OutboundSms {
    pub message_id: MessageId,
    pub kind: MessageKind,
    pub to: PhoneNumber,
    pub from: Option<Sender>,
    pub body: String,
    pub request_receipt: bool,
    /// Time left before the message expires, for the carrier's validity period.
    pub validity: Option<Duration>,
}

/// What the carrier said to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Accepted; the carrier's id for each part, in order.
    Accepted { carrier_ids: Vec<String> },
    /// A temporary refusal: try again later (sooner and slower when `throttled`).
    Retry {
        code: String,
        reason: String,
        throttled: bool,
        retry_after: Option<Duration>,
    },
    /// A permanent refusal: the message fails with this code.
    Rejected { code: String, reason: String },
    /// The carrier cannot take messages now (not bound): try another, or wait.
    Unavailable { reason: String },
}

/// A carrier connection.
pub trait Carrier: Send + Sync + 'static {
    /// The connection's configured name, recorded on each message it takes.
    fn name(&self) -> &str;
    /// Whether it can take messages right now.
    fn is_ready(&self) -> bool;
    /// Submits one message (all its parts).
    fn submit(&self, sms: OutboundSms) -> BoxFuture<'static, SubmitOutcome>;
    /// A JSON snapshot of its state for `GET /v1/connectors`.
    fn snapshot(&self) -> serde_json::Value;
}

/// The final state a delivery report gives a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Undelivered,
    Expired,
}

/// A delivery report for one part.
#[derive(Debug)]
pub struct DeliveryReport {
    pub connector: String,
    /// Every form of the carrier id to look for (hex/decimal, case, leading zeros).
    pub carrier_ids: Vec<String>,
    pub outcome: DeliveryOutcome,
    pub error_code: Option<String>,
    /// Answered `true` once the report is stored; the carrier acknowledges only then.
    pub ack: Option<oneshot::Sender<bool>>,
}

/// A mobile-originated message, reassembled if it came in parts.
#[derive(Debug)]
pub struct InboundReport {
    pub connector: String,
    /// The handset's address, as the carrier gave it (normalised when stored).
    pub from: String,
    /// Our number or short code it was sent to, as the carrier gave it.
    pub to: String,
    pub body: String,
    /// How many PDUs it came in.
    pub parts: usize,
    /// Answered `true` once the message is stored; the carrier acknowledges only then.
    pub ack: Option<oneshot::Sender<bool>>,
}

/// What carriers tell the engine.
#[derive(Debug)]
pub enum CarrierEvent {
    Report(DeliveryReport),
    Inbound(InboundReport),
}

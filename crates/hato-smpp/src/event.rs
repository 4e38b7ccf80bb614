//! What goes into a connector (messages to submit) and what comes out (outcomes, events,
//! snapshots).

use hato_core::{PhoneNumber, Sender};
use tokio::sync::oneshot;

use crate::receipt::DeliveryReceipt;

/// A message to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Who it is from; picks the source TON/NPI.
    pub source: Sender,
    /// Who it is for.
    pub destination: PhoneNumber,
    /// The text; split and encoded by the connector.
    pub body: String,
    /// Whether to ask for a delivery receipt (also needs
    /// [`ConnectorConfig::registered_delivery`](crate::ConnectorConfig::registered_delivery)).
    pub request_receipt: bool,
    /// How long the SMSC may keep trying (sent as a relative `validity_period`, capped at
    /// 99 days); `None` leaves it to the SMSC's default.
    pub validity: Option<std::time::Duration>,
}

/// What became of a [`Connector::submit`](crate::Connector::submit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The SMSC accepted every part.
    Accepted {
        /// One id per part, as the SMSC returned them (receipts come per part).
        message_ids: Vec<String>,
    },
    /// A transient failure: submit again later (possibly elsewhere). Some parts may have been
    /// accepted already (`accepted_ids`), so a retry can duplicate them on the handset.
    Retry {
        /// The SMSC's status, or `None` when no response came (timeout, connection lost).
        command_status: Option<u32>,
        /// What happened, for people.
        reason: String,
        /// `ESME_RTHROTTLED` / `ESME_RMSGQFUL`: the connector has slowed down; prefer a delay.
        throttled: bool,
        /// Ids of the parts the SMSC did accept.
        accepted_ids: Vec<String>,
        /// When throttled: the pause the connector itself observes before sending again.
        retry_after: Option<std::time::Duration>,
    },
    /// A permanent failure: the SMSC (or the connector, before sending) refused the message.
    Rejected {
        /// The SMSC's status (for local refusals: `ESME_RINVMSGLEN`, `ESME_RINVSRCADR`...).
        command_status: u32,
        /// What happened, for people.
        reason: String,
    },
    /// No bind is up (or the connector is shutting down); nothing was sent. Fail over.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A mobile-originated message, reassembled if it came in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The connector it came through.
    pub connector: String,
    /// The handset's number (`+` and digits when the SMSC marked it international).
    pub from: String,
    /// The number or short code it was sent to, as received (with `+` when international).
    pub to: String,
    /// Decoded text.
    pub body: String,
    /// How many PDUs it came in.
    pub parts: usize,
}

/// Something the engine must know. Receipts and inbound messages carry an `ack`: send `true`
/// once the event is stored durably; the SMSC gets `deliver_sm_resp` (or `data_sm_resp`, when
/// it sent a `data_sm`) with `ESME_ROK` only then. `false`, or dropping the sender, answers `ESME_RX_T_APPN` so the SMSC retries.
#[derive(Debug)]
pub enum ConnectorEvent {
    /// A delivery receipt.
    Receipt {
        /// The receipt.
        receipt: DeliveryReceipt,
        /// Send `true` when stored.
        ack: oneshot::Sender<bool>,
    },
    /// A mobile-originated message. For a multipart message, every part is answered after
    /// this one ack (the parts stay unanswered in the meantime).
    Inbound {
        /// The message.
        message: InboundSms,
        /// Send `true` when stored.
        ack: oneshot::Sender<bool>,
    },
    /// The number of bound sessions changed.
    BindChanged {
        /// The connector.
        connector: String,
        /// Sessions bound now.
        bound: usize,
        /// Sessions configured.
        total: usize,
    },
}

/// A point-in-time view of a connector, for dashboards and routing decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorSnapshot {
    /// The connector's name.
    pub name: String,
    /// Sessions bound.
    pub binds_up: usize,
    /// Sessions configured.
    pub binds_total: usize,
    /// Sessions able to submit that are bound.
    pub transmitters_up: usize,
    /// `submit_sm` awaiting a response, all binds together.
    pub window_in_use: usize,
    /// `submit_sm` PDUs written.
    pub submitted: u64,
    /// `submit_sm_resp` with `ESME_ROK`.
    pub accepted: u64,
    /// `submit_sm` answered with an error, timed out or lost with their connection.
    pub failed: u64,
    /// `ESME_RTHROTTLED` / `ESME_RMSGQFUL` responses.
    pub throttled: u64,
    /// Receipts handed to the engine.
    pub receipts: u64,
    /// Inbound messages handed to the engine.
    pub inbound: u64,
    /// The last error seen (bind failure, error status, timeout).
    pub last_error: Option<String>,
    /// `submit_sm` per second over the last second or so.
    pub current_rate: f64,
    /// The rate the connector currently allows itself (below the configured cap after
    /// throttling), `None` when unlimited.
    pub rate_limit: Option<f64>,
}

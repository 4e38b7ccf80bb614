//! SMPP 3.4 for Hato: the carrier connector (Hato as an ESME) and an SMSC simulator.
//!
//! This crate knows nothing of storage or HTTP. The engine drives it through three things:
//!
//! - [`Connector::submit`] sends an [`OutboundSms`] and returns a [`SubmitOutcome`]
//!   (accepted with the SMSC's message ids, retry, rejected, or unavailable).
//! - A channel of [`ConnectorEvent`]s brings delivery receipts and inbound messages, each
//!   with an ack the engine must answer after storing it: only then does the SMSC get its
//!   `deliver_sm_resp` (or `data_sm_resp`: SMSCs may send both as `data_sm` too) with
//!   `ESME_ROK`.
//! - [`Connector::snapshot`] reports binds, window, counters and rates.
//!
//! PDUs are rusmpp's typed PDUs, framed by our own [`codec`] so an undecodable PDU is
//! answered instead of ending the session. The session engine (window, throughput, keepalive,
//! reconnect, throttling) is ours: see [`connector`] and `session.rs`.
//!
//! [`simulator`] is an SMSC speaking real SMPP over TCP, for development, tests and
//! benchmarks.
//!
//! Receipt ids come back in whatever form the SMSC likes (hex or decimal, any case, leading
//! zeros): store [`canonical_message_id`] of submitted ids and look receipts up with
//! [`message_id_candidates`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
mod backoff;
pub mod codec;
pub mod config;
pub mod connector;
pub mod event;
pub mod inbound;
pub mod long_message;
pub mod message_id;
mod pacer;
pub mod pdu;
pub mod reassembly;
pub mod receipt;
mod session;
pub mod simulator;
pub mod status;
mod wire;

pub use config::{BindMode, ConfigError, ConnectorConfig, LongMessageMode, TonNpi};
pub use connector::Connector;
pub use event::{ConnectorEvent, ConnectorSnapshot, InboundSms, OutboundSms, SubmitOutcome};
pub use message_id::{canonical_message_id, message_id_candidates};
pub use receipt::{DeliveryReceipt, ReceiptState};
pub use status::{StatusClass, classify_status};

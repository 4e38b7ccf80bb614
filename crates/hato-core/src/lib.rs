//! Hato's domain model, free of I/O.
//!
//! Everything here is pure and synchronous so it can be unit-tested, property-tested and fuzzed
//! without a runtime: typed ids, E.164 phone numbers, sender ids, GSM 03.38 / UCS-2 encoding and
//! segmentation, the message status machine and the message kinds that pick a queue lane.

pub mod ids;
pub mod kind;
pub mod message;
pub mod phone;
pub mod sender;
pub mod simulation;
pub mod status;
pub mod text;

pub use ids::{AccountId, ApiKeyId, MessageId, WebhookDeliveryId};
pub use kind::MessageKind;
pub use message::{Direction, Message, MessageError, MessageEvent, StatusTimestamps};
pub use phone::{PhoneError, PhoneNumber};
pub use sender::{Sender, SenderError};
pub use status::MessageStatus;

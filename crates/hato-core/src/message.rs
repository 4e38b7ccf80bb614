//! The message entity and its public JSON shape.
//!
//! One type serves the API response, the webhook payload and the store's reads, so the three
//! can never disagree about what a message looks like.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{MessageId, MessageKind, MessageStatus, text::Encoding};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Direction {
    /// Sent by Hato to a handset.
    Outbound,
    /// Received by Hato from a handset.
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Outbound, Self::Inbound]
            .into_iter()
            .find(|d| d.as_str() == value)
    }
}

/// Why a message failed, as the carrier or Hato said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageError {
    /// The carrier's error code (an SMPP command status or receipt `err:` value), or Hato's.
    pub code: String,
    pub message: String,
}

/// When the message reached each status; absent for statuses it never had.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusTimestamps {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub scheduled: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub queued: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub sending: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub sent: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub delivered: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub undelivered: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expired: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub failed: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub cancelled: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub received: Option<Timestamp>,
}

impl StatusTimestamps {
    pub fn slot(&mut self, status: MessageStatus) -> &mut Option<Timestamp> {
        match status {
            MessageStatus::Scheduled => &mut self.scheduled,
            MessageStatus::Queued => &mut self.queued,
            MessageStatus::Sending => &mut self.sending,
            MessageStatus::Sent => &mut self.sent,
            MessageStatus::Delivered => &mut self.delivered,
            MessageStatus::Undelivered => &mut self.undelivered,
            MessageStatus::Expired => &mut self.expired,
            MessageStatus::Failed => &mut self.failed,
            MessageStatus::Cancelled => &mut self.cancelled,
            MessageStatus::Received => &mut self.received,
        }
    }
}

/// A message as the API shows it and webhooks carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b"))]
    pub id: MessageId,
    pub direction: Direction,
    pub kind: MessageKind,
    pub status: MessageStatus,
    /// The recipient (outbound) or our number that received it (inbound), E.164.
    #[cfg_attr(feature = "openapi", schema(example = "+819012345678"))]
    pub to: String,
    /// The sender id (outbound) or the handset's number (inbound).
    pub from: Option<String>,
    pub body: String,
    pub encoding: Encoding,
    pub segments: u32,
    /// The caller's own reference, echoed back and filterable.
    pub reference: Option<String>,
    /// The caller's own JSON object, echoed back.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    pub status_callback: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub send_at: Option<Timestamp>,
    /// When an unsent message expires (from `validity`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    /// The carrier connection that took it.
    pub connector: Option<String>,
    pub error: Option<MessageError>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    pub timestamps: StatusTimestamps,
}

/// The JSON body of a message webhook, in the Standard Webhooks shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageEvent {
    /// `message.sent`, `message.delivered`, `message.received`, …
    #[serde(rename = "type")]
    pub event_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub timestamp: Timestamp,
    pub data: Message,
}

//! The message status machine.
//!
//! Status only moves forward: carriers and networks reorder events, so a late `sent` must never
//! overwrite `delivered`. The one backward step, `sending` → `queued`, belongs to the dispatcher
//! retrying after a temporary failure and is a separate, explicit transition.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MessageStatus {
    /// Accepted with a future `send_at`.
    Scheduled,
    /// Waiting in its lane for the dispatcher.
    Queued,
    /// Claimed by the dispatcher and being submitted to a carrier.
    Sending,
    /// The carrier accepted it.
    Sent,
    /// The handset received it (delivery receipt).
    Delivered,
    /// The carrier gave up on it (delivery receipt).
    Undelivered,
    /// Its validity ran out, before sending or at the carrier.
    Expired,
    /// Rejected for good, by Hato or the carrier.
    Failed,
    /// Cancelled by the caller before it was sent.
    Cancelled,
    /// An inbound message, stored.
    Received,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 10] = [
        Self::Scheduled,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Expired,
        Self::Failed,
        Self::Cancelled,
        Self::Received,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Received => "received",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// Position in the lifecycle; every final status shares the top rank.
    pub fn rank(self) -> u8 {
        match self {
            Self::Scheduled => 0,
            Self::Queued => 1,
            Self::Sending => 2,
            Self::Sent => 3,
            Self::Delivered
            | Self::Undelivered
            | Self::Expired
            | Self::Failed
            | Self::Cancelled
            | Self::Received => 4,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() == 4
    }

    /// Whether a reported status may replace the current one (forward moves only).
    pub fn may_advance_to(self, next: MessageStatus) -> bool {
        !self.is_final() && next.rank() > self.rank()
    }

    /// Whether the caller may still cancel: only before the dispatcher has claimed it.
    pub fn is_cancellable(self) -> bool {
        matches!(self, Self::Scheduled | Self::Queued)
    }

    /// The webhook event type announcing this status, if it is one callers are told about.
    /// `queued` and `sending` are internal steps the caller already knows from the `202`.
    pub fn event_type(self) -> Option<&'static str> {
        match self {
            Self::Scheduled | Self::Queued | Self::Sending => None,
            Self::Sent => Some("message.sent"),
            Self::Delivered => Some("message.delivered"),
            Self::Undelivered => Some("message.undelivered"),
            Self::Expired => Some("message.expired"),
            Self::Failed => Some("message.failed"),
            Self::Cancelled => Some("message.cancelled"),
            Self::Received => Some("message.received"),
        }
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;
    use super::*;

    #[test]
    fn late_sent_never_overwrites_delivered() {
        assert!(!Delivered.may_advance_to(Sent));
        assert!(Sent.may_advance_to(Delivered));
        assert!(Sending.may_advance_to(Delivered));
    }

    #[test]
    fn final_statuses_are_final() {
        for from in MessageStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for to in MessageStatus::ALL {
                assert!(!from.may_advance_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
        }
    }

    #[test]
    fn only_unclaimed_messages_cancel() {
        assert!(Scheduled.is_cancellable());
        assert!(Queued.is_cancellable());
        assert!(!Sending.is_cancellable());
        assert!(!Sent.is_cancellable());
    }
}

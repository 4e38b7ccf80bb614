//! Message kinds. The kind picks the queue lane, so bulk marketing never delays an OTP.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MessageKind {
    /// One-time passwords: the most urgent lane.
    Otp,
    /// Triggered by a customer's action; allowed without marketing consent.
    #[default]
    Transactional,
    /// Marketing: the lowest lane, needs consent.
    Promotional,
}

impl MessageKind {
    pub const ALL: [MessageKind; 3] = [Self::Otp, Self::Transactional, Self::Promotional];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::Transactional => "transactional",
            Self::Promotional => "promotional",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// Queue lane: lower is claimed first.
    pub fn lane(self) -> i64 {
        match self {
            Self::Otp => 0,
            Self::Transactional => 1,
            Self::Promotional => 2,
        }
    }
}

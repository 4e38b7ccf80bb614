//! Typed, prefixed identifiers (`msg_…`, `acc_…`).
//!
//! The random part is a UUIDv7 in lowercase hex, so ids sort by creation time: cursor
//! pagination orders by id and needs no separate time column.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not an id of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an id starting with `{prefix}_` followed by 32 hexadecimal characters")]
pub struct InvalidId {
    pub prefix: &'static str,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id, ordered after every id made earlier by this process.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Parses an id received from outside, checking its prefix and shape.
            pub fn parse(input: &str) -> Result<Self, InvalidId> {
                let valid = input
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|hex| {
                        hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    });
                if valid {
                    Ok(Self(input.to_owned()))
                } else {
                    Err(InvalidId { prefix: $prefix })
                }
            }

            /// Wraps a value read back from our own storage, which only ever holds valid ids.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A message, outbound or inbound.
    MessageId,
    "msg"
);
typed_id!(
    /// A tenant: every resource belongs to exactly one account.
    AccountId,
    "acc"
);
typed_id!(
    /// An API key (the id, never the secret).
    ApiKeyId,
    "key"
);
typed_id!(
    /// One webhook event to deliver; stable across retries (the `webhook-id` header).
    WebhookDeliveryId,
    "whk"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_sort_by_time() {
        let a = MessageId::generate();
        let b = MessageId::generate();
        assert!(a < b);
        assert_eq!(MessageId::parse(a.as_str()).unwrap(), a);
        assert!(a.as_str().starts_with("msg_"));
    }

    #[test]
    fn rejects_wrong_prefix_and_shape() {
        let a = AccountId::generate();
        assert!(MessageId::parse(a.as_str()).is_err());
        assert!(MessageId::parse("msg_xyz").is_err());
        assert!(MessageId::parse("msg_0123456789ABCDEF0123456789abcdef").is_err());
        assert!(MessageId::parse("").is_err());
    }
}

//! Connector configuration: where the SMSC is, how to bind, and how to shape the traffic.

use std::time::Duration;

/// How each bind of a connector talks to the SMSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// One `bind_transceiver` session per bind: submits, receipts and MO on one socket.
    #[default]
    Transceiver,
    /// A `bind_transmitter` session (submits) plus a `bind_receiver` session (receipts, MO)
    /// per bind, for SMSCs that do not support transceivers.
    TransmitterReceiver,
}

/// How a message longer than one segment is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongMessageMode {
    /// A user data header in each part with the 8-bit reference information element (0x00):
    /// 153 GSM-7 / 67 UCS-2 characters per part. The most widely supported.
    #[default]
    Udh8,
    /// A user data header with the 16-bit reference information element (0x08):
    /// 152 GSM-7 / 66 UCS-2 characters per part.
    Udh16,
    /// The `sar_msg_ref_num`, `sar_total_segments` and `sar_segment_seqnum` TLVs; the SMSC
    /// builds the headers. 153 / 67 characters per part.
    Sar,
    /// The whole text in one `submit_sm` in the `message_payload` TLV; the SMSC splits it.
    Payload,
}

/// A type of number and numbering plan indicator pair, as SMPP addresses carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TonNpi {
    /// Type of number (0 unknown, 1 international, 3 network specific, 5 alphanumeric...).
    pub ton: u8,
    /// Numbering plan indicator (0 unknown, 1 ISDN/E.164...).
    pub npi: u8,
}

impl TonNpi {
    /// A pair from its two codes.
    pub const fn new(ton: u8, npi: u8) -> Self {
        Self { ton, npi }
    }
}

/// Everything a [`Connector`](crate::Connector) needs. Build one with [`ConnectorConfig::new`]
/// and adjust the public fields; [`ConnectorConfig::validate`] explains what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorConfig {
    /// The connector's name, carried in events and logs.
    pub name: String,
    /// SMSC host name or address.
    pub host: String,
    /// SMSC port (2775 by convention).
    pub port: u16,
    /// `system_id` for the bind, at most 15 characters.
    pub system_id: String,
    /// `password` for the bind, at most 8 characters.
    pub password: String,
    /// `system_type` for the bind, at most 12 characters (often empty).
    pub system_type: String,
    /// `address_range` for receiver binds, at most 40 characters (often empty).
    pub address_range: String,
    /// `service_type` of each `submit_sm`, at most 5 characters (usually empty).
    pub service_type: String,
    /// Transceiver, or transmitter + receiver pairs.
    pub bind_mode: BindMode,
    /// How many binds share the work (each bind is one session, or a pair of sessions in
    /// [`BindMode::TransmitterReceiver`]).
    pub binds: usize,
    /// In-flight `submit_sm` per bind awaiting their `submit_sm_resp`.
    pub window: usize,
    /// Cap on `submit_sm` per second for the whole connector (all binds); `None` for no cap.
    pub throughput: Option<u32>,
    /// How often an `enquire_link` checks an idle-or-not session.
    pub enquire_link_interval: Duration,
    /// How long to wait for any response (bind, submit, enquire_link, unbind).
    pub response_timeout: Duration,
    /// First reconnect step after a bind fails or a session drops; the step doubles after
    /// each failed attempt up to `reconnect_max`, and every wait is drawn at random between
    /// half the step and the step (so many sessions do not reconnect in the same instant).
    pub reconnect_min: Duration,
    /// Longest reconnect step (waits are at most this long).
    pub reconnect_max: Duration,
    /// How long all submits pause after `ESME_RTHROTTLED` or `ESME_RMSGQFUL` (the rate is also
    /// halved and recovers gradually).
    pub throttle_pause: Duration,
    /// Concatenation scheme for long messages.
    pub long_messages: LongMessageMode,
    /// `data_coding` sent with GSM-7 text (sent unpacked, one septet per octet).
    pub data_coding_gsm7: u8,
    /// `data_coding` sent with UCS-2 (UTF-16BE) text.
    pub data_coding_ucs2: u8,
    /// Forces the source TON/NPI instead of choosing it from the sender.
    pub source_ton_npi: Option<TonNpi>,
    /// Forces the destination TON/NPI instead of international/ISDN (1/1).
    pub destination_ton_npi: Option<TonNpi>,
    /// Whether to ask for delivery receipts at all (a message can also opt out).
    pub registered_delivery: bool,
    /// How long the parts of an inbound multipart message wait for the missing ones.
    pub reassembly_timeout: Duration,
}

impl ConnectorConfig {
    /// A transceiver connector with one bind and the defaults: window 100, no throughput cap,
    /// enquire_link every 30 s, 10 s response timeout, reconnect steps 1 s doubling to 60 s
    /// (each wait random in the upper half of its step), UDH 8-bit concatenation,
    /// data_coding 0x00 / 0x08, receipts requested, 60 s reassembly.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        system_id: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            host: host.into(),
            port,
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            address_range: String::new(),
            service_type: String::new(),
            bind_mode: BindMode::Transceiver,
            binds: 1,
            window: 100,
            throughput: None,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            throttle_pause: Duration::from_secs(1),
            long_messages: LongMessageMode::Udh8,
            data_coding_gsm7: 0x00,
            data_coding_ucs2: 0x08,
            source_ton_npi: None,
            destination_ton_npi: None,
            registered_delivery: true,
            reassembly_timeout: Duration::from_secs(60),
        }
    }

    /// Checks lengths and ranges against what SMPP 3.4 can carry.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let text_fields = [
            ("system_id", &self.system_id, 15),
            ("password", &self.password, 8),
            ("system_type", &self.system_type, 12),
            ("address_range", &self.address_range, 40),
            ("service_type", &self.service_type, 5),
        ];
        for (field, value, max) in text_fields {
            if value.len() > max {
                return Err(ConfigError::TooLong { field, max });
            }
            if !value.is_ascii() || value.contains('\0') {
                return Err(ConfigError::NotAscii { field });
            }
        }
        if self.host.is_empty() {
            return Err(ConfigError::Invalid {
                field: "host",
                reason: "must not be empty",
            });
        }
        let positive = [
            ("binds", self.binds),
            ("window", self.window),
            ("throughput", self.throughput.map_or(1, |t| t as usize)),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be at least 1",
                });
            }
        }
        let durations = [
            ("enquire_link_interval", self.enquire_link_interval),
            ("response_timeout", self.response_timeout),
            ("reconnect_min", self.reconnect_min),
            ("reassembly_timeout", self.reassembly_timeout),
        ];
        for (field, value) in durations {
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be longer than zero",
                });
            }
        }
        if self.reconnect_max < self.reconnect_min {
            return Err(ConfigError::Invalid {
                field: "reconnect_max",
                reason: "must not be shorter than reconnect_min",
            });
        }
        Ok(())
    }

    /// Number of TCP sessions the connector keeps open.
    pub fn sessions(&self) -> usize {
        match self.bind_mode {
            BindMode::Transceiver => self.binds,
            BindMode::TransmitterReceiver => self.binds * 2,
        }
    }
}

/// A configuration SMPP cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A text field is longer than its SMPP field.
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its maximum length.
        max: usize,
    },
    /// A text field holds non-ASCII characters or NUL.
    #[error("{field} must be printable ASCII")]
    NotAscii {
        /// The field.
        field: &'static str,
    },
    /// A value out of range.
    #[error("{field} {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ConnectorConfig {
        ConnectorConfig::new("c", "127.0.0.1", 2775, "hato", "secret")
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
        assert_eq!(config().sessions(), 1);
    }

    #[test]
    fn rejects_what_smpp_cannot_carry() {
        let mut c = config();
        c.password = "123456789".into();
        assert_eq!(
            c.validate(),
            Err(ConfigError::TooLong {
                field: "password",
                max: 8
            })
        );
        let mut c = config();
        c.window = 0;
        assert!(c.validate().is_err());
        let mut c = config();
        c.reconnect_max = Duration::from_millis(1);
        assert!(c.validate().is_err());
        let mut c = config();
        c.system_id = "ハト".into();
        assert_eq!(
            c.validate(),
            Err(ConfigError::NotAscii { field: "system_id" })
        );
    }

    #[test]
    fn pairs_double_the_sessions() {
        let mut c = config();
        c.binds = 3;
        c.bind_mode = BindMode::TransmitterReceiver;
        assert_eq!(c.sessions(), 6);
    }
}

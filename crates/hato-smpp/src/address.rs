//! SMPP addresses: the TON/NPI each kind of sender and recipient goes out with.
//!
//! | sender | TON | NPI | address |
//! |---|---|---|---|
//! | alphanumeric (`Hato`) | 5 alphanumeric | 0 unknown | as is |
//! | short code (`12345`) | 3 network specific | 0 unknown | as is |
//! | number (`+8190…`) | 1 international | 1 ISDN | digits without `+` |
//!
//! Recipients are E.164 numbers: TON 1 / NPI 1, digits without `+`. A connector can force
//! either pair ([`ConnectorConfig::source_ton_npi`](crate::ConnectorConfig::source_ton_npi)).

use hato_core::{PhoneNumber, Sender};

use crate::config::TonNpi;

/// TON alphanumeric.
pub const TON_ALPHANUMERIC: u8 = 5;
/// TON network specific (short codes).
pub const TON_NETWORK_SPECIFIC: u8 = 3;
/// TON international.
pub const TON_INTERNATIONAL: u8 = 1;
/// NPI ISDN (E.164).
pub const NPI_ISDN: u8 = 1;
/// NPI unknown.
pub const NPI_UNKNOWN: u8 = 0;

/// An address as a `submit_sm` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Type of number.
    pub ton: u8,
    /// Numbering plan indicator.
    pub npi: u8,
    /// The address text (at most 20 characters on the wire).
    pub value: String,
}

/// The source address for `sender`; `forced` overrides the TON/NPI choice.
pub fn source_address(sender: &Sender, forced: Option<TonNpi>) -> Address {
    let (ton, npi, value) = match sender {
        Sender::Alphanumeric(id) => (TON_ALPHANUMERIC, NPI_UNKNOWN, id.clone()),
        Sender::ShortCode(code) => (TON_NETWORK_SPECIFIC, NPI_UNKNOWN, code.clone()),
        Sender::Number(number) => (TON_INTERNATIONAL, NPI_ISDN, number.digits().to_owned()),
    };
    let (ton, npi) = forced.map_or((ton, npi), |f| (f.ton, f.npi));
    Address { ton, npi, value }
}

/// The destination address for `number`; `forced` overrides TON 1 / NPI 1.
pub fn destination_address(number: &PhoneNumber, forced: Option<TonNpi>) -> Address {
    let forced = forced.unwrap_or(TonNpi::new(TON_INTERNATIONAL, NPI_ISDN));
    Address {
        ton: forced.ton,
        npi: forced.npi,
        value: number.digits().to_owned(),
    }
}

/// An inbound address as Hato stores it: international numbers (TON 1) get their `+` back,
/// everything else is kept as received.
pub fn inbound_address(ton: u8, value: &str) -> String {
    if ton == TON_INTERNATIONAL && !value.is_empty() && !value.starts_with('+') {
        format!("+{value}")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ton_npi_follows_the_sender() {
        let alpha = source_address(&Sender::Alphanumeric("Hato".into()), None);
        assert_eq!((alpha.ton, alpha.npi, alpha.value.as_str()), (5, 0, "Hato"));
        let short = source_address(&Sender::ShortCode("12345".into()), None);
        assert_eq!(
            (short.ton, short.npi, short.value.as_str()),
            (3, 0, "12345")
        );
        let number = Sender::Number(PhoneNumber::from_trusted("+819012345678".into()));
        let number = source_address(&number, None);
        assert_eq!(
            (number.ton, number.npi, number.value.as_str()),
            (1, 1, "819012345678")
        );
    }

    #[test]
    fn connector_overrides_win() {
        let alpha = source_address(
            &Sender::Alphanumeric("Hato".into()),
            Some(TonNpi::new(0, 1)),
        );
        assert_eq!((alpha.ton, alpha.npi), (0, 1));
        let to = PhoneNumber::from_trusted("+819012345678".into());
        assert_eq!(destination_address(&to, None).value, "819012345678");
        let forced = destination_address(&to, Some(TonNpi::new(2, 8)));
        assert_eq!((forced.ton, forced.npi), (2, 8));
    }

    #[test]
    fn inbound_international_numbers_get_a_plus() {
        assert_eq!(inbound_address(1, "819012345678"), "+819012345678");
        assert_eq!(inbound_address(1, "+819012345678"), "+819012345678");
        assert_eq!(inbound_address(0, "09012345678"), "09012345678");
        assert_eq!(inbound_address(5, "Hato"), "Hato");
    }
}

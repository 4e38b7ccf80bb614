//! SMS text: which encoding a body needs, what it costs in segments, and the bytes on the wire.
//!
//! - [`analyze`] picks GSM-7 when every character is in the GSM 03.38 default alphabet or its
//!   extension table, else UCS-2, and counts units and segments exactly as a carrier bills
//!   them: 160/153 septets or 70/67 UTF-16 code units per segment, with escape pairs and
//!   surrogate pairs never split across segments.
//! - [`split`] and [`split_with_capacity`] cut a body into the parts that are sent.
//! - The codecs turn text into what SMPP `data_coding` 0x00 (unpacked GSM-7), 0x08 (UTF-16BE)
//!   and 0x03 (Latin-1) carry, and back; decoders never panic on bytes from outside.

mod analysis;
mod gsm7;
mod latin1;
mod replacements;
mod segment;
mod ucs2;

use serde::{Deserialize, Serialize};

pub use analysis::{ForcingCharacter, TextAnalysis, analyze};
pub use replacements::{apply_replacements, replacement};
pub use segment::{split, split_with_capacity};

/// Most segments a message may have unless configured otherwise: carriers commonly reject or
/// truncate longer concatenations, and a runaway template should not cost fifty segments.
pub const DEFAULT_MAX_SEGMENTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }

    /// Units in a message sent as one segment (140 bytes of user data).
    pub fn single_segment_units(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    /// Units left per part beside the 6-byte concatenation UDH (134 bytes).
    pub fn multi_segment_units(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }

    /// The SMPP `data_coding` value: 0x00 (SMSC default alphabet, GSM-7) or 0x08 (UCS-2).
    pub fn data_coding(self) -> u8 {
        match self {
            Self::Gsm7 => 0x00,
            Self::Ucs2 => 0x08,
        }
    }

    /// Encodes `text` as SMPP carries it in this encoding (unpacked GSM-7 or UTF-16BE);
    /// `None` when `text` is not GSM-7 and GSM-7 was asked for.
    pub fn encode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Self::Gsm7 => gsm7_encode_unpacked(text),
            Self::Ucs2 => Some(ucs2_encode(text)),
        }
    }
}

/// The encoding a body needs: GSM-7 when every character is in it.
pub(crate) fn encoding_for(body: &str) -> Encoding {
    if is_gsm7(body) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Whether every character of `body` is in the GSM-7 default alphabet or extension table.
pub fn is_gsm7(body: &str) -> bool {
    gsm7::is_gsm7(body)
}

/// GSM 03.38 default alphabet + extension table, one septet per byte (unpacked, as SMPP
/// data_coding 0x00 carries it); an extension char is 0x1B followed by its code. `None` if any
/// char is not GSM-7.
pub fn gsm7_encode_unpacked(text: &str) -> Option<Vec<u8>> {
    gsm7::encode_unpacked(text)
}

/// Inverse of [`gsm7_encode_unpacked`]; bytes above 0x7F and a trailing lone escape decode to
/// U+FFFD, an unknown escape to the default-table character (TS 23.038); never panics.
pub fn gsm7_decode_unpacked(bytes: &[u8]) -> String {
    gsm7::decode_unpacked(bytes)
}

/// Packs septets into 7-bit GSM 03.38 packing (eight septets in seven bytes).
pub fn gsm7_pack(septets: &[u8]) -> Vec<u8> {
    gsm7::pack(septets)
}

/// Unpacks `septets` septets from packed bytes (fewer if `bytes` is too short).
pub fn gsm7_unpack(bytes: &[u8], septets: usize) -> Vec<u8> {
    gsm7::unpack(bytes, septets)
}

/// UTF-16BE (what SMPP data_coding 0x08 carries in practice, surrogate pairs included).
pub fn ucs2_encode(text: &str) -> Vec<u8> {
    ucs2::encode(text)
}

/// Inverse of [`ucs2_encode`]; lossy on unpaired surrogates and odd length, never panics.
pub fn ucs2_decode(bytes: &[u8]) -> String {
    ucs2::decode(bytes)
}

/// ISO-8859-1 decode (data_coding 0x03), for inbound messages.
pub fn latin1_decode(bytes: &[u8]) -> String {
    latin1::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_facts() {
        assert_eq!(Encoding::Gsm7.as_str(), "gsm7");
        assert_eq!(Encoding::Ucs2.as_str(), "ucs2");
        assert_eq!(serde_json::to_string(&Encoding::Ucs2).unwrap(), "\"ucs2\"");
        assert_eq!(
            serde_json::from_str::<Encoding>("\"gsm7\"").unwrap(),
            Encoding::Gsm7
        );
        assert_eq!(Encoding::Gsm7.encode("A€"), Some(vec![0x41, 0x1B, 0x65]));
        assert_eq!(Encoding::Gsm7.encode("あ"), None);
        assert_eq!(Encoding::Ucs2.encode("A"), Some(vec![0x00, 0x41]));
    }
}

//! Long messages: splitting a body into `short_message` parts and reading part headers back.
//!
//! Outbound text goes as GSM-7 (unpacked, one septet per octet) when every character is in
//! GSM 03.38, otherwise as UCS-2 (UTF-16BE). A body that fits in one segment (160 / 70 units)
//! is sent alone; a longer one is split on character boundaries (never inside an escape or
//! surrogate pair) by `hato_core::text`, in the connector's [`LongMessageMode`].

use hato_core::text::{self, Encoding};

use crate::config::LongMessageMode;

/// The concatenation facts of one part: which message it belongs to and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    /// The reference shared by all parts of the message.
    pub reference: u16,
    /// Number of parts.
    pub total: u8,
    /// This part's position, from 1.
    pub seq: u8,
    /// How the facts were carried.
    pub scheme: ConcatScheme,
}

/// Where the concatenation facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcatScheme {
    /// UDH information element 0x00 (8-bit reference).
    Udh8,
    /// UDH information element 0x08 (16-bit reference).
    Udh16,
    /// `sar_*` TLVs.
    Sar,
}

/// One `submit_sm` (or `deliver_sm`) worth of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPart {
    /// The `short_message` bytes, UDH included when `udhi` is set.
    pub short_message: Vec<u8>,
    /// Whether `short_message` starts with a user data header (esm_class bit 0x40).
    pub udhi: bool,
    /// SAR TLVs to attach, if any.
    pub sar: Option<Concat>,
    /// Bytes for the `message_payload` TLV (then `short_message` is empty).
    pub payload: Option<Vec<u8>>,
    /// The `data_coding` to send.
    pub data_coding: u8,
}

/// Why a body cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// More than 255 parts.
    #[error("the message needs {parts} parts; at most 255 can be concatenated")]
    TooManyParts {
        /// Parts it would need.
        parts: usize,
    },
}

/// Options for [`encode_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Concatenation scheme.
    pub mode: LongMessageMode,
    /// `data_coding` for GSM-7 text.
    pub data_coding_gsm7: u8,
    /// `data_coding` for UCS-2 text.
    pub data_coding_ucs2: u8,
    /// The concatenation reference (only the low 8 bits are used with [`LongMessageMode::Udh8`]).
    pub reference: u16,
    /// Forces parts of at most this many units even when the body fits in one segment
    /// (the simulator uses it to produce multipart messages from short texts).
    pub units_per_part: Option<usize>,
}

/// Splits and encodes `body` into parts ready for `submit_sm` / `deliver_sm`.
pub fn encode_message(body: &str, options: EncodeOptions) -> Result<Vec<EncodedPart>, EncodeError> {
    let (encoding, mut parts) = text::split(body);
    let data_coding = match encoding {
        Encoding::Gsm7 => options.data_coding_gsm7,
        Encoding::Ucs2 => options.data_coding_ucs2,
    };
    let encode = |part: &str| -> Vec<u8> {
        match encoding {
            Encoding::Gsm7 => text::gsm7_encode_unpacked(part).unwrap_or_default(),
            Encoding::Ucs2 => text::ucs2_encode(part),
        }
    };
    if options.mode == LongMessageMode::Payload && options.units_per_part.is_none() {
        return Ok(vec![EncodedPart {
            short_message: Vec::new(),
            udhi: false,
            sar: None,
            payload: Some(encode(body)),
            data_coding,
        }]);
    }
    if let Some(units) = options.units_per_part {
        parts = text::split_with_capacity(body, encoding, units);
    } else if parts.len() > 1 && options.mode == LongMessageMode::Udh16 {
        parts = text::split_with_capacity(body, encoding, encoding.multi_segment_units() - 1);
    }
    if parts.len() <= 1 {
        return Ok(vec![EncodedPart {
            short_message: parts.first().map(|p| encode(p)).unwrap_or_default(),
            udhi: false,
            sar: None,
            payload: None,
            data_coding,
        }]);
    }
    let total =
        u8::try_from(parts.len()).map_err(|_| EncodeError::TooManyParts { parts: parts.len() })?;
    let scheme = match options.mode {
        LongMessageMode::Udh8 => ConcatScheme::Udh8,
        LongMessageMode::Udh16 => ConcatScheme::Udh16,
        LongMessageMode::Sar | LongMessageMode::Payload => ConcatScheme::Sar,
    };
    let reference = match scheme {
        ConcatScheme::Udh8 => options.reference & 0xFF,
        _ => options.reference,
    };
    Ok(parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            let concat = Concat {
                reference,
                total,
                seq: (index + 1) as u8,
                scheme,
            };
            let body = encode(part);
            match scheme {
                ConcatScheme::Sar => EncodedPart {
                    short_message: body,
                    udhi: false,
                    sar: Some(concat),
                    payload: None,
                    data_coding,
                },
                _ => {
                    let mut short_message = udh(concat);
                    short_message.extend_from_slice(&body);
                    EncodedPart {
                        short_message,
                        udhi: true,
                        sar: None,
                        payload: None,
                        data_coding,
                    }
                }
            }
        })
        .collect())
}

/// The user data header for a part (UDHL included).
pub fn udh(concat: Concat) -> Vec<u8> {
    let [hi, lo] = concat.reference.to_be_bytes();
    match concat.scheme {
        ConcatScheme::Udh16 => vec![0x06, 0x08, 0x04, hi, lo, concat.total, concat.seq],
        _ => vec![0x05, 0x00, 0x03, lo, concat.total, concat.seq],
    }
}

/// Splits a `short_message` that starts with a user data header into its concatenation
/// facts (if it has a concatenation element) and the text bytes after the header. A header
/// longer than the message yields `None`; other information elements are skipped.
pub fn parse_udh(short_message: &[u8]) -> Option<(Option<Concat>, &[u8])> {
    let (&udhl, rest) = short_message.split_first()?;
    let udhl = usize::from(udhl);
    if rest.len() < udhl {
        return None;
    }
    let (mut header, body) = rest.split_at(udhl);
    let mut concat = None;
    while let [iei, len, tail @ ..] = header {
        let len = usize::from(*len);
        if tail.len() < len {
            break;
        }
        let (data, next) = tail.split_at(len);
        match (*iei, data) {
            (0x00, &[reference, total, seq]) => {
                concat = Some(Concat {
                    reference: u16::from(reference),
                    total,
                    seq,
                    scheme: ConcatScheme::Udh8,
                });
            }
            (0x08, &[hi, lo, total, seq]) => {
                concat = Some(Concat {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seq,
                    scheme: ConcatScheme::Udh16,
                });
            }
            _ => {}
        }
        header = next;
    }
    Some((concat, body))
}

/// The alphabet a `data_coding` value selects, per SMPP 3.4 §5.2.19 and GSM 03.38 coding
/// groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// GSM 03.38 default alphabet, unpacked.
    Gsm7,
    /// IA5 / ASCII.
    Ascii,
    /// ISO-8859-1.
    Latin1,
    /// UCS-2 / UTF-16BE.
    Ucs2,
    /// 8-bit binary (decoded as Latin-1 so nothing is lost).
    Binary,
}

impl Alphabet {
    /// The alphabet for a `data_coding` value.
    pub fn from_data_coding(data_coding: u8) -> Self {
        match data_coding {
            0x00 => Self::Gsm7,
            0x01 => Self::Ascii,
            0x03 => Self::Latin1,
            0x08 => Self::Ucs2,
            0x02 | 0x04 => Self::Binary,
            0x05..=0x0F => Self::Latin1,
            // General data coding groups 00xx: bits 3..2 give the alphabet.
            0x10..=0x3F => match (data_coding >> 2) & 0x03 {
                0 => Self::Gsm7,
                2 => Self::Ucs2,
                _ => Self::Binary,
            },
            0xC0..=0xDF => Self::Gsm7,
            0xE0..=0xEF => Self::Ucs2,
            0xF0..=0xFF if data_coding & 0x04 != 0 => Self::Binary,
            0xF0..=0xFF => Self::Gsm7,
            _ => Self::Latin1,
        }
    }
}

/// Decodes message bytes by `data_coding`; lossy, never panics.
pub fn decode_text(data_coding: u8, bytes: &[u8]) -> String {
    match Alphabet::from_data_coding(data_coding) {
        Alphabet::Gsm7 => text::gsm7_decode_unpacked(bytes),
        Alphabet::Ucs2 => text::ucs2_decode(bytes),
        Alphabet::Ascii => bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    char::from(b)
                } else {
                    '\u{FFFD}'
                }
            })
            .collect(),
        Alphabet::Latin1 | Alphabet::Binary => text::latin1_decode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn options(mode: LongMessageMode) -> EncodeOptions {
        EncodeOptions {
            mode,
            data_coding_gsm7: 0x00,
            data_coding_ucs2: 0x08,
            reference: 0x1234,
            units_per_part: None,
        }
    }

    fn decode_parts(parts: &[EncodedPart]) -> String {
        parts
            .iter()
            .map(|p| {
                if let Some(payload) = &p.payload {
                    return decode_text(p.data_coding, payload);
                }
                let body = if p.udhi {
                    parse_udh(&p.short_message).unwrap().1
                } else {
                    &p.short_message[..]
                };
                decode_text(p.data_coding, body)
            })
            .collect()
    }

    #[test]
    fn short_text_is_one_plain_part() {
        for mode in [
            LongMessageMode::Udh8,
            LongMessageMode::Udh16,
            LongMessageMode::Sar,
        ] {
            let parts = encode_message("Hello", options(mode)).unwrap();
            assert_eq!(parts.len(), 1);
            assert!(!parts[0].udhi);
            assert_eq!(parts[0].short_message, b"Hello");
            assert_eq!(parts[0].data_coding, 0);
        }
        let parts = encode_message("こんにちは", options(LongMessageMode::Udh8)).unwrap();
        assert_eq!(parts[0].data_coding, 8);
        assert_eq!(parts[0].short_message.len(), 10);
    }

    #[test]
    fn udh8_parts() {
        let body = "a".repeat(200);
        let parts = encode_message(&body, options(LongMessageMode::Udh8)).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            &parts[0].short_message[..6],
            &[0x05, 0x00, 0x03, 0x34, 2, 1]
        );
        assert_eq!(parts[0].short_message.len(), 6 + 153);
        assert_eq!(decode_parts(&parts), body);
    }

    #[test]
    fn udh16_parts_leave_room_for_the_longer_header() {
        let body = "あ".repeat(140);
        let parts = encode_message(&body, options(LongMessageMode::Udh16)).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            &parts[0].short_message[..7],
            &[0x06, 0x08, 0x04, 0x12, 0x34, 3, 1]
        );
        assert!(parts.iter().all(|p| p.short_message.len() <= 140));
        assert_eq!(decode_parts(&parts), body);
    }

    #[test]
    fn sar_and_payload() {
        let body = "b".repeat(400);
        let parts = encode_message(&body, options(LongMessageMode::Sar)).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[2].sar,
            Some(Concat {
                reference: 0x1234,
                total: 3,
                seq: 3,
                scheme: ConcatScheme::Sar
            })
        );
        assert_eq!(decode_parts(&parts), body);
        let parts = encode_message(&body, options(LongMessageMode::Payload)).unwrap();
        assert_eq!(parts.len(), 1);
        assert!(parts[0].short_message.is_empty());
        assert_eq!(decode_parts(&parts), body);
    }

    #[test]
    fn udh_with_other_elements() {
        // A port addressing element (0x05) before the concatenation element.
        let sm = [
            0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x01, b'h', b'i',
        ];
        let (concat, body) = parse_udh(&sm).unwrap();
        assert_eq!(
            concat,
            Some(Concat {
                reference: 7,
                total: 2,
                seq: 1,
                scheme: ConcatScheme::Udh8
            })
        );
        assert_eq!(body, b"hi");
        assert_eq!(parse_udh(&[0x09, 0x00]), None);
        assert_eq!(parse_udh(&[]), None);
    }

    #[test]
    fn alphabets() {
        assert_eq!(decode_text(0x03, &[0xE9]), "é");
        assert_eq!(decode_text(0x01, b"abc"), "abc");
        assert_eq!(decode_text(0x08, &[0x30, 0x42]), "あ");
        assert_eq!(Alphabet::from_data_coding(0xF0), Alphabet::Gsm7);
        assert_eq!(Alphabet::from_data_coding(0xF4), Alphabet::Binary);
        assert_eq!(Alphabet::from_data_coding(0x18), Alphabet::Ucs2);
    }

    proptest! {
        #[test]
        fn parse_udh_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_udh(&bytes);
        }

        #[test]
        fn decode_text_never_panics(dc in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_text(dc, &bytes);
        }

        #[test]
        fn encode_then_decode_round_trips(
            body in "[a-zA-Z0-9 @£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞ^{}\\[~\\]|€あいうえおカタカナ漢字😀]{0,400}",
            mode in prop_oneof![Just(LongMessageMode::Udh8), Just(LongMessageMode::Udh16), Just(LongMessageMode::Sar), Just(LongMessageMode::Payload)],
        ) {
            let parts = encode_message(&body, options(mode)).unwrap();
            prop_assert!(parts.iter().all(|p| p.short_message.len() <= 160));
            prop_assert_eq!(decode_parts(&parts), body);
        }
    }
}

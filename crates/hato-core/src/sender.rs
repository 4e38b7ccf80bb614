//! The sender of a message (its `from`): an alphanumeric id ("Hato"), a short code ("12345") or
//! a phone number.
//!
//! Alphanumeric ids are kept to ASCII letters, digits and a little punctuation: carriers
//! reject or mangle anything else, and the 11-character limit comes from the 11 septets an
//! alphanumeric TP-OA address holds.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::phone::{PhoneError, PhoneNumber};

/// Longest alphanumeric sender id.
pub const MAX_ALPHANUMERIC_LEN: usize = 11;
/// Short codes have this many digits, inclusive.
pub const SHORT_CODE_DIGITS: std::ops::RangeInclusive<usize> = 3..=8;

/// Punctuation allowed in an alphanumeric sender id besides letters, digits and space.
const ALPHANUMERIC_PUNCTUATION: &[char] = &['-', '_', '.', '&', '+'];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Alphanumeric(String),
    ShortCode(String),
    Number(PhoneNumber),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("sender is empty")]
    Empty,
    #[error("alphanumeric sender ids are at most 11 characters (`{input}` has {length})")]
    TooLong { input: String, length: usize },
    #[error("alphanumeric sender ids must contain a letter")]
    NoLetter,
    #[error(
        "alphanumeric sender ids may only contain letters a-z, digits, spaces and - _ . & +, not {}",
        quoted(.characters)
    )]
    InvalidCharacters { characters: Vec<char> },
    #[error("short codes have 3 to 8 digits (`{input}` has {length})")]
    ShortCodeLength { input: String, length: usize },
    #[error(transparent)]
    Number(#[from] PhoneError),
}

fn quoted(characters: &[char]) -> String {
    let quoted: Vec<String> = characters.iter().map(|c| format!("{c:?}")).collect();
    quoted.join(", ")
}

impl Sender {
    /// Alphanumeric: 1-11 ASCII letters, digits, spaces and `- _ . & +`, with at least one
    /// letter. Short code: 3-8 digits only. Number: anything phone-like longer than that
    /// (digits with `+`, spaces, `-`, `(`, `)`, `.`), parsed with [`PhoneNumber::parse`].
    pub fn parse(input: &str, default_region: &str) -> Result<Sender, SenderError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(SenderError::Empty);
        }
        if input.bytes().all(|b| b.is_ascii_digit()) {
            return match input.len() {
                length if SHORT_CODE_DIGITS.contains(&length) => {
                    Ok(Sender::ShortCode(input.to_owned()))
                }
                length if length < *SHORT_CODE_DIGITS.start() => {
                    Err(SenderError::ShortCodeLength {
                        input: input.to_owned(),
                        length,
                    })
                }
                _ => Ok(Sender::Number(PhoneNumber::parse(input, default_region)?)),
            };
        }
        if is_phone_like(input) {
            return Ok(Sender::Number(PhoneNumber::parse(input, default_region)?));
        }
        parse_alphanumeric(input).map(Sender::Alphanumeric)
    }

    /// A value read back from our own storage by its [`Sender::kind_str`]; `None` for an
    /// unknown kind.
    pub fn from_trusted(kind: &str, value: String) -> Option<Sender> {
        match kind {
            "alphanumeric" => Some(Sender::Alphanumeric(value)),
            "short_code" => Some(Sender::ShortCode(value)),
            "number" => Some(Sender::Number(PhoneNumber::from_trusted(value))),
            _ => None,
        }
    }

    /// The value as sent (E.164 for numbers).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Alphanumeric(value) | Self::ShortCode(value) => value,
            Self::Number(number) => number.as_str(),
        }
    }

    pub fn kind_str(&self) -> &'static str {
        match self {
            Self::Alphanumeric(_) => "alphanumeric",
            Self::ShortCode(_) => "short_code",
            Self::Number(_) => "number",
        }
    }
}

/// Digits with the separators people write in numbers, and no letters: a letter means the user
/// meant an alphanumeric id, even if it also has digits.
fn is_phone_like(input: &str) -> bool {
    input.bytes().any(|b| b.is_ascii_digit())
        && input
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b' ' | b'-' | b'(' | b')' | b'.'))
}

fn parse_alphanumeric(input: &str) -> Result<String, SenderError> {
    let mut invalid: Vec<char> = input
        .chars()
        .filter(|&c| {
            !(c.is_ascii_alphanumeric() || c == ' ' || ALPHANUMERIC_PUNCTUATION.contains(&c))
        })
        .collect();
    if !invalid.is_empty() {
        invalid.dedup();
        return Err(SenderError::InvalidCharacters {
            characters: invalid,
        });
    }
    // Only ASCII is left, so bytes are characters.
    if input.len() > MAX_ALPHANUMERIC_LEN {
        return Err(SenderError::TooLong {
            input: input.to_owned(),
            length: input.len(),
        });
    }
    if !input.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(SenderError::NoLetter);
    }
    Ok(input.to_owned())
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Sender {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<Sender, SenderError> {
        Sender::parse(input, "JP")
    }

    #[test]
    fn alphanumeric() {
        assert_eq!(parse("Hato").unwrap(), Sender::Alphanumeric("Hato".into()));
        assert_eq!(parse(" A&B Shop ").unwrap().as_str(), "A&B Shop");
        assert_eq!(parse("Shop-24.jp").unwrap().kind_str(), "alphanumeric");
        assert_eq!(
            parse("12345678901A").unwrap_err().to_string(),
            "alphanumeric sender ids are at most 11 characters (`12345678901A` has 12)"
        );
        assert_eq!(parse("12_34"), Err(SenderError::NoLetter));
        assert_eq!(parse("..."), Err(SenderError::NoLetter));
    }

    #[test]
    fn alphanumeric_names_invalid_characters() {
        let err = parse("Hato!ショップ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "alphanumeric sender ids may only contain letters a-z, digits, spaces and - _ . & +, not '!', 'シ', 'ョ', 'ッ', 'プ'"
        );
        assert!(matches!(
            parse("Café"),
            Err(SenderError::InvalidCharacters { .. })
        ));
    }

    #[test]
    fn short_codes() {
        assert_eq!(parse("123").unwrap(), Sender::ShortCode("123".into()));
        assert_eq!(parse("12345678").unwrap().kind_str(), "short_code");
        assert!(matches!(
            parse("12"),
            Err(SenderError::ShortCodeLength { length: 2, .. })
        ));
    }

    #[test]
    fn numbers() {
        let sender = parse("090-1234-5678").unwrap();
        assert_eq!(sender.kind_str(), "number");
        assert_eq!(sender.as_str(), "+819012345678");
        assert_eq!(parse("09012345678").unwrap().as_str(), "+819012345678");
        assert_eq!(parse("+1 (650) 253-0000").unwrap().as_str(), "+16502530000");
        assert!(matches!(
            parse("1234567890123456"),
            Err(SenderError::Number(_))
        ));
        assert_eq!(
            parse("090-1234").unwrap_err().to_string(),
            "`090-1234` is not a valid phone number for region JP"
        );
    }

    #[test]
    fn empty() {
        assert_eq!(parse("   "), Err(SenderError::Empty));
    }

    #[test]
    fn stored_round_trip() {
        for input in ["Hato", "12345", "090-1234-5678"] {
            let sender = parse(input).unwrap();
            let back = Sender::from_trusted(sender.kind_str(), sender.as_str().to_owned());
            assert_eq!(back, Some(sender));
        }
        assert_eq!(Sender::from_trusted("carrier_pigeon", "x".into()), None);
    }
}

//! Phone numbers, always held in E.164 form (`+819012345678`).
//!
//! Parsing what a person typed ("090-1234-5678", "(090) 1234 5678", "+81 90 1234 5678") is
//! delegated to the `phonenumber` crate, a port of Google's libphonenumber with its metadata:
//! national prefixes, number lengths and number ranges per region are data, not rules we keep.
//! A value read back from our own storage skips that work with [`PhoneNumber::from_trusted`],
//! and a number already in E.164 form is checked against the same metadata without the
//! crate's parser ([`canonical`]).

mod canonical;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use phonenumber::country;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An E.164 phone number with its leading `+`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a string is not a phone number we can send to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("`{input}` is not a phone number")]
    NotANumber { input: String },
    #[error("`{input}` is not a valid phone number for region {region}")]
    InvalidNumber { input: String, region: String },
    #[error("`{input}` has an extension, which cannot receive sms")]
    HasExtension { input: String },
    #[error("`{input}` is not in e.164 form (a `+` followed by the country code and number)")]
    NotE164 { input: String },
    #[error("`{0}` is not a known region code (expected two letters such as JP or US)")]
    UnknownRegion(String),
}

impl PhoneNumber {
    /// Parses a number a person typed: "090-1234-5678", "09012345678", "+81 90 1234 5678",
    /// "(090) 1234 5678" are the same number in region "JP". A number written with `+` and a
    /// country code is parsed as such whatever the region.
    ///
    /// Uses the `phonenumber` crate; rejects numbers it does not consider valid (unassigned
    /// ranges, wrong lengths), so a typo is caught here and not at the carrier.
    pub fn parse(input: &str, default_region: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let region = region_id(default_region)
            .ok_or_else(|| PhoneError::UnknownRegion(default_region.to_owned()))?;
        let normalized = normalize(trimmed);
        if let Some(e164) = canonical::valid_e164(&normalized) {
            return Ok(Self(e164.to_owned()));
        }
        Self::parse_with_crate(trimmed, &normalized, region, default_region)
    }

    /// [`PhoneNumber::parse`] by the crate's parser, for anything [`canonical`] could not vouch
    /// for.
    fn parse_with_crate(
        trimmed: &str,
        normalized: &str,
        region: country::Id,
        default_region: &str,
    ) -> Result<Self, PhoneError> {
        // A number written with its country code is read as such: given a default region
        // too, the parser applies that region's trunk-prefix rule to it and drops the leading
        // zero Italy keeps ("+39 02 …" came out invalid with region JP).
        let region = (!normalized.starts_with('+')).then_some(region);
        let parsed = phonenumber::parse(region, normalized).map_err(|_| {
            if trimmed.chars().any(|c| c.is_ascii_digit()) {
                invalid(trimmed, default_region)
            } else {
                PhoneError::NotANumber {
                    input: trimmed.to_owned(),
                }
            }
        })?;
        if parsed.extension().is_some() {
            return Err(PhoneError::HasExtension {
                input: trimmed.to_owned(),
            });
        }
        if !parsed.is_valid() {
            return Err(invalid(trimmed, default_region));
        }
        Ok(Self(e164(&parsed)))
    }

    /// Loads what parsing needs on first use, so that the first request after a start does
    /// not pay for it: the crate reads its metadata for every region from an embedded form
    /// and compiles each pattern's regular expression the first time it is used (together
    /// ~100 ms, 6 % of the HTTP workers' samples in a short `perf` run), and the E.164 path
    /// compiles a region's patterns on its first number from there ([`canonical`]).
    pub fn warm_up(default_region: &str) {
        for input in ["+81 90 1234 5678", "090-1234-5678", "+1 202 555 0123"] {
            let _ = Self::parse(input, default_region);
        }
        canonical::prepare(&default_region.to_ascii_uppercase());
    }

    /// Parses a strict E.164 string (`+` then digits only), as our API and storage write it,
    /// still checking that the number is valid.
    pub fn parse_e164(input: &str) -> Result<Self, PhoneError> {
        let not_e164 = || PhoneError::NotE164 {
            input: input.to_owned(),
        };
        let digits = input.strip_prefix('+').ok_or_else(not_e164)?;
        // E.164 allows at most 15 digits and no country code starts with 0.
        if digits.is_empty()
            || digits.len() > 15
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(not_e164());
        }
        if let Some(e164) = canonical::valid_e164(input) {
            return Ok(Self(e164.to_owned()));
        }
        let parsed = phonenumber::parse(None, input).map_err(|_| invalid_international(input))?;
        if !parsed.is_valid() {
            return Err(invalid_international(input));
        }
        // A national trunk prefix written after the country code ("+81090...") is silently
        // dropped by the parser; strict input must already be canonical.
        let e164 = e164(&parsed);
        if e164 != input {
            return Err(not_e164());
        }
        Ok(Self(e164))
    }

    /// A value read back from our own storage, already validated when it was written.
    pub fn from_trusted(e164: String) -> Self {
        Self(e164)
    }

    /// The E.164 form: "+819012345678".
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without `+`: "819012345678", as SMPP carries it with TON=1 (international).
    pub fn digits(&self) -> &str {
        self.0.strip_prefix('+').unwrap_or(&self.0)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `region` is a region code the phone metadata knows ("JP", "US"; case-insensitive).
pub fn is_known_region(region: &str) -> bool {
    region_id(region).is_some()
}

/// Rewrites a number written only with digits, `+` and separators to ASCII digits and `+`.
///
/// Two reasons: Japanese input methods often produce full-width digits and hyphens
/// ("０９０－１２３４－５６７８", "090ー1234ー5678") that the parser does not read, and the parser
/// misreads a country code run into a trunk prefix before a hyphen ("+81090-1234-5678" fails
/// with an integer overflow, "+8109012345678" parses). Anything else (letters, `ext.`, `tel:`)
/// is passed through for the parser to interpret.
fn normalize(input: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '0'..='9' | '+' => out.push(c),
            '０'..='９' => out.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '＋' => out.push('+'),
            ' ' | '\u{3000}' | '\u{A0}' | '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | 'ー'
            | '－' | '(' | ')' | '（' | '）' | '.' | '．' | '/' | '／' => {}
            _ => return Cow::Borrowed(input),
        }
    }
    Cow::Owned(out)
}

fn region_id(region: &str) -> Option<country::Id> {
    let bytes = region.as_bytes();
    // Region codes are two ASCII letters; uppercasing into a stack buffer avoids an allocation
    // on a path taken for every message.
    if bytes.len() != 2 || !bytes.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let upper = [bytes[0].to_ascii_uppercase(), bytes[1].to_ascii_uppercase()];
    let upper = std::str::from_utf8(&upper).ok()?;
    country::Id::from_str(upper).ok()
}

/// The E.164 form of a parsed number: `+`, the country code, the national number (with the
/// leading zeros a few countries keep). It is what the crate's E.164 formatter writes, without
/// the formatter's search of the region's national formats, which E.164 never uses: that
/// search was a third of the time spent on each number.
fn e164(number: &phonenumber::PhoneNumber) -> String {
    format!("+{}{}", number.code().value(), number.national())
}

fn invalid(input: &str, region: &str) -> PhoneError {
    PhoneError::InvalidNumber {
        input: input.to_owned(),
        region: region.to_ascii_uppercase(),
    }
}

fn invalid_international(input: &str) -> PhoneError {
    PhoneError::InvalidNumber {
        input: input.to_owned(),
        region: "its country code".to_owned(),
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    /// Only strict, valid E.164: JSON is machine-written, so a lenient parse here would hide a
    /// client bug. Lenient parsing with a region is [`PhoneNumber::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = std::borrow::Cow::<str>::deserialize(deserializer)?;
        PhoneNumber::parse_e164(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_mobile_written_many_ways_is_one_number() {
        for input in [
            "090-1234-5678",
            "09012345678",
            "+81 90 1234 5678",
            "(090) 1234 5678",
            "+81-90-1234-5678",
            " 090 1234 5678 ",
            "+819012345678",
        ] {
            let number = PhoneNumber::parse(input, "JP").unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(number.as_str(), "+819012345678", "{input}");
            assert_eq!(number.digits(), "819012345678");
        }
    }

    #[test]
    fn other_japanese_mobile_prefixes_and_fixed_lines() {
        assert_eq!(
            PhoneNumber::parse("080-1234-5678", "JP").unwrap().as_str(),
            "+818012345678"
        );
        assert_eq!(
            PhoneNumber::parse("070-1234-5678", "JP").unwrap().as_str(),
            "+817012345678"
        );
        assert_eq!(
            PhoneNumber::parse("03-1234-5678", "JP").unwrap().as_str(),
            "+81312345678"
        );
    }

    #[test]
    fn full_width_and_odd_separators() {
        for input in [
            "０９０－１２３４－５６７８",
            "090ー1234ー5678",
            "＋８１　９０　１２３４　５６７８",
            "+81090-1234-5678",
            "+81 (0)90 1234 5678",
            "090.1234.5678",
            "tel:+81-90-1234-5678",
        ] {
            let number = PhoneNumber::parse(input, "JP").unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(number.as_str(), "+819012345678", "{input}");
        }
        assert_eq!(
            PhoneNumber::parse("1-800-FLOWERS", "US").unwrap().as_str(),
            "+18003569377"
        );
    }

    #[test]
    fn region_is_case_insensitive_and_plus_overrides_it() {
        assert_eq!(
            PhoneNumber::parse("09012345678", "jp").unwrap().as_str(),
            "+819012345678"
        );
        assert_eq!(
            PhoneNumber::parse("+1 650-253-0000", "JP")
                .unwrap()
                .as_str(),
            "+16502530000"
        );
        assert_eq!(
            PhoneNumber::parse("(650) 253-0000", "US").unwrap().as_str(),
            "+16502530000"
        );
    }

    #[test]
    fn rejects_what_is_not_a_valid_number() {
        assert_eq!(PhoneNumber::parse("  ", "JP"), Err(PhoneError::Empty));
        assert!(matches!(
            PhoneNumber::parse("hello", "JP"),
            Err(PhoneError::NotANumber { .. })
        ));
        let err = PhoneNumber::parse("090-1234", "JP").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`090-1234` is not a valid phone number for region JP"
        );
        assert!(PhoneNumber::parse("090-1234-56789", "JP").is_err());
        assert!(matches!(
            PhoneNumber::parse("09012345678", "XX"),
            Err(PhoneError::UnknownRegion(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("09012345678", "JPN"),
            Err(PhoneError::UnknownRegion(_))
        ));
    }

    #[test]
    fn rejects_extensions() {
        assert!(matches!(
            PhoneNumber::parse("03-1234-5678 ext. 12", "JP"),
            Err(PhoneError::HasExtension { .. })
        ));
    }

    #[test]
    fn known_regions() {
        assert!(is_known_region("JP"));
        assert!(is_known_region("us"));
        assert!(!is_known_region("ZZ"));
        assert!(!is_known_region(""));
        assert!(!is_known_region("日本"));
    }

    #[test]
    fn serde_is_strict_e164() {
        let number = PhoneNumber::parse("090-1234-5678", "JP").unwrap();
        assert_eq!(serde_json::to_string(&number).unwrap(), "\"+819012345678\"");
        let back: PhoneNumber = serde_json::from_str("\"+819012345678\"").unwrap();
        assert_eq!(back, number);
        for bad in [
            "\"090-1234-5678\"",
            "\"819012345678\"",
            "\"+81 90 1234 5678\"",
            "\"+81090123456\"",
            "\"+8190123\"",
            "\"+\"",
            "\"+0123456789\"",
        ] {
            assert!(serde_json::from_str::<PhoneNumber>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_and_debug_are_the_e164_string() {
        let number = PhoneNumber::from_trusted("+819012345678".to_owned());
        assert_eq!(number.to_string(), "+819012345678");
        assert_eq!(format!("{number:?}"), "+819012345678");
    }

    #[test]
    fn e164_keeps_the_leading_zeros_some_countries_dial() {
        // Italy keeps the 0 of fixed lines internationally (Milan, 02).
        let milan = PhoneNumber::parse("+39 02 3661 8300", "JP").expect("Milan");
        assert_eq!(milan.as_str(), "+390236618300");
        assert_eq!(
            PhoneNumber::parse_e164("+390236618300").expect("canonical"),
            milan
        );
    }

    proptest::proptest! {
        /// Our E.164 rendering is the crate's E.164 formatter, for whatever the parser takes.
        #[test]
        fn e164_is_what_the_formatter_writes(
            region in proptest::sample::select(vec!["JP", "US", "GB", "IT", "DE", "BR", "IN"]),
            digits in "[+0-9]{0,3}[0-9]{5,13}",
        ) {
            let region_code = region_id(region).expect("region");
            if let Ok(parsed) = phonenumber::parse(Some(region_code), &digits)
                && parsed.is_valid()
            {
                let expected = parsed.format().mode(phonenumber::Mode::E164).to_string();
                proptest::prop_assert_eq!(e164(&parsed), expected);
            }
        }
    }
}

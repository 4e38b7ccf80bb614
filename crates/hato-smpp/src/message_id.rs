//! Carrier message ids, normalised so the same id written two ways still matches.
//!
//! SMSCs are inconsistent: the `submit_sm_resp` may carry `0A1B2C` while the receipt says
//! `a1b2c`, or `660268` (the same number in decimal), with or without leading zeros.
//!
//! The contract with whoever stores ids (the engine):
//! 1. store [`canonical_message_id`] of each id a `submit_sm_resp` returned;
//! 2. on a receipt, look up each of [`message_id_candidates`] of its id in order and take the
//!    first match (scoped to the connector, since ids are only unique per SMSC).

/// Lowercase, without surrounding space, a `0x` prefix or leading zeros (`"0"` stays `"0"`).
/// Zeros followed by white space (`"0 5"`) are a word of the id rather than padding, and
/// stay: the result never starts with white space, so it is its own canonical form.
pub fn canonical_message_id(id: &str) -> String {
    let id = id.trim();
    let id = id
        .strip_prefix("0x")
        .or_else(|| id.strip_prefix("0X"))
        .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or(id);
    let trimmed = id.trim_start_matches('0');
    if trimmed.is_empty() && !id.is_empty() {
        return "0".to_owned();
    }
    if trimmed.starts_with(char::is_whitespace) {
        return id.to_ascii_lowercase();
    }
    trimmed.to_ascii_lowercase()
}

/// The canonical forms to try for a receipt's id, most likely first:
/// 1. [`canonical_message_id`] of `id`;
/// 2. if `id` is all decimal digits: its value written in hex (`"660268"` → `"a1b2c"`);
/// 3. if `id` is all hex digits (decimal digits included): its value written in decimal
///    (`"0A1B2C"` → `"660268"`, and `"12345"` read as hex → `"74565"`).
///
/// Values too large for 128 bits skip the conversions; duplicates are removed. An empty or
/// blank id gives no candidates.
pub fn message_id_candidates(id: &str) -> Vec<String> {
    let canonical = canonical_message_id(id);
    if canonical.is_empty() {
        return Vec::new();
    }
    let mut candidates = vec![canonical.clone()];
    let mut push = |candidate: String| {
        if !candidates.contains(&candidate) {
            candidates.push(candidate);
        }
    };
    if canonical.bytes().all(|b| b.is_ascii_digit())
        && let Ok(value) = canonical.parse::<u128>()
    {
        push(format!("{value:x}"));
    }
    if canonical.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(value) = u128::from_str_radix(&canonical, 16)
    {
        push(value.to_string());
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_message_id(" 000A1B2C "), "a1b2c");
        assert_eq!(canonical_message_id("0x00ff"), "ff");
        assert_eq!(canonical_message_id("0000"), "0");
        assert_eq!(canonical_message_id("msg-0001"), "msg-0001");
        assert_eq!(canonical_message_id(""), "");
    }

    #[test]
    fn zeros_before_white_space_are_not_padding() {
        // Found by the message_id fuzz target: stripping the zeros of "0 5" left " 5",
        // which is not its own canonical form ("5"), so the form stored for an id and the
        // forms a receipt looks up could disagree.
        assert_eq!(canonical_message_id("0 5"), "0 5");
        assert_eq!(canonical_message_id("000\u{c} A"), "000\u{c} a");
        assert_eq!(canonical_message_id(" 0 5 "), "0 5");
        assert_eq!(canonical_message_id("0x0 5"), "x0 5");
    }

    #[test]
    fn hex_and_decimal_meet() {
        // The SMSC answered in hex and sends receipts in decimal, or the other way round.
        let stored = canonical_message_id("000A1B2C");
        assert!(message_id_candidates("662316").contains(&stored));
        let stored = canonical_message_id("662316");
        assert!(message_id_candidates("0A1B2C").contains(&stored));
        assert!(message_id_candidates("a1b2c").contains(&stored));
        // First candidate is always the id itself.
        assert_eq!(message_id_candidates("00123")[0], "123");
    }

    #[test]
    fn non_numeric_ids_are_only_normalised() {
        assert_eq!(message_id_candidates("ABC-1"), vec!["abc-1".to_owned()]);
        assert!(message_id_candidates("   ").is_empty());
    }

    proptest! {
        #[test]
        fn decimal_and_hex_forms_of_a_number_match(value in any::<u64>(), zeros in 0usize..4, upper in any::<bool>()) {
            let pad = "0".repeat(zeros);
            let decimal = format!("{pad}{value}");
            let hex = if upper { format!("{pad}{value:X}") } else { format!("{pad}{value:x}") };
            prop_assert!(message_id_candidates(&hex).contains(&canonical_message_id(&decimal)));
            prop_assert!(message_id_candidates(&decimal).contains(&canonical_message_id(&hex)));
        }

        #[test]
        fn never_panics(id in ".{0,80}") {
            let _ = message_id_candidates(&id);
        }

        #[test]
        fn the_canonical_form_is_canonical(id in "[0 \t\u{c}xX]{0,4}[0-9a-zA-Z \u{3000}-]{0,12}") {
            let canonical = canonical_message_id(&id);
            prop_assert_eq!(canonical_message_id(&canonical), canonical.clone());
            prop_assert_eq!(canonical.trim(), canonical.as_str());
            prop_assert_eq!(canonical.is_empty(), id.trim().is_empty());
        }
    }
}

//! Carrier message ids, as `submit_sm_resp` and receipts bring them: `canonical_message_id`
//! and `message_id_candidates`.
//!
//! Properties:
//! - the canonical form is a fixed point (canonical of canonical is itself), lowercase, with
//!   no surrounding white space and no padding zeros (a leading zero is `"0"` itself or
//!   zeros followed by white space, `"0 5"`), empty only for a blank id;
//! - white space around the id and ASCII case do not change it, nor leading zeros or a `0x`
//!   prefix on a hexadecimal id;
//! - candidates: none for a blank id, else the canonical form first, no duplicates, each
//!   canonical itself, at most three;
//! - a number written in decimal and in hexadecimal (any case, any zeros) meet: each one's
//!   candidates hold the other's canonical form.

#![no_main]

use hato_smpp::{canonical_message_id, message_id_candidates};
use libfuzzer_sys::fuzz_target;

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_canonical(id: &str) -> String {
    let canonical = canonical_message_id(id);
    assert_eq!(
        canonical_message_id(&canonical),
        canonical,
        "{id:?} → {canonical:?}"
    );
    assert_eq!(canonical.trim(), canonical, "{id:?}");
    assert_eq!(canonical.to_ascii_lowercase(), canonical, "{id:?}");
    // No padding zeros: only "0" itself, or zeros that are a word of their own ("0 5").
    let unpadded = canonical.trim_start_matches('0');
    assert!(
        canonical == "0"
            || unpadded.len() == canonical.len()
            || unpadded.starts_with(char::is_whitespace),
        "{id:?} → {canonical:?}"
    );
    assert_eq!(canonical.is_empty(), id.trim().is_empty(), "{id:?}");
    canonical
}

fn check_candidates(id: &str, canonical: &str) {
    let candidates = message_id_candidates(id);
    if canonical.is_empty() {
        assert!(candidates.is_empty());
        return;
    }
    assert_eq!(candidates[0], canonical);
    assert!(candidates.len() <= 3);
    for (i, candidate) in candidates.iter().enumerate() {
        assert_eq!(&canonical_message_id(candidate), candidate);
        assert!(!candidates[..i].contains(candidate), "{candidates:?}");
    }
}

fn check_variants(id: &str, canonical: &str) {
    for variant in [
        format!(" \t{id}\r\n "),
        id.to_ascii_uppercase(),
        id.to_ascii_lowercase(),
    ] {
        assert_eq!(
            canonical_message_id(&variant),
            canonical,
            "{id:?} / {variant:?}"
        );
    }
    let bare = id.trim();
    if is_hex(bare) {
        for variant in [
            format!("000{bare}"),
            format!("0x{bare}"),
            format!("0X00{bare}"),
        ] {
            assert_eq!(
                canonical_message_id(&variant),
                canonical,
                "{id:?} / {variant:?}"
            );
        }
    }
}

/// A number written both ways, with `zeros` leading zeros and hex in `upper` case.
fn check_number(value: u128, zeros: usize, upper: bool) {
    let pad = "0".repeat(zeros);
    let decimal = format!("{pad}{value}");
    let hex = if upper {
        format!("{pad}{value:X}")
    } else {
        format!("{pad}{value:x}")
    };
    assert!(message_id_candidates(&hex).contains(&canonical_message_id(&decimal)));
    assert!(message_id_candidates(&decimal).contains(&canonical_message_id(&hex)));
}

fuzz_target!(|data: &[u8]| {
    let id = String::from_utf8_lossy(data);
    let canonical = check_canonical(&id);
    check_candidates(&id, &canonical);
    check_variants(&id, &canonical);
    if data.len() >= 17 {
        let value = u128::from_le_bytes(data[1..17].try_into().expect("16 bytes"));
        // Ids are rarely this long: also try the value cut to fit 64 bits.
        check_number(value, usize::from(data[0] & 3), data[0] & 4 != 0);
        check_number(value >> 64, usize::from(data[0] >> 4 & 3), data[0] & 8 != 0);
    }
});

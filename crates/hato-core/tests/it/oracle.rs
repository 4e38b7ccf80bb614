//! The `gsm7` crate as an independent oracle for GSM 03.38 classification, septet counts and
//! packing.
//!
//! Two known differences, both in the oracle: it accepts U+001B as a character (it is the
//! escape, not something a body can contain), and it pads the last byte wrongly (CR where one
//! spare bit remains instead of seven), so the last packed byte is compared on its used bits.

use std::io;

use gsm7::{Gsm7Reader, Gsm7Writer};
use hato_core::text::{Encoding, analyze, gsm7_encode_unpacked, gsm7_pack, gsm7_unpack, is_gsm7};
use proptest::prelude::*;

use crate::strategies::{gsm7_body, mixed_body};

/// Septets the oracle writes for `c`, or `None` when it refuses it.
fn oracle_septets(c: char) -> Option<usize> {
    let mut writer = Gsm7Writer::new(Vec::new());
    writer.write_char(c).ok()?;
    // One septet is one byte once flushed, an escape pair two.
    Some(writer.into_writer().ok()?.len())
}

fn oracle_pack(body: &str) -> Vec<u8> {
    let mut writer = Gsm7Writer::new(Vec::new());
    writer.write_str(body).expect("oracle accepts gsm-7");
    writer.into_writer().expect("writing to a vec cannot fail")
}

#[test]
fn classification_and_cost_match_for_every_bmp_character() {
    for c in (0u32..0x1_0000).filter_map(char::from_u32) {
        let mut buf = [0; 4];
        let ours = is_gsm7(c.encode_utf8(&mut buf));
        let theirs = oracle_septets(c);
        if c == '\u{1B}' {
            assert!(!ours && theirs.is_some());
            continue;
        }
        assert_eq!(ours, theirs.is_some(), "{c:?}");
        if ours {
            assert_eq!(
                gsm7_encode_unpacked(&c.to_string()).unwrap().len(),
                theirs.unwrap(),
                "{c:?}"
            );
        }
    }
}

proptest! {
    #[test]
    fn septet_counts_match(
        // ASCII bodies take analyze()'s byte-table fast path; the rest the per-char path.
        body in prop_oneof![mixed_body(400), "[ -~\\n\\r\\t\\x0C]{0,400}", "[\\x00-\\x7F]{0,40}"]
    ) {
        let oracle: Option<usize> = body
            .chars()
            .map(|c| if c == '\u{1B}' { None } else { oracle_septets(c) })
            .sum();
        let analysis = analyze(&body);
        match oracle {
            Some(septets) => {
                prop_assert_eq!(analysis.encoding, Encoding::Gsm7);
                prop_assert_eq!(analysis.units, septets);
            }
            None => prop_assert_eq!(analysis.encoding, Encoding::Ucs2),
        }
    }

    #[test]
    fn packing_matches(body in gsm7_body(400)) {
        let septets = gsm7_encode_unpacked(&body).unwrap();
        let ours = gsm7_pack(&septets);
        let theirs = oracle_pack(&body);
        prop_assert_eq!(ours.len(), theirs.len());
        if let Some(last) = ours.len().checked_sub(1) {
            prop_assert_eq!(&ours[..last], &theirs[..last]);
            let used_bits = match septets.len() * 7 % 8 { 0 => 8, bits => bits };
            let mask = (0xFFu16 >> (8 - used_bits)) as u8;
            prop_assert_eq!(ours[last] & mask, theirs[last] & mask);
        }
        // Each side reads the other's bytes.
        prop_assert_eq!(gsm7_unpack(&theirs, septets.len()), septets);
        let read: io::Result<String> =
            Gsm7Reader::new(io::Cursor::new(&ours)).take(body.chars().count()).collect();
        prop_assert_eq!(read.unwrap(), body);
    }
}

//! Inbound `short_message` text: `long_message::decode_text` by `data_coding`, and the
//! `hato_core::text` decoders under it (GSM-7 unpacked and packed, UCS-2, Latin-1).
//!
//! Input: the first byte is the `data_coding`, the rest the bytes; the whole input read as
//! UTF-8 (lossily) is also a body for the encode-then-decode round trips.
//!
//! Properties:
//! - `decode_text` is the decoder its `Alphabet` names, and never gives more characters than
//!   bytes;
//! - Latin-1: one character per byte, of the same value; IA5: ASCII kept, the rest U+FFFD;
//! - UCS-2: every UTF-16 unit comes back, but for unpaired surrogates (U+FFFD), plus one
//!   U+FFFD for an odd last byte;
//! - GSM-7: at most one character per byte, each in GSM-7 or U+FFFD; what decodes without
//!   U+FFFD encodes again and decodes the same; septets without escapes come back as they
//!   were;
//! - packing: unpack(pack(s)) == s, at 7/8 of a byte per septet; unpack never gives more
//!   septets than asked for or than the bytes hold;
//! - encode then decode gives any text back in UCS-2, any GSM-7 text in GSM-7.

#![no_main]

use hato_core::text::{
    gsm7_decode_unpacked, gsm7_encode_unpacked, gsm7_pack, gsm7_unpack, is_gsm7, latin1_decode,
    ucs2_decode, ucs2_encode,
};
use hato_smpp::long_message::{Alphabet, decode_text};
use libfuzzer_sys::fuzz_target;

const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;
const ESC: u8 = 0x1B;

fn check_latin1(bytes: &[u8]) {
    let text = latin1_decode(bytes);
    assert!(
        text.chars()
            .map(u32::from)
            .eq(bytes.iter().map(|&b| u32::from(b)))
    );
}

fn check_ucs2(bytes: &[u8]) {
    let text = ucs2_decode(bytes);
    let again = ucs2_encode(&text);
    assert_eq!(
        again.len(),
        bytes.len() + bytes.len() % 2,
        "one unit per unit"
    );
    let units = |b: &[u8]| -> Vec<u16> {
        b.chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect()
    };
    let (before, after) = (units(bytes), units(&again));
    for (i, (&b, &a)) in before.iter().zip(&after).enumerate() {
        assert!(
            a == b || (a == 0xFFFD && (0xD800..=0xDFFF).contains(&b)),
            "unit {i}: {b:#06x} came back as {a:#06x}"
        );
    }
    if bytes.len() % 2 == 1 {
        assert_eq!(after.last(), Some(&0xFFFD), "an odd byte shows as U+FFFD");
    }
}

fn check_gsm7(bytes: &[u8]) {
    let text = gsm7_decode_unpacked(bytes);
    assert!(text.chars().count() <= bytes.len());
    assert!(
        text.chars()
            .all(|c| c == REPLACEMENT || is_gsm7(c.encode_utf8(&mut [0; 4]))),
        "{text:?}"
    );
    let has_replacement = text.contains(REPLACEMENT);
    assert_eq!(
        has_replacement,
        bytes.iter().any(|&b| b > 0x7F) || trailing_lone_escape(bytes),
        "U+FFFD exactly for bytes above 0x7F and a lone final escape: {bytes:?}"
    );
    if !has_replacement {
        let septets = gsm7_encode_unpacked(&text).expect("decoded GSM-7 encodes");
        assert_eq!(gsm7_decode_unpacked(&septets), text);
        if !bytes.contains(&ESC) {
            assert_eq!(septets, bytes, "plain septets come back as they were");
        }
    }
}

/// Whether `bytes` ends in an escape that starts no pair (an even run of escapes pairs up).
fn trailing_lone_escape(bytes: &[u8]) -> bool {
    // Pairs are read left to right: ESC takes the next byte, whatever it is.
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == ESC {
            if i + 1 == bytes.len() {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

fn check_packing(bytes: &[u8], count: usize) {
    let septets: Vec<u8> = bytes.iter().map(|b| b & 0x7F).collect();
    let packed = gsm7_pack(&septets);
    assert_eq!(packed.len(), (septets.len() * 7).div_ceil(8));
    assert_eq!(gsm7_unpack(&packed, septets.len()), septets);
    let unpacked = gsm7_unpack(bytes, count);
    assert_eq!(unpacked.len(), count.min(bytes.len() * 8 / 7));
    assert!(unpacked.iter().all(|&s| s < 0x80));
}

fn check_decode_text(data_coding: u8, bytes: &[u8]) {
    let text = decode_text(data_coding, bytes);
    assert!(text.chars().count() <= bytes.len());
    let expected = match Alphabet::from_data_coding(data_coding) {
        Alphabet::Gsm7 => gsm7_decode_unpacked(bytes),
        Alphabet::Ucs2 => ucs2_decode(bytes),
        Alphabet::Latin1 | Alphabet::Binary => latin1_decode(bytes),
        Alphabet::Ascii => {
            assert!(text.chars().zip(bytes).all(|(c, &b)| if b.is_ascii() {
                u32::from(c) == u32::from(b)
            } else {
                c == REPLACEMENT
            }));
            assert_eq!(text.chars().count(), bytes.len());
            return;
        }
    };
    assert_eq!(text, expected);
}

fn check_round_trips(body: &str) {
    assert_eq!(ucs2_decode(&ucs2_encode(body)), body);
    match gsm7_encode_unpacked(body) {
        Some(septets) => {
            assert!(is_gsm7(body));
            assert!(septets.iter().all(|&s| s < 0x80));
            assert_eq!(gsm7_decode_unpacked(&septets), body);
            let packed = gsm7_pack(&septets);
            assert_eq!(
                gsm7_decode_unpacked(&gsm7_unpack(&packed, septets.len())),
                body
            );
        }
        None => assert!(!is_gsm7(body)),
    }
}

fuzz_target!(|data: &[u8]| {
    check_latin1(data);
    check_ucs2(data);
    check_gsm7(data);
    if let Some((&first, rest)) = data.split_first() {
        check_decode_text(first, rest);
        check_packing(rest, usize::from(first) * 4);
    }
    check_round_trips(&String::from_utf8_lossy(data));
});

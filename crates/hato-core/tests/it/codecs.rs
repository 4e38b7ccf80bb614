//! decode(encode(x)) == x for every codec, and decoders never panic on bytes from outside.

use hato_core::text::{
    gsm7_decode_unpacked, gsm7_encode_unpacked, gsm7_pack, gsm7_unpack, is_gsm7, latin1_decode,
    ucs2_decode, ucs2_encode,
};
use proptest::prelude::*;

use crate::strategies::gsm7_body;

proptest! {
    #[test]
    fn gsm7_unpacked_round_trips(body in gsm7_body(400)) {
        prop_assert!(is_gsm7(&body));
        let septets = gsm7_encode_unpacked(&body).expect("gsm-7 body encodes");
        prop_assert!(septets.iter().all(|&s| s < 0x80));
        prop_assert_eq!(gsm7_decode_unpacked(&septets), body);
    }

    #[test]
    fn gsm7_packed_round_trips(body in gsm7_body(400)) {
        let septets = gsm7_encode_unpacked(&body).expect("gsm-7 body encodes");
        let packed = gsm7_pack(&septets);
        prop_assert_eq!(packed.len(), (septets.len() * 7).div_ceil(8));
        let unpacked = gsm7_unpack(&packed, septets.len());
        prop_assert_eq!(gsm7_decode_unpacked(&unpacked), body);
    }

    #[test]
    fn any_septets_pack_round_trip(septets in prop::collection::vec(0u8..0x80, 0..300)) {
        prop_assert_eq!(gsm7_unpack(&gsm7_pack(&septets), septets.len()), septets);
    }

    #[test]
    fn decoded_default_alphabet_re_encodes(
        septets in prop::collection::vec((0u8..0x80).prop_filter("not escape", |&s| s != 0x1B), 0..300)
    ) {
        let text = gsm7_decode_unpacked(&septets);
        prop_assert_eq!(gsm7_encode_unpacked(&text), Some(septets));
    }

    #[test]
    fn ucs2_round_trips(body in any::<String>()) {
        let bytes = ucs2_encode(&body);
        prop_assert_eq!(bytes.len(), body.encode_utf16().count() * 2);
        prop_assert_eq!(ucs2_decode(&bytes), body);
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), count in 0usize..2_000) {
        let _ = gsm7_decode_unpacked(&bytes);
        let _ = ucs2_decode(&bytes);
        prop_assert_eq!(latin1_decode(&bytes).chars().count(), bytes.len());
        let septets = gsm7_unpack(&bytes, count);
        prop_assert!(septets.len() <= count);
        prop_assert!(septets.iter().all(|&s| s < 0x80));
    }

    #[test]
    fn non_gsm7_never_encodes(body in any::<String>()) {
        prop_assert_eq!(gsm7_encode_unpacked(&body).is_some(), is_gsm7(&body));
    }
}

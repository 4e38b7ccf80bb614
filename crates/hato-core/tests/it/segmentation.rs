//! Parts concatenate back to the body, fit their capacity and agree with analyze().

use hato_core::text::{Encoding, analyze, split, split_with_capacity};
use proptest::prelude::*;

use crate::strategies::any_body;

fn units(text: &str, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => hato_core::text::gsm7_encode_unpacked(text)
            .expect("gsm-7 part")
            .len(),
        Encoding::Ucs2 => text.encode_utf16().count(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn split_agrees_with_analyze(body in any_body()) {
        let analysis = analyze(&body);
        let (encoding, parts) = split(&body);
        prop_assert_eq!(encoding, analysis.encoding);
        prop_assert_eq!(parts.concat(), body.as_str());
        prop_assert_eq!(parts.len(), analysis.segments);
        prop_assert_eq!(analysis.characters, body.chars().count());
        prop_assert_eq!(analysis.units, units(&body, encoding));
        prop_assert_eq!(
            analysis.units_in_last_segment + analysis.units_left_in_last_segment,
            analysis.units_per_segment
        );
        let capacity = analysis.units_per_segment;
        for part in &parts {
            prop_assert!(!part.is_empty());
            prop_assert!(units(part, encoding) <= capacity);
        }
        match parts.last() {
            Some(last) => prop_assert_eq!(units(last, encoding), analysis.units_in_last_segment),
            None => prop_assert_eq!(analysis.units, 0),
        }
        if parts.len() > 1 {
            prop_assert_eq!(capacity, encoding.multi_segment_units());
            prop_assert!(analysis.units > encoding.single_segment_units());
            prop_assert!(analysis.segments >= analysis.units.div_ceil(capacity));
        } else {
            prop_assert_eq!(capacity, encoding.single_segment_units());
        }
        prop_assert_eq!(analysis.forcing_ucs2.is_empty(), encoding == Encoding::Gsm7);
        let chars: Vec<char> = body.chars().collect();
        for forcing in &analysis.forcing_ucs2 {
            prop_assert_eq!(chars[forcing.position], forcing.character);
            prop_assert!(!hato_core::text::is_gsm7(&forcing.character.to_string()));
        }
    }

    #[test]
    fn split_with_capacity_fits_and_concatenates(body in any_body(), capacity in 2usize..200) {
        let encoding = analyze(&body).encoding;
        let parts = split_with_capacity(&body, encoding, capacity);
        prop_assert_eq!(parts.concat(), body.as_str());
        for part in &parts {
            prop_assert!(!part.is_empty());
            prop_assert!(units(part, encoding) <= capacity);
        }
        // Greedy: a part only ends early when the next character would not fit.
        for pair in parts.windows(2) {
            let next = pair[1].chars().next().unwrap();
            prop_assert!(units(&pair[0], encoding) + units(&next.to_string(), encoding) > capacity);
        }
    }

    #[test]
    fn replacements_make_gsm7_when_every_forcing_character_has_one(body in any_body()) {
        let analysis = analyze(&body);
        if analysis.forcing_ucs2.iter().all(|f| f.replacement.is_some()) {
            prop_assert!(hato_core::text::is_gsm7(&hato_core::text::apply_replacements(&body)));
        }
    }
}

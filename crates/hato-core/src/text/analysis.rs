//! `analyze()`: encoding, length and segment count of a body, as the API reports them and as
//! billing counts them.
//!
//! This runs for every message accepted, so a GSM-7 body is analyzed without allocating: one
//! pass to classify and count, and a second only when it needs more than one segment and holds
//! a two-unit character (otherwise the segment count is arithmetic).

use serde::Serialize;

use super::segment::Parts;
use super::{Encoding, gsm7, replacements};

/// A character that keeps a body out of GSM-7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForcingCharacter {
    pub character: char,
    /// Index in Unicode scalar values (chars) of the body, 0-based.
    pub position: usize,
    /// A GSM-7 look-alike, when one exists (see [`replacements::replacement`]).
    pub replacement: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextAnalysis {
    pub encoding: Encoding,
    /// Unicode scalar values in the body.
    pub characters: usize,
    /// Septets (an extension character costs 2) or UTF-16 code units (a character outside
    /// the BMP costs 2).
    pub units: usize,
    /// 0 for an empty body, 1 if it fits one segment, else the parts as really split.
    pub segments: usize,
    /// 160/70 for one segment, 153/67 when concatenated.
    pub units_per_segment: usize,
    pub units_in_last_segment: usize,
    pub units_left_in_last_segment: usize,
    /// Every character that is not GSM-7, in order (empty for GSM-7 bodies).
    pub forcing_ucs2: Vec<ForcingCharacter>,
}

impl TextAnalysis {
    /// Whether the body fits in `max_segments` segments.
    pub fn fits_in(&self, max_segments: usize) -> bool {
        self.segments <= max_segments
    }
}

pub fn analyze(body: &str) -> TextAnalysis {
    if body.is_ascii() {
        return match gsm7::ascii_septets_of(body.as_bytes()) {
            Some((septets, has_wide)) => finish(
                body,
                Encoding::Gsm7,
                body.len(),
                septets,
                has_wide,
                Vec::new(),
            ),
            None => analyze_ucs2(body),
        };
    }
    let mut characters = 0;
    let mut septets = 0;
    let mut has_wide = false;
    for c in body.chars() {
        let Some(septet) = gsm7::septet(c) else {
            return analyze_ucs2(body);
        };
        characters += 1;
        septets += septet.units();
        has_wide |= septet.units() == 2;
    }
    finish(
        body,
        Encoding::Gsm7,
        characters,
        septets,
        has_wide,
        Vec::new(),
    )
}

fn analyze_ucs2(body: &str) -> TextAnalysis {
    let mut characters = 0;
    let mut code_units = 0;
    let mut has_wide = false;
    let mut forcing = Vec::new();
    for (position, c) in body.chars().enumerate() {
        characters += 1;
        let width = c.len_utf16();
        code_units += width;
        has_wide |= width == 2;
        if gsm7::septet(c).is_none() {
            forcing.push(ForcingCharacter {
                character: c,
                position,
                replacement: replacements::replacement(c),
            });
        }
    }
    finish(
        body,
        Encoding::Ucs2,
        characters,
        code_units,
        has_wide,
        forcing,
    )
}

fn finish(
    body: &str,
    encoding: Encoding,
    characters: usize,
    total: usize,
    has_wide: bool,
    forcing_ucs2: Vec<ForcingCharacter>,
) -> TextAnalysis {
    let single = encoding.single_segment_units();
    let (segments, units_per_segment, units_in_last_segment) = if total == 0 {
        (0, single, 0)
    } else if total <= single {
        (1, single, total)
    } else {
        let per = encoding.multi_segment_units();
        if has_wide {
            let (count, last) = Parts::new(body, encoding, per)
                .fold((0, 0), |(count, _), (_, used)| (count + 1, used));
            (count, per, last)
        } else {
            // Every character costs one unit, so every cut is exact.
            let count = total.div_ceil(per);
            (count, per, total - (count - 1) * per)
        }
    };
    TextAnalysis {
        encoding,
        characters,
        units: total,
        segments,
        units_per_segment,
        units_in_last_segment,
        units_left_in_last_segment: units_per_segment - units_in_last_segment,
        forcing_ucs2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body() {
        let a = analyze("");
        assert_eq!(a.encoding, Encoding::Gsm7);
        assert_eq!((a.characters, a.units, a.segments), (0, 0, 0));
        assert_eq!(
            (
                a.units_per_segment,
                a.units_in_last_segment,
                a.units_left_in_last_segment
            ),
            (160, 0, 160)
        );
    }

    #[test]
    fn gsm7_boundaries() {
        let a = analyze(&"a".repeat(160));
        assert_eq!(
            (
                a.segments,
                a.units_per_segment,
                a.units_left_in_last_segment
            ),
            (1, 160, 0)
        );
        let a = analyze(&"a".repeat(161));
        assert_eq!(
            (a.segments, a.units_per_segment, a.units_in_last_segment),
            (2, 153, 8)
        );
        let a = analyze(&"a".repeat(1530));
        assert_eq!(
            (
                a.segments,
                a.units_in_last_segment,
                a.units_left_in_last_segment
            ),
            (10, 153, 0)
        );
        assert!(a.fits_in(crate::text::DEFAULT_MAX_SEGMENTS));
        assert!(!analyze(&"a".repeat(1531)).fits_in(crate::text::DEFAULT_MAX_SEGMENTS));
    }

    #[test]
    fn extension_characters_cost_two() {
        let a = analyze("€{}");
        assert_eq!((a.encoding, a.characters, a.units), (Encoding::Gsm7, 3, 6));
        // 80 euros = 160 septets: one segment.
        assert_eq!(analyze(&"€".repeat(80)).segments, 1);
        // 81 euros = 162 septets; 76 pairs fit in 153 (152 used), so 76 + 5.
        let a = analyze(&"€".repeat(81));
        assert_eq!((a.segments, a.units_in_last_segment), (2, 10));
    }

    #[test]
    fn escape_at_cut_needs_an_extra_segment() {
        // 306 septets would fit in ceil(306/153) = 2 parts, but the '€' cannot straddle the
        // cut after 152 septets: parts are 152, 2 + 151 and 1.
        let body = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        let a = analyze(&body);
        assert_eq!(a.units, 306);
        assert_eq!(a.segments, 3);
        assert_eq!(a.units_in_last_segment, 1);
    }

    #[test]
    fn japanese() {
        let a = analyze(&"あ".repeat(70));
        assert_eq!(
            (a.encoding, a.segments, a.units_per_segment),
            (Encoding::Ucs2, 1, 70)
        );
        let a = analyze(&"あ".repeat(71));
        assert_eq!(
            (a.segments, a.units_per_segment, a.units_in_last_segment),
            (2, 67, 4)
        );
        assert_eq!(a.units_left_in_last_segment, 63);
        let a = analyze(&"あ".repeat(670));
        assert_eq!((a.segments, a.units_in_last_segment), (10, 67));
        let a = analyze(&"あ".repeat(671));
        assert_eq!(a.segments, 11);
    }

    #[test]
    fn emoji_costs_two_units() {
        let a = analyze("hi😀");
        assert_eq!((a.encoding, a.characters, a.units), (Encoding::Ucs2, 3, 4));
        assert_eq!(
            a.forcing_ucs2,
            [ForcingCharacter {
                character: '😀',
                position: 2,
                replacement: None
            }]
        );
        // 35 emoji = 70 units: one segment; 36 = 72: 33 per part (66 units) + 3.
        assert_eq!(analyze(&"😀".repeat(35)).segments, 1);
        let a = analyze(&"😀".repeat(36));
        assert_eq!((a.segments, a.units_in_last_segment), (2, 6));
    }

    #[test]
    fn forcing_characters_name_their_replacement() {
        let a = analyze("Don’t — ok！");
        assert_eq!(a.encoding, Encoding::Ucs2);
        let found: Vec<_> = a
            .forcing_ucs2
            .iter()
            .map(|f| (f.character, f.position, f.replacement))
            .collect();
        assert_eq!(
            found,
            [
                ('’', 3, Some("'")),
                ('—', 6, Some("-")),
                ('！', 10, Some("!"))
            ]
        );
    }

    #[test]
    fn serializes_encoding_lowercase() {
        let json = serde_json::to_value(analyze("hi")).unwrap();
        assert_eq!(json["encoding"], "gsm7");
        assert_eq!(json["segments"], 1);
    }
}

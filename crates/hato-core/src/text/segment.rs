//! Splitting a body into the parts of a concatenated message.
//!
//! Parts are cut greedily on character boundaries: an escape pair (GSM-7) or a surrogate pair
//! (UCS-2) is never split, because a handset would show garbage at both ends of the cut. A
//! cut before a two-unit character leaves one unit unused, which is why a body can need more
//! parts than `ceil(units / 153)`.

use super::Encoding;
use super::gsm7;

/// Units `c` costs in `encoding`. A character that is not GSM-7 counts as one septet when
/// GSM-7 is forced on it; encoding such a body fails later anyway.
#[inline]
pub(crate) fn units(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7::septet(c).map_or(1, gsm7::Septet::units),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// The parts of a body, as slices with their unit counts; allocation-free so counting
/// segments and splitting share one definition.
pub(crate) struct Parts<'a> {
    rest: &'a str,
    encoding: Encoding,
    capacity: usize,
}

impl<'a> Parts<'a> {
    /// A capacity below 2 is raised to 2 so that every character fits in a part.
    pub(crate) fn new(body: &'a str, encoding: Encoding, capacity: usize) -> Self {
        Self {
            rest: body,
            encoding,
            capacity: capacity.max(2),
        }
    }
}

impl<'a> Iterator for Parts<'a> {
    /// The part's text and the units it uses.
    type Item = (&'a str, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let mut used = 0;
        let mut end = self.rest.len();
        for (index, c) in self.rest.char_indices() {
            let cost = units(c, self.encoding);
            if used + cost > self.capacity {
                end = index;
                break;
            }
            used += cost;
        }
        let (part, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some((part, used))
    }
}

/// Split into parts of at most `units_per_part` units of `encoding` each (for SAR/UDH
/// variants); never splits an escape or surrogate pair. A capacity below 2 is treated as 2.
pub fn split_with_capacity(body: &str, encoding: Encoding, units_per_part: usize) -> Vec<String> {
    Parts::new(body, encoding, units_per_part)
        .map(|(part, _)| part.to_owned())
        .collect()
}

/// The text of each part as it will be sent, for the encoding `analyze()` picks; one part if
/// it fits in one segment, none for an empty body.
pub fn split(body: &str) -> (Encoding, Vec<String>) {
    let encoding = super::encoding_for(body);
    let total: usize = body.chars().map(|c| units(c, encoding)).sum();
    let parts = if body.is_empty() {
        Vec::new()
    } else if total <= encoding.single_segment_units() {
        vec![body.to_owned()]
    } else {
        split_with_capacity(body, encoding, encoding.multi_segment_units())
    };
    (encoding, parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_pair_is_not_split() {
        // 152 septets then '€' (2 septets): it moves whole to the second part.
        let body = format!("{}€", "a".repeat(152));
        let parts = split_with_capacity(&body, Encoding::Gsm7, 153);
        assert_eq!(parts, [&"a".repeat(152), "€"]);
    }

    #[test]
    fn surrogate_pair_is_not_split() {
        let body = format!("{}😀", "あ".repeat(66));
        let parts = split_with_capacity(&body, Encoding::Ucs2, 67);
        assert_eq!(parts, [&"あ".repeat(66), "😀"]);
    }

    #[test]
    fn split_empty_and_single() {
        assert_eq!(split(""), (Encoding::Gsm7, vec![]));
        assert_eq!(split("hi"), (Encoding::Gsm7, vec!["hi".to_owned()]));
        assert_eq!(split("やあ"), (Encoding::Ucs2, vec!["やあ".to_owned()]));
    }

    #[test]
    fn split_kana() {
        let body = "あ".repeat(71);
        let (encoding, parts) = split(&body);
        assert_eq!(encoding, Encoding::Ucs2);
        assert_eq!(parts, ["あ".repeat(67), "あ".repeat(4)]);
    }

    #[test]
    fn tiny_capacity_still_progresses() {
        assert_eq!(split_with_capacity("€€", Encoding::Gsm7, 0), ["€", "€"]);
        assert_eq!(split_with_capacity("😀a", Encoding::Ucs2, 1), ["😀", "a"]);
    }
}

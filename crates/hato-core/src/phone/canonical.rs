//! Numbers already written in E.164 form ("+819012345678"), checked against the `phonenumber`
//! crate's metadata without going through its parser.
//!
//! API clients nearly always send E.164. For those, the crate's free-text parser (a grammar
//! for anything a person may type) and its validator (which finds each compiled pattern by
//! hashing its source text in a 100-entry LRU behind one process-wide mutex, ~15 lookups per
//! number) cost 3–5 µs per number: the largest item of our own on the HTTP path, and twice as
//! much once traffic mixes countries and the LRU evicts (`BENCHMARKS.md`, session 12). Here
//! each region's patterns are compiled once, on first use, and matched without a lock.
//!
//! It only ever vouches: a number it cannot accept exactly as the crate would (not `+` and
//! digits, a leading zero, a national prefix or carrier code the parser could strip, a
//! non-geographic code, a pattern that does not compile) gets `None`, and the caller asks the
//! crate, so every answer is the crate's. The tests check that against the crate for every
//! example number in the metadata and for random digits.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use phonenumber::metadata::{DATABASE, Descriptor, Descriptors, Metadata};
use regex::{Regex, RegexBuilder};

/// E.164 allows at most three digits of country code (the parser tries 1, 2, then 3).
const MAX_COUNTRY_CODE_DIGITS: usize = 3;
/// The shortest and longest national significant numbers the parser accepts.
const NATIONAL_DIGITS: std::ops::RangeInclusive<usize> = 2..=17;

/// `normalized` itself when it is `+` and digits and a valid number in exactly that form, as
/// `phonenumber::parse` followed by `is_valid` would find; `None` when unsure.
pub(super) fn valid_e164(normalized: &str) -> Option<&str> {
    let digits = normalized.strip_prefix('+')?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index = &*INDEX;
    let (code_digits, regions) = (1..=MAX_COUNTRY_CODE_DIGITS)
        .filter(|&len| digits.len() > len)
        .find_map(|len| {
            let code: u16 = digits[..len].parse().ok()?;
            index.by_code.get(&code).map(|regions| (len, regions))
        })?;
    let national = &digits[code_digits..];
    if !NATIONAL_DIGITS.contains(&national.len()) || national.starts_with('0') {
        return None;
    }
    // Non-geographic codes (+800, +979…) are looked up by code, not region: left to the crate.
    let regions = regions.as_deref()?;
    let region = source_for(index, regions, national)?;
    let compiled = region.compiled()?;
    // The parser strips a national prefix or carrier code it recognises; such a number is
    // not in its final form here.
    if region
        .meta
        .national_prefix()
        .is_some_and(|prefix| national.starts_with(prefix))
        || compiled
            .national_prefix_for_parsing
            .as_ref()
            .is_some_and(|pattern| pattern.is_match(national))
    {
        return None;
    }
    compiled.has_type(national).then_some(normalized)
}

/// Compiles the patterns of `region` ("JP") now, as the server starts for its default region.
pub(super) fn prepare(region: &str) {
    for known in INDEX.regions.iter().filter(|r| r.meta.id() == region) {
        let _ = known.compiled();
    }
}

/// The region a national number belongs to among those sharing its country code, as the
/// crate's `validator::source_for` chooses: the only one; else the first whose leading
/// digits match, or, for a region without them, whose patterns know the number.
///
/// A region whose patterns did not compile makes the answer `None`, not the next region: the
/// crate could have chosen it.
fn source_for<'i>(index: &'i Index, regions: &[usize], national: &str) -> Option<&'i Region> {
    if let [only] = regions {
        return index.regions.get(*only);
    }
    for &i in regions {
        let region = index.regions.get(i)?;
        let compiled = region.compiled()?;
        let belongs = match &compiled.leading_digits {
            Some(leading) => leading.is_match(national),
            None => compiled.has_type(national),
        };
        if belongs {
            return Some(region);
        }
    }
    None
}

/// Every region of the metadata, and the regions of each country code in the crate's order.
struct Index {
    regions: Vec<Region>,
    /// `None` for a non-geographic code (its metadata has no region), or one whose regions
    /// could not all be found.
    by_code: HashMap<u16, Option<Vec<usize>>>,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let database = &*DATABASE;
    let mut regions = Vec::new();
    let mut by_code = HashMap::new();
    for meta in database.iter() {
        let code = meta.country_code();
        if by_code.contains_key(&code) {
            continue;
        }
        let ids = database.region(&code).unwrap_or_default();
        let geographic = !ids.is_empty() && ids.iter().all(|id| *id != "001");
        let metas = ids
            .iter()
            .map(|id| database.by_id(*id))
            .collect::<Option<Vec<_>>>()
            .filter(|_| geographic);
        let indices = metas.map(|metas| {
            metas
                .into_iter()
                .map(|meta| {
                    regions.push(Region {
                        meta,
                        compiled: OnceLock::new(),
                    });
                    regions.len() - 1
                })
                .collect()
        });
        by_code.insert(code, indices);
    }
    Index { regions, by_code }
});

struct Region {
    meta: &'static Metadata,
    /// Compiled on first use; `None` if a pattern did not compile (the crate decides then).
    compiled: OnceLock<Option<Compiled>>,
}

impl Region {
    fn compiled(&self) -> Option<&Compiled> {
        self.compiled
            .get_or_init(|| Compiled::of(self.meta))
            .as_ref()
    }
}

/// A region's patterns, each anchored at the start of the number.
struct Compiled {
    general: Pattern,
    /// The number types the crate's `number_type` tries; a number of none of them is invalid.
    types: Vec<Pattern>,
    leading_digits: Option<Regex>,
    national_prefix_for_parsing: Option<Regex>,
}

impl Compiled {
    fn of(meta: &'static Metadata) -> Option<Self> {
        let d = meta.descriptors();
        Some(Self {
            general: Pattern::of(d.general())?,
            types: number_types(d)
                .into_iter()
                .flatten()
                .map(Pattern::of)
                .collect::<Option<_>>()?,
            leading_digits: match meta.leading_digits() {
                Some(pattern) => Some(anchored(pattern.as_str())?),
                None => None,
            },
            national_prefix_for_parsing: match meta.national_prefix_for_parsing() {
                Some(pattern) => Some(anchored(pattern.as_str())?),
                None => None,
            },
        })
    }

    /// Whether the crate's `number_type` would be anything but `Unknown`.
    fn has_type(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }
}

/// The descriptors of the number types the crate's `number_type` tries, in its order.
fn number_types(d: &Descriptors) -> [Option<&Descriptor>; 10] {
    [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        d.fixed_line(),
        d.mobile(),
    ]
}

/// A descriptor: the lengths its numbers may have, and their pattern.
struct Pattern {
    lengths: &'static [u16],
    regex: Regex,
}

impl Pattern {
    fn of(descriptor: &'static Descriptor) -> Option<Self> {
        Some(Self {
            lengths: descriptor.possible_length(),
            regex: anchored(descriptor.national_number().as_str())?,
        })
    }

    /// As `Descriptor::is_match`: a possible length (when any are listed), and a match of the
    /// pattern that starts at the first digit.
    fn is_match(&self, national: &str) -> bool {
        let length_ok = u16::try_from(national.len())
            .is_ok_and(|len| self.lengths.is_empty() || self.lengths.contains(&len));
        length_ok && self.regex.is_match(national)
    }
}

/// `source` compiled as the crate compiles it (whitespace ignored), matching only at the
/// start: the crate accepts a match of the unanchored pattern that starts at 0, and the
/// leftmost match starts at 0 exactly when some match does. The newline closes any comment
/// the pattern could end with under whitespace-insensitive syntax.
fn anchored(source: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{source}\n)"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::{PhoneNumber, region_id};

    /// What the crate's parser and validator say of `input` (the region does not matter for
    /// a number written with `+`).
    fn crate_answer(input: &str) -> Option<String> {
        let region = region_id("JP").expect("JP");
        PhoneNumber::parse_with_crate(input, input, region, "JP")
            .ok()
            .map(PhoneNumber::into_string)
    }

    /// Every descriptor of a region that has an example number.
    fn examples(meta: &Metadata) -> Vec<&str> {
        let d = meta.descriptors();
        std::iter::once(Some(d.general()))
            .chain(number_types(d))
            .flatten()
            .filter_map(Descriptor::example)
            .collect()
    }

    /// The example, and near misses of it: one digit changed, one dropped, one added.
    fn variants(example: &str) -> Vec<String> {
        let mut out = vec![example.to_owned()];
        if let Some(last) = example.bytes().last() {
            let bumped = char::from(b'0' + (last - b'0' + 1) % 10);
            out.push(format!("{}{bumped}", &example[..example.len() - 1]));
            out.push(example[..example.len() - 1].to_owned());
        }
        out.push(format!("{example}5"));
        out.push(format!("9{}", &example[1.min(example.len())..]));
        out
    }

    #[test]
    fn agrees_with_the_crate_on_every_example_number_and_near_misses() {
        let (mut vouched, mut canonical_valid, mut checked) = (0, 0, 0);
        for meta in DATABASE.iter() {
            for example in examples(meta) {
                for national in variants(example) {
                    let input = format!("+{}{national}", meta.country_code());
                    let theirs = crate_answer(&input);
                    checked += 1;
                    if theirs.as_deref() == Some(input.as_str()) {
                        canonical_valid += 1;
                    }
                    if let Some(ours) = valid_e164(&input) {
                        vouched += 1;
                        assert_eq!(Some(ours), theirs.as_deref(), "{input}");
                    }
                }
            }
        }
        // It must not pass by vouching for nothing: most numbers that are valid exactly as
        // written take the fast path (the rest have a leading zero, a non-geographic code or
        // a prefix the parser could strip).
        assert!(checked > 5_000, "{checked} numbers checked");
        assert!(
            vouched * 10 >= canonical_valid * 9,
            "vouched for {vouched} of {canonical_valid} valid canonical numbers"
        );
    }

    #[test]
    fn prepares_a_region_ahead_of_its_first_number() {
        prepare("GB");
        let gb = INDEX
            .regions
            .iter()
            .find(|r| r.meta.id() == "GB")
            .expect("GB is in the metadata");
        assert!(gb.compiled.get().is_some_and(Option::is_some));
        assert_eq!(valid_e164("+447400123456"), Some("+447400123456"));
    }

    #[test]
    fn takes_japanese_numbers_and_leaves_what_the_parser_must_decide() {
        for number in [
            "+819012345678",
            "+818012345678",
            "+817012345678",
            "+81312345678",
        ] {
            assert_eq!(valid_e164(number), Some(number), "{number}");
        }
        for unsure in [
            "+8109012345678", // the trunk prefix, which the parser drops
            "+390236618300",  // Italy's leading zero
            "+80012345678",   // non-geographic (International Freephone)
            "819012345678",   // no `+`
            "+81 90 1234 5678",
            "+81901234", // too short to be valid: the crate says why
            "+0819012345678",
            "+",
        ] {
            assert_eq!(valid_e164(unsure), None, "{unsure}");
        }
    }

    proptest::proptest! {
        /// Whatever it vouches for, the crate accepts in exactly that form.
        #[test]
        fn vouches_only_for_what_the_crate_accepts(
            code in proptest::sample::select(INDEX.by_code.keys().copied().collect::<Vec<_>>()),
            national in "[0-9]{1,15}",
        ) {
            let input = format!("+{code}{national}");
            if let Some(ours) = valid_e164(&input) {
                let theirs = crate_answer(&input);
                proptest::prop_assert_eq!(Some(ours), theirs.as_deref());
            }
        }
    }
}

//! GSM-7 look-alikes for characters that would otherwise force a whole message into UCS-2.
//!
//! One smart quote pasted from a word processor turns a 160-character message into a
//! 70-character one and can triple its price; the API reports these so a client can offer the
//! swap. Every replacement is itself GSM-7 (a unit test checks).

use std::borrow::Cow;

/// Printable ASCII from `!` (0x21) to `~` (0x7E); slicing it yields `&'static str` for the
/// full-width forms without a 94-entry table.
const ASCII_PRINTABLE: &str = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// A GSM-7 replacement for `c`, if a natural one exists. `Some("")` means the character is
/// invisible (zero-width space, soft hyphen, byte order mark) and can simply be dropped.
pub fn replacement(c: char) -> Option<&'static str> {
    let replacement = match c {
        // Quotes and apostrophes. The backtick is ASCII but not GSM-7.
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' | '`' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' => "\"",
        '\u{2039}' => "<",
        '\u{203A}' => ">",
        // Dashes and minus signs.
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' => "-",
        '\u{2026}' => "...",
        '\u{2022}' | '\u{00B7}' => "*",
        // Spaces: no-break, typographic, ideographic; tab.
        '\t' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        '\u{2028}' | '\u{2029}' => "\n",
        // Invisible characters.
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => "",
        // Full-width ASCII (common in Japanese input): U+FF01..U+FF5E map to U+0021..U+007E.
        '\u{FF40}' => "'", // full-width backtick: '`' itself is not GSM-7
        '\u{FF01}'..='\u{FF5E}' => {
            let index = c as usize - 0xFF01;
            &ASCII_PRINTABLE[index..index + 1]
        }
        '\u{FFE0}' => "c",
        '\u{FFE1}' => "£",
        '\u{FFE5}' => "¥",
        '\u{FFE6}' => "W",
        // Symbols that look like GSM-7 Greek capitals.
        '\u{2126}' => "Ω",
        '\u{2206}' => "Δ",
        '\u{00A9}' => "(c)",
        '\u{00AE}' => "(R)",
        '\u{2122}' => "TM",
        // Latin letters with accents GSM-7 lacks: the base letter. ç is the exception: GSM-7
        // 0x09 was meant as ç and is shown as Ç by most handsets.
        'ç' => "Ç",
        'á' | 'â' | 'ã' | 'ā' | 'ă' | 'ą' => "a",
        'Á' | 'À' | 'Â' | 'Ã' | 'Ā' | 'Ă' | 'Ą' => "A",
        'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'È' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'Í' | 'Ì' | 'Î' | 'Ï' | 'Ī' | 'Į' | 'İ' => "I",
        'ó' | 'ô' | 'õ' | 'ō' | 'ő' => "o",
        'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ō' | 'Ő' => "O",
        'ú' | 'û' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'Ú' | 'Ù' | 'Û' | 'Ū' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ć' | 'č' => "c",
        'Ć' | 'Č' => "C",
        'ń' | 'ň' => "n",
        'Ń' | 'Ň' => "N",
        'ś' | 'š' | 'ş' => "s",
        'Ś' | 'Š' | 'Ş' => "S",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ł' => "l",
        'Ł' => "L",
        'ř' => "r",
        'Ř' => "R",
        'ť' => "t",
        'Ť' => "T",
        'ď' | 'đ' => "d",
        'Ď' | 'Đ' => "D",
        'ğ' => "g",
        'Ğ' => "G",
        'œ' => "oe",
        'Œ' => "OE",
        _ => return None,
    };
    Some(replacement)
}

/// `body` with every character that has a [`replacement`] replaced; characters without one
/// are kept, so the result is GSM-7 only if every forcing character had a replacement.
/// Borrows when nothing changes.
pub fn apply_replacements(body: &str) -> Cow<'_, str> {
    // No GSM-7 character has a replacement (a unit test checks), so GSM-7 text is left as is.
    let Some(first) = body.find(|c| replacement(c).is_some()) else {
        return Cow::Borrowed(body);
    };
    let mut out = String::with_capacity(body.len());
    out.push_str(&body[..first]);
    for c in body[first..].chars() {
        match replacement(c) {
            Some(swap) => out.push_str(swap),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::is_gsm7;

    #[test]
    fn every_replacement_is_gsm7() {
        for c in (0u32..0x1_0000).filter_map(char::from_u32) {
            if let Some(swap) = replacement(c) {
                assert!(is_gsm7(swap), "{c:?} -> {swap:?}");
            }
        }
    }

    #[test]
    fn no_gsm7_character_has_a_replacement() {
        // A replacement for a character that is already GSM-7 would be a silent rewrite.
        for c in (0u32..0x1_0000).filter_map(char::from_u32) {
            if is_gsm7(c.encode_utf8(&mut [0; 4])) {
                assert_eq!(replacement(c), None, "{c:?}");
            }
        }
    }

    #[test]
    fn common_swaps() {
        assert_eq!(replacement('\u{201C}'), Some("\""));
        assert_eq!(replacement('\u{2019}'), Some("'"));
        assert_eq!(replacement('\u{2014}'), Some("-"));
        assert_eq!(replacement('\u{2026}'), Some("..."));
        assert_eq!(replacement('\u{00A0}'), Some(" "));
        assert_eq!(replacement('！'), Some("!"));
        assert_eq!(replacement('Ａ'), Some("A"));
        assert_eq!(replacement('９'), Some("9"));
        assert_eq!(replacement('ｚ'), Some("z"));
        assert_eq!(replacement('～'), Some("~"));
        assert_eq!(replacement('あ'), None);
        assert_eq!(replacement('😀'), None);
    }

    #[test]
    fn apply() {
        assert!(matches!(
            apply_replacements("plain"),
            Cow::Borrowed("plain")
        ));
        assert_eq!(apply_replacements("“Hi”… ＡＢＣ１２３"), "\"Hi\"... ABC123");
        assert_eq!(apply_replacements("日本 — ok"), "日本 - ok");
    }
}

//! Body generators that reach the interesting cases: extension characters (two septets),
//! characters outside the BMP (two UTF-16 units), kana, and characters that are almost GSM-7.

use proptest::prelude::*;

/// Every GSM-7 character: the default alphabet without the escape, and the extension table.
pub const GSM7_CHARS: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
    "\u{0C}^{}\\[~]|€",
);

/// Characters that are not GSM-7, from the traps: look-alikes, kana, emoji, controls.
const OTHER_CHARS: &str = "`\t\u{1B}\u{A0}’“”—…！Ａ９あいうアイウ漢字ｶﾅçáÁ😀🇯🇵👍\u{200B}\u{FEFF}";

pub fn gsm7_char() -> impl Strategy<Value = char> {
    let chars: Vec<char> = GSM7_CHARS.chars().collect();
    proptest::sample::select(chars)
}

pub fn other_char() -> impl Strategy<Value = char> {
    let chars: Vec<char> = OTHER_CHARS.chars().collect();
    prop_oneof![proptest::sample::select(chars), any::<char>()]
}

pub fn gsm7_body(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(gsm7_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
}

/// Mostly GSM-7 with some other characters, so both encodings and every boundary show up.
pub fn mixed_body(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![8 => gsm7_char(), 2 => other_char()], 0..max)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Either kind, long enough to need up to about a dozen segments.
pub fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![gsm7_body(1_800), mixed_body(900), any::<String>()]
}

//! The GSM 03.38 (3GPP TS 23.038) 7-bit default alphabet and its extension table.
//!
//! Septets are carried unpacked (one per byte) by SMPP `data_coding` 0x00 and packed eight to
//! seven bytes on the air interface; both forms are here.

/// Escape to the extension table: an extension character costs this septet plus its own.
pub(crate) const ESC: u8 = 0x1B;

/// Shown for bytes that no table defines, so decoding never fails.
const REPLACEMENT: char = '\u{FFFD}';

/// The default alphabet, indexed by septet. 0x1B is the escape, not a character: a U+001B in
/// a body is therefore not GSM-7.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (code after ESC, character).
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// How one character is written in GSM-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Septet {
    Basic(u8),
    /// Written as ESC followed by this code: two septets.
    Extended(u8),
}

impl Septet {
    pub(crate) fn units(self) -> usize {
        match self {
            Self::Basic(_) => 1,
            Self::Extended(_) => 2,
        }
    }
}

const NOT_GSM: u8 = 0xFF;
const EXTENDED_FLAG: u8 = 0x80;

/// ASCII lookup built at compile time from the tables above, so the common case (ASCII text)
/// is one array index and the two tables stay the single source of truth.
static ASCII_SEPTETS: [u8; 128] = ascii_septets();

const fn ascii_septets() -> [u8; 128] {
    let mut table = [NOT_GSM; 128];
    let mut i = 0;
    while i < BASIC.len() {
        let c = BASIC[i] as usize;
        if c < 128 && i != ESC as usize {
            table[c] = i as u8;
        }
        i += 1;
    }
    let mut j = 0;
    while j < EXTENSION.len() {
        let (code, c) = EXTENSION[j];
        if (c as usize) < 128 {
            table[c as usize] = EXTENDED_FLAG | code;
        }
        j += 1;
    }
    table
}

/// The septet(s) for `c`, or `None` when `c` is not in GSM-7.
#[inline]
pub(crate) fn septet(c: char) -> Option<Septet> {
    if c.is_ascii() {
        let code = ASCII_SEPTETS[c as usize];
        return match code {
            NOT_GSM => None,
            _ if code & EXTENDED_FLAG != 0 => Some(Septet::Extended(code & !EXTENDED_FLAG)),
            _ => Some(Septet::Basic(code)),
        };
    }
    non_ascii_septet(c)
}

fn non_ascii_septet(c: char) -> Option<Septet> {
    let code = match c {
        '£' => 0x01,
        '¥' => 0x03,
        'è' => 0x04,
        'é' => 0x05,
        'ù' => 0x06,
        'ì' => 0x07,
        'ò' => 0x08,
        'Ç' => 0x09,
        'Ø' => 0x0B,
        'ø' => 0x0C,
        'Å' => 0x0E,
        'å' => 0x0F,
        'Δ' => 0x10,
        'Φ' => 0x12,
        'Γ' => 0x13,
        'Λ' => 0x14,
        'Ω' => 0x15,
        'Π' => 0x16,
        'Ψ' => 0x17,
        'Σ' => 0x18,
        'Θ' => 0x19,
        'Ξ' => 0x1A,
        'Æ' => 0x1C,
        'æ' => 0x1D,
        'ß' => 0x1E,
        'É' => 0x1F,
        '¤' => 0x24,
        '¡' => 0x40,
        'Ä' => 0x5B,
        'Ö' => 0x5C,
        'Ñ' => 0x5D,
        'Ü' => 0x5E,
        '§' => 0x5F,
        '¿' => 0x60,
        'ä' => 0x7B,
        'ö' => 0x7C,
        'ñ' => 0x7D,
        'ü' => 0x7E,
        'à' => 0x7F,
        '€' => return Some(Septet::Extended(0x65)),
        _ => return None,
    };
    Some(Septet::Basic(code))
}

/// Septets of an all-ASCII body and whether any character costs two, or `None` if a byte is
/// not GSM-7 (the backtick, most controls). Branch-light on purpose: most bodies are ASCII.
pub(crate) fn ascii_septets_of(ascii: &[u8]) -> Option<(usize, bool)> {
    let mut septets = 0;
    let mut extended = 0;
    for &byte in ascii {
        let code = ASCII_SEPTETS[usize::from(byte & 0x7F)];
        if code == NOT_GSM {
            return None;
        }
        let wide = usize::from(code >> 7);
        septets += 1 + wide;
        extended |= wide;
    }
    Some((septets, extended != 0))
}

pub(crate) fn is_gsm7(body: &str) -> bool {
    body.chars().all(|c| septet(c).is_some())
}

pub(crate) fn encode_unpacked(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match septet(c)? {
            Septet::Basic(code) => out.push(code),
            Septet::Extended(code) => out.extend_from_slice(&[ESC, code]),
        }
    }
    Some(out)
}

/// Decodes unpacked septets. Bytes above 0x7F and a trailing lone ESC become U+FFFD. An ESC
/// followed by a code the extension table does not define shows the default-table character
/// for that code, and ESC ESC shows a space, as TS 23.038 6.2.1.1 tells receivers to do.
pub(crate) fn decode_unpacked(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied();
    while let Some(byte) = iter.next() {
        let c = match byte {
            ESC => match iter.next() {
                None => REPLACEMENT,
                Some(ESC) => ' ',
                Some(code) => extension_char(code).unwrap_or_else(|| basic_char(code)),
            },
            _ => basic_char(byte),
        };
        out.push(c);
    }
    out
}

fn basic_char(code: u8) -> char {
    BASIC.get(usize::from(code)).copied().unwrap_or(REPLACEMENT)
}

fn extension_char(code: u8) -> Option<char> {
    EXTENSION
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, ch)| *ch)
}

/// Packs septets LSB first, eight septets into seven bytes (TS 23.038 6.1.2.1.1). High bits of
/// the input are ignored. When the last byte has seven spare bits they are filled with CR
/// (6.1.2.3.1), so a receiver that counts from the length in bytes does not show a stray `@`.
pub(crate) fn pack(septets: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((septets.len() * 7).div_ceil(8));
    let mut acc: u16 = 0;
    let mut bits = 0u32;
    for &septet in septets {
        acc |= u16::from(septet & 0x7F) << bits;
        bits += 7;
        if bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        if bits == 1 {
            acc |= 0x0D << 1;
        }
        out.push(acc as u8);
    }
    out
}

/// Unpacks `count` septets; a `bytes` too short for `count` yields as many as it holds.
pub(crate) fn unpack(bytes: &[u8], count: usize) -> Vec<u8> {
    let available = bytes.len() * 8 / 7;
    let count = count.min(available);
    let mut out = Vec::with_capacity(count);
    let mut acc: u16 = 0;
    let mut bits = 0u32;
    let mut input = bytes.iter();
    while out.len() < count {
        if bits < 7 {
            // `count <= available` guarantees a byte is left whenever fewer than 7 bits are.
            let Some(&byte) = input.next() else { break };
            acc |= u16::from(byte) << bits;
            bits += 8;
        }
        out.push((acc & 0x7F) as u8);
        acc >>= 7;
        bits -= 7;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_lookup_agree() {
        for (code, &c) in BASIC.iter().enumerate() {
            if code == usize::from(ESC) {
                assert_eq!(septet(c), None, "U+001B is the escape, not a character");
            } else {
                assert_eq!(septet(c), Some(Septet::Basic(code as u8)), "{c:?}");
            }
        }
        for (code, c) in EXTENSION {
            assert_eq!(septet(c), Some(Septet::Extended(code)), "{c:?}");
        }
    }

    #[test]
    fn alphabet_landmarks() {
        assert_eq!(septet('@'), Some(Septet::Basic(0x00)));
        assert_eq!(septet('£'), Some(Septet::Basic(0x01)));
        assert_eq!(septet('$'), Some(Septet::Basic(0x02)));
        assert_eq!(septet('\n'), Some(Septet::Basic(0x0A)));
        assert_eq!(septet('_'), Some(Septet::Basic(0x11)));
        assert_eq!(septet(' '), Some(Septet::Basic(0x20)));
        assert_eq!(septet('€'), Some(Septet::Extended(0x65)));
        assert_eq!(septet('\u{0C}'), Some(Septet::Extended(0x0A)));
        for c in ['`', '\t', '\u{1B}', 'á', 'ç', 'あ', '😀', '\u{A0}'] {
            assert_eq!(septet(c), None, "{c:?}");
        }
    }

    #[test]
    fn encode_unpacked_writes_escape_pairs() {
        assert_eq!(
            encode_unpacked("A€{").unwrap(),
            [0x41, 0x1B, 0x65, 0x1B, 0x28]
        );
        assert_eq!(encode_unpacked("@£$"), Some(vec![0x00, 0x01, 0x02]));
        assert_eq!(encode_unpacked("あ"), None);
    }

    #[test]
    fn decode_handles_junk_as_the_spec_says() {
        assert_eq!(decode_unpacked(&[0x41, 0x1B]), "A\u{FFFD}");
        assert_eq!(decode_unpacked(&[0x1B, 0x1B, 0x41]), " A");
        // 0x41 is not in the extension table: show the default-table 'A'.
        assert_eq!(decode_unpacked(&[0x1B, 0x41]), "A");
        assert_eq!(decode_unpacked(&[0x80, 0xFF]), "\u{FFFD}\u{FFFD}");
        assert_eq!(decode_unpacked(&[0x1B, 0x65]), "€");
    }

    #[test]
    fn pack_known_vectors() {
        // "hellohello" from TS 23.038 examples / common references.
        let septets = encode_unpacked("hellohello").unwrap();
        assert_eq!(
            pack(&septets),
            [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
        assert_eq!(
            pack(&encode_unpacked("Test").unwrap()),
            [0xD4, 0xF2, 0x9C, 0x0E]
        );
        // Seven septets leave seven spare bits: filled with CR.
        let seven = encode_unpacked("1234567").unwrap();
        let packed = pack(&seven);
        assert_eq!(packed.len(), 7);
        assert_eq!(packed[6] >> 1, 0x0D);
        assert_eq!(unpack(&packed, 7), seven);
    }

    #[test]
    fn unpack_is_bounded_by_input() {
        assert_eq!(unpack(&[], 5), Vec::<u8>::new());
        assert_eq!(unpack(&[0xFF], 5).len(), 1);
        assert_eq!(unpack(&[0xFF; 7], 100).len(), 8);
    }
}

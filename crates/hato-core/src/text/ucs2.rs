//! UTF-16BE, which is what SMPP `data_coding` 0x08 carries in practice: carriers and handsets
//! accept surrogate pairs, so an emoji is sent as two code units rather than refused.

pub(crate) fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Lossy: an unpaired surrogate or a trailing odd byte becomes U+FFFD.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut out: String = char::decode_utf16(units)
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if bytes.len() % 2 == 1 {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bmp_and_surrogates() {
        let text = "こんにちは😀";
        let bytes = encode(text);
        assert_eq!(&bytes[..2], [0x30, 0x53]);
        assert_eq!(&bytes[10..], [0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode(&bytes), text);
    }

    #[test]
    fn decode_is_lossy_not_panicky() {
        assert_eq!(decode(&[0xD8, 0x3D]), "\u{FFFD}");
        assert_eq!(decode(&[0x00, 0x41, 0x00]), "A\u{FFFD}");
        assert_eq!(decode(&[]), "");
    }
}

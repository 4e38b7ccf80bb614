//! ISO-8859-1, which some SMSCs use for inbound messages (SMPP `data_coding` 0x03).

/// Every byte is the code point of the same value, so decoding cannot fail.
pub(crate) fn decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_every_byte() {
        assert_eq!(super::decode(&[0x48, 0xE9, 0xFF]), "Héÿ");
        assert_eq!(super::decode(&[0x00]), "\0");
    }
}

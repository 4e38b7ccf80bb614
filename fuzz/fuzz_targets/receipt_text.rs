//! Delivery-receipt text (`id:… sub:… stat:… err:… text:…`, SMPP 3.4 Appendix B) from an SMSC:
//! `receipt::parse_receipt_text`, `normalise_receipt_date`, `ReceiptState::from_stat`, and the
//! whole receipt `deliver_sm` through `inbound::classify`.
//!
//! Input: the first byte is the `data_coding`, the rest the `short_message`; the same bytes
//! also drive a formatted receipt for the round trip.
//!
//! Properties:
//! - a text is a receipt exactly when a key (`id:`, `stat:`, …) starts a word in it;
//! - every field found is in the text, trimmed, and reaches no further than the next key;
//!   `text:` runs to the end;
//! - dates normalise to 12 digits, as documented for 10, 12 and 14 digits;
//! - `from_stat` is stable through `as_stat`;
//! - `format_receipt_text` then `parse_receipt_text` gives every field back (any values
//!   without white space, any `text`);
//! - a classified receipt has a non-blank id, its state, an error code that is not zero, and
//!   normalised dates.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use hato_smpp::inbound::{Inbound, classify};
use hato_smpp::long_message::decode_text;
use hato_smpp::pdu::{ESM_DELIVERY_RECEIPT, MessageView};
use hato_smpp::receipt::{
    ReceiptState, ReceiptText, format_receipt_text, normalise_receipt_date, parse_receipt_text,
};
use libfuzzer_sys::fuzz_target;

/// Every spelling the parser knows, lowercase, without the colon.
const KEYS: &[&str] = &[
    "id",
    "sub",
    "dlvrd",
    "submit date",
    "submit_date",
    "submitdate",
    "done date",
    "done_date",
    "donedate",
    "stat",
    "err",
    "text",
];

/// Positions where a key followed by `:` starts a word of `text`: at its start or after ASCII
/// white space, as the parser reads it.
fn keys_starting_words(text: &str) -> impl Iterator<Item = usize> + '_ {
    let lower = text.to_ascii_lowercase();
    let mut starts: Vec<usize> = KEYS
        .iter()
        .flat_map(|key| {
            let needle = format!("{key}:");
            lower
                .match_indices(&needle)
                .map(|(at, _)| at)
                .filter(|&at| at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace())
                .collect::<Vec<_>>()
        })
        .collect();
    starts.sort_unstable();
    starts.into_iter()
}

fn key_starts_a_word(text: &str) -> bool {
    keys_starting_words(text).next().is_some()
}

fn fields(r: &ReceiptText) -> [(&'static str, Option<&str>); 7] {
    [
        ("id", r.id.as_deref()),
        ("sub", r.sub.as_deref()),
        ("dlvrd", r.dlvrd.as_deref()),
        ("submit date", r.submit_date.as_deref()),
        ("done date", r.done_date.as_deref()),
        ("stat", r.stat.as_deref()),
        ("err", r.err.as_deref()),
    ]
}

fn check_date(date: &str) {
    let normalised = normalise_receipt_date(date);
    let digits = date.trim();
    let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
    let expected = match digits.len() {
        10 if all_digits => Some(format!("{digits}00")),
        12 if all_digits => Some(digits.to_owned()),
        14 if all_digits => Some(digits[2..].to_owned()),
        _ => None,
    };
    assert_eq!(normalised, expected, "date {date:?}");
}

fn check_parse(text: &str) {
    let parsed = parse_receipt_text(text);
    assert_eq!(
        parsed.is_some(),
        key_starts_a_word(text),
        "a receipt exactly when a key starts a word: {text:?}"
    );
    let Some(parsed) = parsed else {
        return;
    };
    assert_ne!(parsed, ReceiptText::default(), "a receipt has a field");
    for (name, value) in fields(&parsed) {
        let Some(value) = value else { continue };
        assert_eq!(value, value.trim(), "{name} is trimmed");
        assert!(text.contains(value), "{name} comes from the text");
        // A value ends where the next key starts.
        assert!(
            keys_starting_words(value).all(|at| at == 0),
            "{name} = {value:?} runs over a key"
        );
    }
    if let Some(rest) = &parsed.text {
        assert!(text.ends_with(rest.as_str()), "text: runs to the end");
    }
    for date in [&parsed.submit_date, &parsed.done_date]
        .into_iter()
        .flatten()
    {
        check_date(date);
    }
    if let Some(stat) = &parsed.stat {
        let state = ReceiptState::from_stat(stat);
        assert_eq!(ReceiptState::from_stat(state.as_stat()), state);
    }
}

/// A value without white space: it cannot start a key of its own, so it must come back whole.
fn word(u: &mut Unstructured) -> arbitrary::Result<String> {
    Ok(String::arbitrary(u)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect())
}

fn check_round_trip(u: &mut Unstructured) -> arbitrary::Result<()> {
    let id = word(u)?;
    let (sub, dlvrd) = (u32::arbitrary(u)?, u32::arbitrary(u)?);
    let (submit, done, err) = (word(u)?, word(u)?, word(u)?);
    let state = *u.choose(&ReceiptState::ALL)?;
    let text = String::arbitrary_take_rest(std::mem::replace(u, Unstructured::new(&[])))?;
    let formatted = format_receipt_text(&id, sub, dlvrd, &submit, &done, state, &err, &text);
    let parsed = parse_receipt_text(&formatted).expect("a formatted receipt parses");
    let sub = format!("{sub:03}");
    let dlvrd = format!("{dlvrd:03}");
    assert_eq!(parsed.id.as_deref(), Some(id.as_str()), "{formatted:?}");
    assert_eq!(parsed.sub.as_deref(), Some(sub.as_str()));
    assert_eq!(parsed.dlvrd.as_deref(), Some(dlvrd.as_str()));
    assert_eq!(parsed.submit_date.as_deref(), Some(submit.as_str()));
    assert_eq!(parsed.done_date.as_deref(), Some(done.as_str()));
    assert_eq!(parsed.stat.as_deref(), Some(state.as_stat()));
    assert_eq!(parsed.err.as_deref(), Some(err.as_str()));
    assert_eq!(parsed.text.as_deref(), Some(text.as_str()));
    Ok(())
}

fn check_classify(data_coding: u8, short_message: &[u8]) {
    let view = MessageView {
        source_ton: 1,
        source: "819011112222".into(),
        destination_ton: 5,
        destination: "Hato".into(),
        esm_class: ESM_DELIVERY_RECEIPT,
        data_coding,
        short_message: short_message.to_vec(),
        ..MessageView::default()
    };
    let fields = parse_receipt_text(&decode_text(data_coding, short_message)).unwrap_or_default();
    match classify("fuzz", &view) {
        Inbound::Receipt(receipt) => {
            assert_eq!(Some(&receipt.message_id), fields.id.as_ref());
            assert!(!receipt.message_id.trim().is_empty());
            let state = fields
                .stat
                .as_deref()
                .map_or(ReceiptState::Unknown, ReceiptState::from_stat);
            assert_eq!(receipt.state, state);
            if let Some(code) = &receipt.error_code {
                assert_eq!(Some(code), fields.err.as_ref());
                assert!(!code.is_empty() && !code.bytes().all(|b| b == b'0'));
            }
            let normalised =
                |date: &Option<String>| date.as_deref().and_then(normalise_receipt_date);
            assert_eq!(receipt.submit_date, normalised(&fields.submit_date));
            assert_eq!(receipt.done_date, normalised(&fields.done_date));
            assert_eq!(receipt.recipient, "+819011112222");
        }
        Inbound::Unusable(_) => {
            assert!(fields.id.is_none_or(|id| id.trim().is_empty()));
        }
        other => panic!("a receipt deliver_sm classified as {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_parse(text);
    }
    if let Some((&data_coding, short_message)) = data.split_first() {
        check_parse(&decode_text(data_coding, short_message));
        check_classify(data_coding, short_message);
    }
    let _ = check_round_trip(&mut Unstructured::new(data));
});

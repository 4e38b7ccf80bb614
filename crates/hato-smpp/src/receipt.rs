//! Delivery receipts: the `deliver_sm` an SMSC sends when a message reaches its final state.
//!
//! The facts come from two places, TLVs first: `receipted_message_id`, `message_state` and
//! `network_error_code` (SMPP 3.4 §5.3.2), then the de-facto text format of Appendix B:
//!
//! ```text
//! id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//! ```
//!
//! The text parser is liberal: any case, fields in any order or missing, `submit_date` or
//! `submitdate` spellings, 10- or 12-digit dates, and anything after `text:` is kept as is.

/// The final (or intermediate) state a receipt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    /// `DELIVRD`: the handset has it.
    Delivered,
    /// `UNDELIV`: it could not be delivered.
    Undelivered,
    /// `EXPIRED`: the validity period passed.
    Expired,
    /// `DELETED`: deleted at the SMSC.
    Deleted,
    /// `REJECTD`: rejected by the network.
    Rejected,
    /// `ACCEPTD`: accepted on the recipient's behalf (intermediate).
    Accepted,
    /// `ENROUTE`: still on its way (intermediate).
    Enroute,
    /// `UNKNOWN` or anything unrecognised.
    Unknown,
}

impl ReceiptState {
    /// Every state, in declaration order.
    pub const ALL: [ReceiptState; 8] = [
        Self::Delivered,
        Self::Undelivered,
        Self::Expired,
        Self::Deleted,
        Self::Rejected,
        Self::Accepted,
        Self::Enroute,
        Self::Unknown,
    ];

    /// From a `stat:` value: case-insensitive, long forms (`DELIVERED`, `UNDELIVERABLE`) too.
    pub fn from_stat(stat: &str) -> Self {
        let stat = stat.trim().to_ascii_uppercase();
        let starts = |prefix: &str| stat.starts_with(prefix);
        if starts("DELIV") {
            Self::Delivered
        } else if starts("UNDELIV") {
            Self::Undelivered
        } else if starts("EXPIR") {
            Self::Expired
        } else if starts("DELET") {
            Self::Deleted
        } else if starts("REJECT") {
            Self::Rejected
        } else if starts("ACCEPT") {
            Self::Accepted
        } else if starts("ENROUTE") {
            Self::Enroute
        } else {
            Self::Unknown
        }
    }

    /// From the `message_state` TLV value (SMPP 3.4 §5.2.28).
    pub fn from_message_state(state: u8) -> Self {
        match state {
            1 => Self::Enroute,
            2 => Self::Delivered,
            3 => Self::Expired,
            4 => Self::Deleted,
            5 => Self::Undelivered,
            6 => Self::Accepted,
            8 => Self::Rejected,
            _ => Self::Unknown,
        }
    }

    /// The `message_state` TLV value.
    pub fn message_state(self) -> u8 {
        match self {
            Self::Enroute => 1,
            Self::Delivered => 2,
            Self::Expired => 3,
            Self::Deleted => 4,
            Self::Undelivered => 5,
            Self::Accepted => 6,
            Self::Unknown => 7,
            Self::Rejected => 8,
        }
    }

    /// The 7-letter `stat:` value.
    pub fn as_stat(self) -> &'static str {
        match self {
            Self::Delivered => "DELIVRD",
            Self::Undelivered => "UNDELIV",
            Self::Expired => "EXPIRED",
            Self::Deleted => "DELETED",
            Self::Rejected => "REJECTD",
            Self::Accepted => "ACCEPTD",
            Self::Enroute => "ENROUTE",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Whether no later receipt will change the outcome (everything but `Enroute`,
    /// `Accepted` and `Unknown`).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Enroute | Self::Accepted | Self::Unknown)
    }
}

/// A delivery receipt, as the engine receives it in [`ConnectorEvent::Receipt`](crate::ConnectorEvent::Receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The connector it came through.
    pub connector: String,
    /// The carrier's id of the submitted message, as received; match it with
    /// [`message_id_candidates`](crate::message_id_candidates).
    pub message_id: String,
    /// What happened to the message.
    pub state: ReceiptState,
    /// The `err:` field or the `network_error_code` TLV (as `"<type>:<code>"`), if any.
    pub error_code: Option<String>,
    /// When the message was submitted, as 12 digits `YYMMDDhhmmss` (seconds `00` when the
    /// SMSC sent 10 digits).
    pub submit_date: Option<String>,
    /// When the final state was reached, same format.
    pub done_date: Option<String>,
    /// The recipient of the original message (the receipt's `source_addr`).
    pub recipient: String,
}

/// The fields of a receipt text, each as found (trimmed); missing fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptText {
    /// `id:`
    pub id: Option<String>,
    /// `sub:`
    pub sub: Option<String>,
    /// `dlvrd:`
    pub dlvrd: Option<String>,
    /// `submit date:`
    pub submit_date: Option<String>,
    /// `done date:`
    pub done_date: Option<String>,
    /// `stat:`
    pub stat: Option<String>,
    /// `err:`
    pub err: Option<String>,
    /// `text:` (everything after it)
    pub text: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Spellings of each key, lowercase, without the colon.
const KEYS: &[(&str, Field)] = &[
    ("id", Field::Id),
    ("sub", Field::Sub),
    ("dlvrd", Field::Dlvrd),
    ("submit date", Field::SubmitDate),
    ("submit_date", Field::SubmitDate),
    ("submitdate", Field::SubmitDate),
    ("done date", Field::DoneDate),
    ("done_date", Field::DoneDate),
    ("donedate", Field::DoneDate),
    ("stat", Field::Stat),
    ("err", Field::Err),
    ("text", Field::Text),
];

/// Parses a receipt text; never fails, never panics. Returns `None` when no field is found
/// at all (the text is not a receipt).
pub fn parse_receipt_text(input: &str) -> Option<ReceiptText> {
    let lower = input.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    // (field, key start, value start)
    let mut found: Vec<(Field, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || bytes[i - 1].is_ascii_whitespace();
        if at_boundary {
            let hit = KEYS.iter().find_map(|(key, field)| {
                let end = i + key.len();
                (lower.get(i..end) == Some(key) && bytes.get(end) == Some(&b':'))
                    .then_some((*field, end + 1))
            });
            if let Some((field, value_start)) = hit {
                found.push((field, i, value_start));
                if field == Field::Text {
                    break;
                }
                i = value_start;
                continue;
            }
        }
        i += 1;
    }
    if found.is_empty() {
        return None;
    }
    let mut receipt = ReceiptText::default();
    for (index, &(field, _, value_start)) in found.iter().enumerate() {
        let value_end = found.get(index + 1).map_or(input.len(), |next| next.1);
        // Keys are ASCII, so byte offsets in `lower` are char boundaries in `input` too.
        let raw = &input[value_start..value_end];
        let value = if field == Field::Text {
            raw.to_owned()
        } else {
            raw.trim().to_owned()
        };
        let slot = match field {
            Field::Id => &mut receipt.id,
            Field::Sub => &mut receipt.sub,
            Field::Dlvrd => &mut receipt.dlvrd,
            Field::SubmitDate => &mut receipt.submit_date,
            Field::DoneDate => &mut receipt.done_date,
            Field::Stat => &mut receipt.stat,
            Field::Err => &mut receipt.err,
            Field::Text => &mut receipt.text,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    Some(receipt)
}

/// A receipt date normalised to 12 digits `YYMMDDhhmmss`: 10 digits get `00` seconds,
/// 12 are kept, 14 (`YYYYMMDDhhmmss`) lose the century; anything else is `None`.
pub fn normalise_receipt_date(date: &str) -> Option<String> {
    let date = date.trim();
    if !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match date.len() {
        10 => Some(format!("{date}00")),
        12 => Some(date.to_owned()),
        14 => Some(date[2..].to_owned()),
        _ => None,
    }
}

/// Writes the Appendix B receipt text (used by the simulator and in tests).
#[allow(clippy::too_many_arguments)]
pub fn format_receipt_text(
    id: &str,
    submitted: u32,
    delivered: u32,
    submit_date: &str,
    done_date: &str,
    state: ReceiptState,
    err: &str,
    text: &str,
) -> String {
    format!(
        "id:{id} sub:{submitted:03} dlvrd:{delivered:03} submit date:{submit_date} done date:{done_date} stat:{} err:{err} text:{text}",
        state.as_stat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_standard_text() {
        let text = "id:0123456789 sub:001 dlvrd:001 submit date:2401021530 done date:240102153012 stat:DELIVRD err:000 text:Hello id:x";
        let r = parse_receipt_text(text).unwrap();
        assert_eq!(r.id.as_deref(), Some("0123456789"));
        assert_eq!(r.sub.as_deref(), Some("001"));
        assert_eq!(r.dlvrd.as_deref(), Some("001"));
        assert_eq!(r.submit_date.as_deref(), Some("2401021530"));
        assert_eq!(r.done_date.as_deref(), Some("240102153012"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Hello id:x"));
        assert_eq!(
            normalise_receipt_date(r.submit_date.as_deref().unwrap()).as_deref(),
            Some("240102153000")
        );
    }

    #[test]
    fn is_liberal() {
        let r = parse_receipt_text("ID:ab12 STAT:undeliv ERR:34 Submit_Date:2401021530").unwrap();
        assert_eq!(r.id.as_deref(), Some("ab12"));
        assert_eq!(
            ReceiptState::from_stat(r.stat.as_deref().unwrap()),
            ReceiptState::Undelivered
        );
        assert_eq!(r.err.as_deref(), Some("34"));
        assert_eq!(r.submit_date.as_deref(), Some("2401021530"));
        assert_eq!(r.dlvrd, None);
        assert!(parse_receipt_text("hello there").is_none());
        assert!(parse_receipt_text("").is_none());
    }

    #[test]
    fn states() {
        assert_eq!(
            ReceiptState::from_stat("delivered"),
            ReceiptState::Delivered
        );
        assert_eq!(ReceiptState::from_stat("EXPIRED"), ReceiptState::Expired);
        assert_eq!(ReceiptState::from_stat("REJECTD"), ReceiptState::Rejected);
        assert_eq!(ReceiptState::from_stat("weird"), ReceiptState::Unknown);
        for state in ReceiptState::ALL {
            assert_eq!(ReceiptState::from_stat(state.as_stat()), state);
            assert_eq!(
                ReceiptState::from_message_state(state.message_state()),
                state
            );
        }
    }

    fn state() -> impl Strategy<Value = ReceiptState> {
        prop_oneof![
            Just(ReceiptState::Delivered),
            Just(ReceiptState::Undelivered),
            Just(ReceiptState::Expired),
            Just(ReceiptState::Deleted),
            Just(ReceiptState::Rejected),
            Just(ReceiptState::Accepted),
            Just(ReceiptState::Enroute),
            Just(ReceiptState::Unknown),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(input in any::<String>()) {
            let _ = parse_receipt_text(&input);
        }

        #[test]
        fn never_panics_on_receipt_like_noise(input in "(id|stat|err|text|sub|dlvrd|done date|submit date|:| |[a-zA-Z0-9ー]){0,40}") {
            let _ = parse_receipt_text(&input);
        }

        #[test]
        fn format_then_parse_round_trips(
            id in "[0-9A-Za-z]{1,20}",
            sub in 0u32..1000,
            dlvrd in 0u32..1000,
            submit in "[0-9]{10}|[0-9]{12}",
            done in "[0-9]{10}|[0-9]{12}",
            state in state(),
            err in "[0-9]{3}",
            text in ".{0,20}",
        ) {
            let formatted = format_receipt_text(&id, sub, dlvrd, &submit, &done, state, &err, &text);
            let parsed = parse_receipt_text(&formatted).unwrap();
            prop_assert_eq!(parsed.id.as_deref(), Some(id.as_str()));
            prop_assert_eq!(parsed.submit_date.as_deref(), Some(submit.as_str()));
            prop_assert_eq!(parsed.done_date.as_deref(), Some(done.as_str()));
            prop_assert_eq!(ReceiptState::from_stat(parsed.stat.as_deref().unwrap()), state);
            prop_assert_eq!(parsed.err.as_deref(), Some(err.as_str()));
            prop_assert_eq!(parsed.text.as_deref(), Some(text.as_str()));
        }
    }
}

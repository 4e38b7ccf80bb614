//! Inbound (MO) long messages: user data headers (8- and 16-bit references, or any bytes the
//! fuzzer writes), SAR TLVs and `message_payload` read by `MessageView::content` and
//! `inbound::classify`, and the parts fed to `reassembly::Reassembler` in the order the
//! fuzzer chooses, with time passing, expiry and stored sets in between.
//!
//! Two kinds of input:
//! - `Steps`: deliveries, expiries and "stored" acknowledgements, checked step by step
//!   against a model of the documented behaviour: which push completes a set, what it
//!   assembles (the bytes of every position in order, decoded once when all parts share a
//!   `data_coding`, else part by part), which copies are answered as already stored, what
//!   expires. Whatever happens, every part's token comes back exactly once (from the push,
//!   an expiry or the final drain): no part is left unanswered or answered twice, and a
//!   message never has more parts or characters than were given.
//! - `RoundTrip`: a body split by `long_message::encode_message` (any mode, any part size),
//!   sent as `deliver_sm` through the PDU codec, delivered in any order with resent copies,
//!   reassembles to the body.
//!
//! The input is read front to back by [`Reader`] (a byte past the end reads as 0), so seeds
//! can be written by hand (corpus/mo_reassembly/):
//!
//! ```text
//! input     = kind:u8 (even: steps, odd: round trip) then
//! steps     = step*
//! step      = op:u8 % 3 == 0: deliver   later_ms:u16 flags:u8 header coding:u8 len:u8 body[len]
//!           |           1: expire    later_ms:u16
//!           |           2: store the last completed set
//! flags     = bit 0: second sender, bit 1: in message_payload
//! header    = kind:u8 % 5 == 0: UDH 8-bit   reference:u8 total:u8 seq:u8
//!           |               1: UDH 16-bit  reference:u16 total:u8 seq:u8
//!           |               2: SAR TLVs    reference:u16 total:u8 seq:u8
//!           |               3: raw UDH     len:u8 bytes[len]   (UDHI set, bytes as given)
//!           |               4: none
//! coding    = 0: GSM-7, 1: UCS-2, 2: Latin-1, else the data_coding byte itself
//! round trip = mode:u8 (% 4: UDH 8, UDH 16, SAR, payload) units:u8 (255: none, else % 68)
//!              reference:u16 len:u8 order[len] len:u8 resend[len] body (the rest, UTF-8)
//! ```
//! Integers are big-endian.

#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hato_smpp::LongMessageMode;
use hato_smpp::address::Address;
use hato_smpp::codec::{Frame, PduCodec};
use hato_smpp::inbound::{Inbound, classify};
use hato_smpp::long_message::{
    Concat, ConcatScheme, EncodeError, EncodeOptions, decode_text, encode_message, udh,
};
use hato_smpp::pdu::{ESM_UDHI, MessageView, deliver_sm};
use hato_smpp::reassembly::{Part, Push, Reassembler, SetKey};
use libfuzzer_sys::fuzz_target;
use rusmpp::{Command, CommandStatus, Pdu};
use tokio_util::codec::{Decoder, Encoder};

const TIMEOUT: Duration = Duration::from_secs(10);
const SENDERS: [&str; 2] = ["819011112222", "819033334444"];

#[derive(Debug)]
enum Header {
    Udh8 {
        reference: u8,
        total: u8,
        seq: u8,
    },
    Udh16 {
        reference: u16,
        total: u8,
        seq: u8,
    },
    Sar {
        reference: u16,
        total: u8,
        seq: u8,
    },
    /// A user data header written by the fuzzer, whatever it says.
    RawUdh(Vec<u8>),
    None,
}

#[derive(Debug)]
enum Coding {
    Gsm7,
    Ucs2,
    Latin1,
    Other(u8),
}

impl Coding {
    fn read(r: &mut Reader) -> Self {
        match r.u8() {
            0 => Self::Gsm7,
            1 => Self::Ucs2,
            2 => Self::Latin1,
            dc => Self::Other(dc),
        }
    }

    fn data_coding(&self) -> u8 {
        match self {
            Self::Gsm7 => 0x00,
            Self::Ucs2 => 0x08,
            Self::Latin1 => 0x03,
            Self::Other(dc) => *dc,
        }
    }
}

#[derive(Debug)]
struct Delivery {
    sender: bool,
    header: Header,
    coding: Coding,
    body: Vec<u8>,
    /// In `message_payload` with an empty `short_message`, as in a `data_sm`.
    in_payload: bool,
}

#[derive(Debug)]
enum Step {
    Deliver {
        delivery: Delivery,
        later_ms: u16,
    },
    Expire {
        later_ms: u16,
    },
    /// The engine stored the last completed message.
    StoreLast,
}

/// Reads the input front to back; past the end every byte is 0.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn u8(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }

    /// A length byte, then that many bytes.
    fn counted(&mut self) -> &'a [u8] {
        let len = self.u8();
        self.bytes(usize::from(len))
    }

    fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.0.len())
    }
}

impl Header {
    fn read(r: &mut Reader) -> Self {
        match r.u8() % 5 {
            0 => Self::Udh8 {
                reference: r.u8(),
                total: r.u8(),
                seq: r.u8(),
            },
            1 => Self::Udh16 {
                reference: r.u16(),
                total: r.u8(),
                seq: r.u8(),
            },
            2 => Self::Sar {
                reference: r.u16(),
                total: r.u8(),
                seq: r.u8(),
            },
            3 => Self::RawUdh(r.counted().to_vec()),
            _ => Self::None,
        }
    }
}

impl Step {
    fn read(r: &mut Reader) -> Self {
        match r.u8() % 3 {
            0 => {
                let later_ms = r.u16();
                let flags = r.u8();
                let header = Header::read(r);
                let coding = Coding::read(r);
                let body = r.counted().to_vec();
                Self::Deliver {
                    delivery: Delivery {
                        sender: flags & 1 != 0,
                        header,
                        coding,
                        body,
                        in_payload: flags & 2 != 0,
                    },
                    later_ms,
                }
            }
            1 => Self::Expire { later_ms: r.u16() },
            _ => Self::StoreLast,
        }
    }
}

impl Input {
    fn read(data: &[u8]) -> Self {
        let mut r = Reader(data);
        if r.u8() % 2 == 0 {
            let mut steps = Vec::new();
            while !r.is_empty() {
                steps.push(Step::read(&mut r));
            }
            return Self::Steps(steps);
        }
        let mode = r.u8();
        let units_per_part = Some(r.u8()).filter(|&units| units != 255);
        let reference = r.u16();
        let order = r.counted().iter().map(|&key| u16::from(key)).collect();
        let resend = r.counted().to_vec();
        let body = String::from_utf8_lossy(r.rest()).into_owned();
        Self::RoundTrip {
            body,
            mode,
            units_per_part,
            reference,
            order,
            resend,
        }
    }
}

#[derive(Debug)]
enum Input {
    Steps(Vec<Step>),
    RoundTrip {
        body: String,
        mode: u8,
        units_per_part: Option<u8>,
        reference: u16,
        /// Sort keys for the parts: the delivery order.
        order: Vec<u16>,
        /// Parts sent again, by position in the delivery order.
        resend: Vec<u8>,
    },
}

/// The view of a delivery, and what it is expected to classify as when the fuzzer spelled
/// the concatenation facts out: `Some(concat)` for a part, `None` for a single message.
fn view_of(delivery: &Delivery) -> (MessageView, Option<Option<Concat>>) {
    let concat_of = |reference, total, seq, scheme| Concat {
        reference,
        total,
        seq,
        scheme,
    };
    let (header, expected, esm_class, sar) = match delivery.header {
        Header::Udh8 {
            reference,
            total,
            seq,
        } => {
            let concat = concat_of(u16::from(reference), total, seq, ConcatScheme::Udh8);
            (udh(concat), Some(concat), ESM_UDHI, None)
        }
        Header::Udh16 {
            reference,
            total,
            seq,
        } => {
            let concat = concat_of(reference, total, seq, ConcatScheme::Udh16);
            (udh(concat), Some(concat), ESM_UDHI, None)
        }
        Header::Sar {
            reference,
            total,
            seq,
        } => {
            let concat = concat_of(reference, total, seq, ConcatScheme::Sar);
            (Vec::new(), Some(concat), 0, Some(concat))
        }
        Header::RawUdh(ref raw) => (raw.clone(), None, ESM_UDHI, None),
        Header::None => (Vec::new(), None, 0, None),
    };
    let known = !matches!(delivery.header, Header::RawUdh(_));
    let mut user_data = header;
    user_data.extend_from_slice(&delivery.body);
    let (short_message, payload) = if delivery.in_payload {
        (Vec::new(), Some(user_data))
    } else {
        (user_data, None)
    };
    let view = MessageView {
        source_ton: 1,
        source: SENDERS[usize::from(delivery.sender)].to_owned(),
        destination_ton: 3,
        destination: "12345".to_owned(),
        esm_class,
        data_coding: delivery.coding.data_coding(),
        short_message,
        payload,
        sar,
        ..MessageView::default()
    };
    let expected = known.then(|| expected.filter(|concat| concat.total > 1));
    (view, expected)
}

type Key = (String, String, u16, ConcatScheme, u8);

#[derive(Debug)]
struct ModelSet {
    first_seen: Instant,
    parts: BTreeMap<u8, (u8, Vec<u8>)>,
    tokens: Vec<usize>,
}

/// What the reassembler is documented to do.
#[derive(Default)]
struct Model {
    pending: HashMap<Key, ModelSet>,
    stored: HashMap<Key, Instant>,
}

#[derive(Debug, PartialEq)]
enum Expected {
    Incomplete,
    Invalid,
    AlreadyStored,
    Complete {
        text: String,
        tokens: Vec<usize>,
        key: Key,
        /// Bytes of text given in the set's parts (first copy of each position).
        given: usize,
    },
}

fn key_of(part: &Part) -> Key {
    let c = part.concat;
    (
        part.from.clone(),
        part.to.clone(),
        c.reference,
        c.scheme,
        c.total,
    )
}

/// The text of a complete set: bytes joined when every part has the same coding (a
/// character may be cut between parts), else each part decoded on its own.
fn assembled_text(parts: &BTreeMap<u8, (u8, Vec<u8>)>) -> String {
    let mut codings = parts.values().map(|(dc, _)| *dc);
    let first = codings.next();
    if codings.all(|dc| Some(dc) == first) {
        let bytes: Vec<u8> = parts
            .values()
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        decode_text(first.unwrap_or(0), &bytes)
    } else {
        parts.values().map(|(dc, b)| decode_text(*dc, b)).collect()
    }
}

impl Model {
    fn push(&mut self, now: Instant, part: &Part, token: usize) -> Expected {
        let Concat { total, seq, .. } = part.concat;
        if total == 0 || seq == 0 || seq > total {
            return Expected::Invalid;
        }
        let key = key_of(part);
        if !self.pending.contains_key(&key) && self.stored.contains_key(&key) {
            return Expected::AlreadyStored;
        }
        let set = self.pending.entry(key.clone()).or_insert_with(|| ModelSet {
            first_seen: now,
            parts: BTreeMap::new(),
            tokens: Vec::new(),
        });
        set.parts
            .entry(seq)
            .or_insert_with(|| (part.data_coding, part.body.clone()));
        set.tokens.push(token);
        if set.parts.len() < usize::from(total) {
            return Expected::Incomplete;
        }
        let set = self.pending.remove(&key).expect("just inserted");
        Expected::Complete {
            text: assembled_text(&set.parts),
            tokens: set.tokens,
            key,
            given: set.parts.values().map(|(_, body)| body.len()).sum(),
        }
    }

    fn expire(&mut self, now: Instant) -> Vec<usize> {
        self.stored
            .retain(|_, at| now.saturating_duration_since(*at) < TIMEOUT);
        let expired: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, set)| now.saturating_duration_since(set.first_seen) >= TIMEOUT)
            .map(|(key, _)| key.clone())
            .collect();
        let mut tokens: Vec<usize> = expired
            .iter()
            .flat_map(|key| self.pending.remove(key).expect("listed").tokens)
            .collect();
        tokens.sort_unstable();
        tokens
    }
}

fn run_steps(steps: Vec<Step>) {
    let start = Instant::now();
    let mut now = start;
    let mut reassembler = Reassembler::new(TIMEOUT);
    let mut model = Model::default();
    let mut last_complete: Option<(SetKey, Key)> = None;
    let mut tokens = 0usize;
    let mut answered: Vec<usize> = Vec::new();
    for step in steps {
        match step {
            Step::Deliver { delivery, later_ms } => {
                now += Duration::from_millis(u64::from(later_ms));
                let (view, expected) = view_of(&delivery);
                let (concat, bytes) = view.content();
                let part = match classify("fuzz", &view) {
                    Inbound::Part(part) => part,
                    Inbound::Single(message) => {
                        assert!(
                            expected.is_none_or(|concat| concat.is_none()),
                            "{delivery:?}"
                        );
                        assert!(concat.is_none_or(|c| c.total <= 1));
                        assert_eq!(message.body, decode_text(view.data_coding, bytes));
                        continue;
                    }
                    other => panic!("an MO message classified as {other:?}"),
                };
                if let Some(expected) = expected {
                    assert_eq!(Some(part.concat), expected, "the header reads back");
                    assert_eq!(part.body, delivery.body, "the header is cut off exactly");
                }
                let token = tokens;
                tokens += 1;
                let predicted = model.push(now, &part, token);
                let got = reassembler.push(now, part, token);
                match (got, predicted) {
                    (Push::Incomplete, Expected::Incomplete) => {}
                    (Push::Invalid(t), Expected::Invalid)
                    | (Push::AlreadyStored(t), Expected::AlreadyStored) => {
                        assert_eq!(t, token);
                        answered.push(t);
                    }
                    (
                        Push::Complete(message, got_tokens, set),
                        Expected::Complete {
                            text,
                            tokens,
                            key,
                            given,
                        },
                    ) => {
                        assert_eq!(message.text, text);
                        assert_eq!(got_tokens, tokens);
                        assert_eq!(message.parts, usize::from(key.4));
                        assert_eq!((&message.from, &message.to), (&key.0, &key.1));
                        assert!(message.parts <= got_tokens.len());
                        assert!(message.text.chars().count() <= given, "no more than given");
                        answered.extend(got_tokens);
                        last_complete = Some((set, key));
                    }
                    (got, predicted) => panic!("pushed {got:?}, expected {predicted:?}"),
                }
            }
            Step::Expire { later_ms } => {
                now += Duration::from_millis(u64::from(later_ms));
                let mut expired = reassembler.expire(now);
                expired.sort_unstable();
                assert_eq!(expired, model.expire(now));
                answered.extend(expired);
            }
            Step::StoreLast => {
                if let Some((set, key)) = last_complete.take() {
                    reassembler.stored(now, set);
                    model.stored.insert(key, now);
                }
            }
        }
        assert_eq!(reassembler.pending(), model.pending.len());
    }
    answered.extend(reassembler.drain());
    answered.sort_unstable();
    assert_eq!(
        answered,
        (0..tokens).collect::<Vec<_>>(),
        "every part answered once"
    );
}

/// A `deliver_sm` for `part` as it arrives: encoded, framed and decoded by the codec.
fn through_the_wire(pdu: rusmpp::pdus::DeliverSm) -> MessageView {
    let mut codec = PduCodec::new();
    let mut buf = BytesMut::new();
    codec
        .encode(Command::new(CommandStatus::EsmeRok, 1, pdu), &mut buf)
        .expect("encodes");
    match codec.decode(&mut buf) {
        Ok(Some(Frame::Command(command))) => match command.pdu() {
            Some(Pdu::DeliverSm(pdu)) => MessageView::of_deliver_sm(pdu),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn round_trip(
    body: &str,
    mode: u8,
    units_per_part: Option<u8>,
    reference: u16,
    order: &[u16],
    resend: &[u8],
) {
    let modes = [
        LongMessageMode::Udh8,
        LongMessageMode::Udh16,
        LongMessageMode::Sar,
        LongMessageMode::Payload,
    ];
    let options = EncodeOptions {
        mode: modes[usize::from(mode) % modes.len()],
        data_coding_gsm7: 0x00,
        data_coding_ucs2: 0x08,
        reference,
        // At most 67 units, so a part (UDH included) fits in a short_message.
        units_per_part: units_per_part.map(|units| usize::from(units % 68)),
    };
    let parts = match encode_message(body, options) {
        Ok(parts) => parts,
        Err(EncodeError::TooManyParts { parts }) => {
            assert!(parts > 255);
            return;
        }
    };
    let from = Address {
        ton: 1,
        npi: 1,
        value: SENDERS[0].to_owned(),
    };
    let to = Address {
        ton: 3,
        npi: 0,
        value: "12345".to_owned(),
    };
    let views: Vec<MessageView> = parts
        .iter()
        .map(|part| through_the_wire(deliver_sm(&from, &to, 0, part, None).expect("builds")))
        .collect();
    let mut sequence: Vec<usize> = (0..views.len()).collect();
    sequence.sort_by_key(|&i| order.get(i).copied().unwrap_or(0));
    for &r in resend {
        let copy = sequence[usize::from(r) % sequence.len()];
        sequence.insert(usize::from(r) % (sequence.len() + 1), copy);
    }
    // Where the last missing position first arrives.
    let mut seen = vec![false; views.len()];
    let completes_at = sequence
        .iter()
        .position(|&i| {
            seen[i] = true;
            seen.iter().all(|&s| s)
        })
        .expect("every position is in the sequence");
    let mut reassembler = Reassembler::new(TIMEOUT);
    let now = Instant::now();
    let mut completed = None;
    for (n, &i) in sequence.iter().enumerate() {
        match classify("fuzz", &views[i]) {
            Inbound::Single(message) => {
                assert_eq!(views.len(), 1);
                assert_eq!(message.body, body);
            }
            Inbound::Part(part) => match reassembler.push(now, part, n) {
                Push::Complete(message, _, _) => {
                    assert_eq!(message.text, body);
                    assert_eq!(message.parts, views.len());
                    completed.get_or_insert(n);
                }
                Push::Incomplete => {}
                other => panic!("part {i} of {}: {other:?}", views.len()),
            },
            other => panic!("{other:?}"),
        }
    }
    if views.len() > 1 {
        assert_eq!(
            completed,
            Some(completes_at),
            "complete once every part is in"
        );
    }
}

fuzz_target!(|data: &[u8]| match Input::read(data) {
    Input::Steps(steps) => run_steps(steps),
    Input::RoundTrip {
        body,
        mode,
        units_per_part,
        reference,
        order,
        resend,
    } => round_trip(&body, mode, units_per_part, reference, &order, &resend),
});

//! Reassembly of multipart messages from parts arriving in any order.
//!
//! Parts are grouped by sender, recipient, reference, scheme and part count. A resent part
//! (same position) is kept once but its token is kept too, so every copy can be answered
//! when the set completes. Sets that stay incomplete past the timeout are dropped by
//! [`Reassembler::expire`], which hands back their tokens to answer with a temporary error.
//! Once the caller has stored a message it calls [`Reassembler::stored`]: copies of its parts
//! arriving later (an SMSC resending a part whose answer it missed) are then recognised as
//! [`Push::AlreadyStored`] for the same timeout, instead of starting a set that never
//! completes.
//!
//! The reassembler is pure: the caller passes the current time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::long_message::{Concat, ConcatScheme, decode_text};

/// One received part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Sender as received.
    pub from: String,
    /// Recipient as received.
    pub to: String,
    /// `data_coding` of this part.
    pub data_coding: u8,
    /// Text bytes (user data header removed).
    pub body: Vec<u8>,
    /// Concatenation facts.
    pub concat: Concat,
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Decoded text of all parts in order.
    pub text: String,
    /// How many parts it had.
    pub parts: usize,
}

/// Identifies a set of parts, to tell the reassembler it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetKey(Key);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    from: String,
    to: String,
    reference: u16,
    scheme: ConcatScheme,
    total: u8,
}

#[derive(Debug)]
struct Pending<T> {
    first_seen: Instant,
    parts: Vec<Option<(u8, Vec<u8>)>>,
    received: usize,
    tokens: Vec<T>,
}

/// What a [`Reassembler::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Push<T> {
    /// The set is still missing parts; the token is held.
    Incomplete,
    /// The part was not a valid member of a set (position 0 or past the total, or a total
    /// of 0); the caller should treat it as a single message. The token is given back.
    Invalid(T),
    /// The set is complete: the message, the tokens of every part received (copies
    /// included) and the set's key for [`Reassembler::stored`].
    Complete(Assembled, Vec<T>, SetKey),
    /// A copy of a part of a set already stored: answer it as stored.
    AlreadyStored(T),
}

/// Holds incomplete sets; `T` is whatever the caller needs to answer each part later.
#[derive(Debug)]
pub struct Reassembler<T> {
    timeout: Duration,
    pending: HashMap<Key, Pending<T>>,
    stored: HashMap<Key, Instant>,
}

impl<T> Reassembler<T> {
    /// A reassembler whose sets expire `timeout` after their first part arrived.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            pending: HashMap::new(),
            stored: HashMap::new(),
        }
    }

    /// Number of incomplete sets held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds a part.
    pub fn push(&mut self, now: Instant, part: Part, token: T) -> Push<T> {
        let Concat {
            reference,
            total,
            seq,
            scheme,
        } = part.concat;
        if total == 0 || seq == 0 || seq > total {
            return Push::Invalid(token);
        }
        let key = Key {
            from: part.from,
            to: part.to,
            reference,
            scheme,
            total,
        };
        if !self.pending.contains_key(&key) && self.stored.contains_key(&key) {
            return Push::AlreadyStored(token);
        }
        let pending = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            first_seen: now,
            parts: (0..total).map(|_| None).collect(),
            received: 0,
            tokens: Vec::new(),
        });
        let slot = &mut pending.parts[usize::from(seq - 1)];
        if slot.is_none() {
            *slot = Some((part.data_coding, part.body));
            pending.received += 1;
        }
        pending.tokens.push(token);
        if pending.received < usize::from(total) {
            return Push::Incomplete;
        }
        let Some(pending) = self.pending.remove(&key) else {
            return Push::Incomplete;
        };
        let parts: Vec<(u8, Vec<u8>)> = pending.parts.into_iter().flatten().collect();
        let text = assemble_text(&parts);
        Push::Complete(
            Assembled {
                from: key.from.clone(),
                to: key.to.clone(),
                text,
                parts: parts.len(),
            },
            pending.tokens,
            SetKey(key),
        )
    }

    /// Records that the set was stored, so late copies of its parts are recognised until
    /// the timeout passes.
    pub fn stored(&mut self, now: Instant, set: SetKey) {
        self.stored.insert(set.0, now);
    }

    /// Drops the sets older than the timeout and returns their tokens.
    pub fn expire(&mut self, now: Instant) -> Vec<T> {
        let timeout = self.timeout;
        self.stored
            .retain(|_, at| now.saturating_duration_since(*at) < timeout);
        let expired: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.first_seen) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|key| self.pending.remove(&key))
            .flat_map(|p| p.tokens)
            .collect()
    }

    /// Drops every set and returns all tokens (on shutdown).
    pub fn drain(&mut self) -> Vec<T> {
        self.pending.drain().flat_map(|(_, p)| p.tokens).collect()
    }
}

/// Concatenates the bytes when every part has the same coding (so a character split across
/// parts survives), otherwise decodes each part on its own.
fn assemble_text(parts: &[(u8, Vec<u8>)]) -> String {
    let Some((first_coding, _)) = parts.first() else {
        return String::new();
    };
    if parts.iter().all(|(dc, _)| dc == first_coding) {
        let bytes: Vec<u8> = parts.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        decode_text(*first_coding, &bytes)
    } else {
        parts.iter().map(|(dc, b)| decode_text(*dc, b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn part(seq: u8, total: u8, body: &[u8]) -> Part {
        Part {
            from: "+819011112222".into(),
            to: "12345".into(),
            data_coding: 0,
            body: body.to_vec(),
            concat: Concat {
                reference: 9,
                total,
                seq,
                scheme: ConcatScheme::Udh8,
            },
        }
    }

    #[test]
    fn out_of_order_with_a_duplicate() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60));
        assert_eq!(r.push(now, part(3, 3, b"!"), 'c'), Push::Incomplete);
        assert_eq!(r.push(now, part(1, 3, b"Hello"), 'a'), Push::Incomplete);
        assert_eq!(r.push(now, part(1, 3, b"Hello"), 'd'), Push::Incomplete);
        match r.push(now, part(2, 3, b" world"), 'b') {
            Push::Complete(message, tokens, set) => {
                assert_eq!(message.text, "Hello world!");
                assert_eq!(message.parts, 3);
                assert_eq!(tokens, vec!['c', 'a', 'd', 'b']);
                r.stored(now, set);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.pending(), 0);
        // A late copy is recognised, until the memory of the set expires.
        assert_eq!(
            r.push(now, part(2, 3, b" world"), 'e'),
            Push::AlreadyStored('e')
        );
        r.expire(now + Duration::from_secs(60));
        assert_eq!(r.push(now, part(2, 3, b" world"), 'f'), Push::Incomplete);
    }

    #[test]
    fn invalid_positions_come_back() {
        let mut r = Reassembler::new(Duration::from_secs(60));
        assert_eq!(
            r.push(Instant::now(), part(0, 2, b"x"), 1),
            Push::Invalid(1)
        );
        assert_eq!(
            r.push(Instant::now(), part(3, 2, b"x"), 2),
            Push::Invalid(2)
        );
    }

    #[test]
    fn incomplete_sets_expire() {
        let start = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(10));
        r.push(start, part(1, 2, b"x"), 1);
        assert!(r.expire(start + Duration::from_secs(5)).is_empty());
        assert_eq!(r.expire(start + Duration::from_secs(10)), vec![1]);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn a_character_split_across_parts_survives() {
        // "あ" is 0x30 0x42 in UCS-2; cut between its two bytes.
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(10));
        let mut first = part(1, 2, &[0x30]);
        first.data_coding = 8;
        let mut second = part(2, 2, &[0x42]);
        second.data_coding = 8;
        r.push(now, first, ());
        match r.push(now, second, ()) {
            Push::Complete(m, _, _) => assert_eq!(m.text, "あ"),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn any_permutation_reassembles(
            chunks in proptest::collection::vec("[a-zA-Z0-9 ]{1,10}", 1..12),
            order in any::<proptest::sample::Index>(),
            duplicates in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        ) {
            let total = chunks.len() as u8;
            let mut indices: Vec<usize> = (0..chunks.len()).collect();
            // A deterministic permutation chosen by `order`.
            let rotate = order.index(indices.len());
            indices.rotate_left(rotate);
            if rotate % 2 == 1 { indices.reverse(); }
            for d in &duplicates { indices.insert(d.index(indices.len()), indices[d.index(indices.len())]); }
            let mut r = Reassembler::new(Duration::from_secs(60));
            let now = Instant::now();
            let mut done = None;
            for (n, &i) in indices.iter().enumerate() {
                let p = part(i as u8 + 1, total, chunks[i].as_bytes());
                match r.push(now, p, n) {
                    Push::Complete(m, tokens, _) => { done = Some((m, tokens)); }
                    Push::Incomplete => {}
                    Push::Invalid(_) | Push::AlreadyStored(_) => prop_assert!(false, "valid part refused"),
                }
            }
            let (message, tokens) = done.expect("completed");
            prop_assert_eq!(message.text, chunks.concat());
            // Every copy received before completion is answered; later copies start a new set.
            prop_assert!(tokens.len() >= chunks.len());
        }
    }
}

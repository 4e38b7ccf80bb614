//! Inbound (mobile-originated) messages: stored as `direction = 'inbound'`, status `received`,
//! with the `message.received` webhook queued in the same transaction.
//!
//! Addresses are normalised so inbound rows can be searched like outbound ones: the handset's
//! number (`from`) becomes E.164 when it parses in the configured region; our number (`to`)
//! becomes E.164 when it is a number, and a short code (3-8 digits) or alphanumeric address
//! is kept as received.
//!
//! # De-duplication
//! The SMPP layer already drops repeated parts of a multipart message. What remains is an SMSC
//! delivering a whole `deliver_sm` again because our `deliver_sm_resp` was lost. SMPP 3.4 MO
//! messages carry no message id, so the key is the content: a hash of connector, normalised
//! `from`, normalised `to` and body, plus the number of the `dedup_window`-long time bucket
//! the message arrived in (`<hash>:<bucket>`, unique in the table). A new message is a
//! duplicate when its key exists for the current or the previous bucket. So a redelivery
//! arriving within `dedup_window` of the original is always recognised, and identical texts
//! from the same handset are always both kept when more than two windows apart; in between
//! they may be merged. That is the price of having no id: the default window is short.

use std::{collections::HashMap, time::Duration};

use hato_core::{
    AccountId, Message, MessageId, MessageKind, MessageStatus, PhoneNumber, Sender, text::analyze,
};
use sha2::{Digest, Sha256};

use crate::{
    Result, Store,
    db::Tx,
    rows::{MESSAGE_COLUMNS, message_from_row},
    sql::{rows_per_statement, shaped, statement_chunks, values_rows},
    transitions::{self, Outbox},
};

/// A mobile-originated message as a carrier handed it over.
#[derive(Debug, Clone)]
pub struct NewInbound {
    /// The account it belongs to.
    pub account_id: AccountId,
    /// The connector it came through.
    pub connector: String,
    /// The handset's address, as received.
    pub from: String,
    /// Our number or short code, as received.
    pub to: String,
    pub body: String,
    pub received_at: i64,
}

/// How inbound messages are normalised and de-duplicated.
#[derive(Debug, Clone)]
pub struct InboundOptions {
    /// Region for numbers received without a country code (`"JP"`).
    pub default_region: String,
    /// See the module documentation; at least 1 ms.
    pub dedup_window: Duration,
}

impl Default for InboundOptions {
    fn default() -> Self {
        Self {
            default_region: "JP".into(),
            dedup_window: Duration::from_secs(600),
        }
    }
}

/// What became of one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Stored as this message, with its webhook queued.
    Stored(MessageId),
    /// A redelivery of this stored message: nothing written.
    Duplicate(MessageId),
}

impl InboundOutcome {
    pub fn message_id(&self) -> &MessageId {
        match self {
            Self::Stored(id) | Self::Duplicate(id) => id,
        }
    }
}

const INBOUND_COLUMNS: &str = "id, account_id, direction, kind, status, to_number, from_sender, body, encoding, \
     segments, connector, inbound_key, created_at, updated_at, received_at";
const INBOUND_COLUMN_COUNT: usize = 15;

impl Store {
    /// Stores inbound messages and queues their `message.received` webhooks, all in one
    /// transaction of a few multi-row statements; one outcome per message, in order.
    pub async fn insert_inbound(
        &self,
        messages: &[NewInbound],
        options: &InboundOptions,
    ) -> Result<Vec<InboundOutcome>> {
        let messages = messages.to_vec();
        let options = options.clone();
        self.on_writer("inbound", move |store| async move {
            let mut tx = store.write().begin().await?;
            let outcomes =
                insert_many(&mut tx, &mut Outbox::default(), &messages, &options).await?;
            tx.commit().await?;
            Ok(outcomes)
        })
        .await
    }
}

/// An inbound message with its addresses normalised and its de-duplication keys.
struct Prepared<'a> {
    inbound: &'a NewInbound,
    id: MessageId,
    from: String,
    to: String,
    key: String,
    previous_key: String,
}

async fn insert_many(
    conn: &mut Tx,
    outbox: &mut Outbox,
    messages: &[NewInbound],
    options: &InboundOptions,
) -> Result<Vec<InboundOutcome>> {
    let window = i64::try_from(options.dedup_window.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let prepared: Vec<Prepared<'_>> = messages
        .iter()
        .map(|inbound| {
            let from = normalise_from(&inbound.from, &options.default_region);
            let to = normalise_to(&inbound.to, &options.default_region);
            let hash = content_hash(&inbound.connector, &from, &to, &inbound.body);
            let bucket = inbound.received_at.div_euclid(window);
            Prepared {
                inbound,
                id: MessageId::generate(),
                key: format!("{hash}:{bucket}"),
                previous_key: format!("{hash}:{}", bucket - 1),
                from,
                to,
            }
        })
        .collect();
    let lookup: Vec<&str> = prepared
        .iter()
        .flat_map(|p| [p.key.as_str(), p.previous_key.as_str()])
        .collect();
    // Keys already stored, and then those stored by earlier messages of this batch.
    let mut known = existing(conn, &lookup).await?;
    let mut outcomes = Vec::with_capacity(prepared.len());
    let mut new = Vec::new();
    for p in &prepared {
        let original = [&p.key, &p.previous_key]
            .into_iter()
            .filter_map(|key| known.get(key.as_str()))
            .min_by(|a, b| a.as_str().cmp(b.as_str()));
        match original {
            Some(original) => outcomes.push(InboundOutcome::Duplicate(original.clone())),
            None => {
                known.insert(p.key.clone(), p.id.clone());
                outcomes.push(InboundOutcome::Stored(p.id.clone()));
                new.push(p);
            }
        }
    }
    let stored = insert_rows(conn, &new).await?;
    let mut announced = Vec::with_capacity(stored.len());
    for p in new {
        match stored.get(p.id.as_str()) {
            Some(message) => announced.push((
                p.inbound.account_id.clone(),
                message.clone(),
                p.inbound.received_at,
            )),
            None => {
                // Another writer stored the same key between our check and our insert.
                let original =
                    existing(conn, &[&p.key])
                        .await?
                        .remove(&p.key)
                        .ok_or_else(|| {
                            crate::StoreError::corrupt("inbound key conflict without a row")
                        })?;
                if let Some(outcome) = outcomes
                    .iter_mut()
                    .find(|o| matches!(o, InboundOutcome::Stored(id) if *id == p.id))
                {
                    *outcome = InboundOutcome::Duplicate(original);
                }
            }
        }
    }
    transitions::announce_many(conn, outbox, &announced).await?;
    Ok(outcomes)
}

/// Inserts the messages, skipping any whose key another writer stored meanwhile; returns the
/// stored ones by id.
async fn insert_rows(conn: &mut Tx, new: &[&Prepared<'_>]) -> Result<HashMap<String, Message>> {
    let mut stored = HashMap::with_capacity(new.len());
    for chunk in statement_chunks(new, rows_per_statement(INBOUND_COLUMN_COUNT)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "INSERT INTO messages ({INBOUND_COLUMNS}) VALUES {} \
                 ON CONFLICT (inbound_key) WHERE inbound_key IS NOT NULL DO NOTHING \
                 RETURNING {MESSAGE_COLUMNS}",
                values_rows(chunk.len(), INBOUND_COLUMN_COUNT)
            )
        });
        let mut query = shape.query();
        for p in chunk {
            let analysis = analyze(&p.inbound.body);
            let at = p.inbound.received_at;
            query = query
                .bind(p.id.as_str())
                .bind(p.inbound.account_id.as_str())
                .bind("inbound")
                .bind(MessageKind::Transactional.as_str())
                .bind(MessageStatus::Received.as_str())
                .bind(p.to.as_str())
                .bind(p.from.as_str())
                .bind(p.inbound.body.as_str())
                .bind(analysis.encoding.as_str())
                .bind(i64::try_from(analysis.segments).unwrap_or(i64::MAX))
                .bind(p.inbound.connector.as_str())
                .bind(p.key.as_str())
                .bind(at)
                .bind(at)
                .bind(at);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let message = message_from_row(&row)?;
            stored.insert(message.id.as_str().to_owned(), message);
        }
    }
    Ok(stored)
}

/// The stored message of each key that has one.
async fn existing(conn: &mut Tx, keys: &[&str]) -> Result<HashMap<String, MessageId>> {
    let mut found: HashMap<String, MessageId> = HashMap::new();
    for chunk in statement_chunks(keys, 900) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "SELECT id, inbound_key FROM messages WHERE inbound_key IN ({})",
                crate::sql::placeholder_list(1, chunk.len())
            )
        });
        let mut query = shape.query();
        for key in chunk {
            query = query.bind(*key);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id = MessageId::from_trusted(row.try_get("id")?);
            found.insert(row.try_get("inbound_key")?, id);
        }
    }
    Ok(found)
}

/// The handset's number in E.164 when it is one; anything else (an alphanumeric sender) as is.
/// `+0…` is a national number some SMSCs mark international (no country code starts with 0).
fn normalise_from(from: &str, region: &str) -> String {
    let from = from.trim();
    let candidate = from.strip_prefix("+0").map_or(from, |_| &from[1..]);
    PhoneNumber::parse(candidate, region)
        .map(PhoneNumber::into_string)
        .unwrap_or_else(|_| from.to_owned())
}

/// Our number in E.164 when it is a number; a short code or anything unparsable as is.
fn normalise_to(to: &str, region: &str) -> String {
    match Sender::parse(to, region) {
        Ok(Sender::Number(number)) => number.into_string(),
        _ => to.trim().to_owned(),
    }
}

/// Hex SHA-256 (first 128 bits) of the fields, each length-prefixed so no two field lists
/// collide by shifting text between fields.
fn content_hash(connector: &str, from: &str, to: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    for field in [connector, from, to, body] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(normalise_from("09012345678", "JP"), "+819012345678");
        assert_eq!(normalise_from("+819012345678", "JP"), "+819012345678");
        assert_eq!(normalise_from("+09012345678", "JP"), "+819012345678");
        assert_eq!(normalise_from("Bank", "JP"), "Bank");
        assert_eq!(normalise_to("12345", "JP"), "12345");
        assert_eq!(normalise_to("+81 3-1234-5678", "JP"), "+81312345678");
        assert_eq!(normalise_to("Hato", "JP"), "Hato");
    }

    #[test]
    fn hash_separates_fields() {
        assert_ne!(
            content_hash("c", "ab", "c", "d"),
            content_hash("c", "a", "bc", "d")
        );
        assert_eq!(content_hash("c", "a", "b", "d").len(), 32);
    }
}

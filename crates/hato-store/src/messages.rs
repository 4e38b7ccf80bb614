//! Messages: accepting, reading, cancelling, and the dispatcher's and receipt handler's writes.

use hato_core::{AccountId, Message, MessageId, MessageKind, MessageStatus};
use tokio::sync::oneshot;

use crate::{
    Result, Store, StoreError,
    db::{self, Query, Tx},
    group_commit::InsertRequest,
    jobs::{ClaimedJob, Queue},
    leased::{self, FROM_MESSAGES_WITH_JOB},
    rows::message_from_row,
    sql::{rows_per_statement, shaped, statement_chunks, values_rows},
    transitions::{self, Change, Outbox},
};

/// The time of a read, for the leases it looks at.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A message accepted by the API, ready to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub account_id: AccountId,
    pub kind: MessageKind,
    /// `Scheduled` when `send_at` is in the future, else `Queued`; `Sending` when the
    /// dispatcher takes it on insert (see [`NewMessage::claim_on_insert`]).
    pub status: MessageStatus,
    pub to: String,
    pub from: Option<String>,
    pub body: String,
    pub encoding: &'static str,
    pub segments: u32,
    pub reference: Option<String>,
    /// JSON text.
    pub metadata: Option<String>,
    pub status_callback: Option<String>,
    pub send_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub idempotency_key: Option<String>,
    /// Hash of the request that created it, to tell a replay from a conflicting reuse.
    pub request_hash: Option<String>,
    pub created_at: i64,
    /// Set by [`NewMessage::claim_on_insert`]: the dispatch job is written already leased by
    /// this node's dispatcher until then.
    pub lease_until: Option<i64>,
}

impl NewMessage {
    /// A due message with nothing optional set (no sender, reference, metadata, callback,
    /// schedule, validity or idempotency key), its encoding and segments from its body.
    pub fn queued(
        account_id: AccountId,
        kind: MessageKind,
        to: String,
        body: String,
        created_at: i64,
    ) -> Self {
        let analysis = hato_core::text::analyze(&body);
        NewMessage {
            id: MessageId::generate(),
            account_id,
            kind,
            status: MessageStatus::Queued,
            to,
            from: None,
            encoding: analysis.encoding.as_str(),
            segments: analysis.segments as u32,
            body,
            reference: None,
            metadata: None,
            status_callback: None,
            send_at: None,
            expires_at: None,
            idempotency_key: None,
            request_hash: None,
            created_at,
            lease_until: None,
        }
    }

    /// Hands a due message to this node's dispatcher in the transaction that stores it: it is
    /// written `sending` (queued and claimed at its creation time) with its dispatch job leased
    /// until `lease_until`, as a claim would leave it, so no claim transaction is needed. If the
    /// process dies before the outcome is recorded, the lease is taken back like any other and
    /// the message is sent again.
    pub fn claim_on_insert(&mut self, lease_until: i64) {
        debug_assert_eq!(self.status, MessageStatus::Queued, "only a due message");
        self.status = MessageStatus::Sending;
        self.lease_until = Some(lease_until);
    }
}

const NEW_MESSAGE_COLUMNS: &str = "id, account_id, direction, kind, status, to_number, from_sender, body, encoding, \
     segments, reference, metadata, status_callback, send_at, expires_at, idempotency_key, request_hash, \
     created_at, updated_at, scheduled_at, queued_at, sending_at";
const NEW_MESSAGE_COLUMN_COUNT: usize = 22;

/// What happened to a single-message insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored; with its leased dispatch job when it was claimed on insert.
    Inserted { claimed: Option<ClaimedJob> },
    /// A message with the same idempotency key exists already.
    Existing {
        id: MessageId,
        request_hash: Option<String>,
    },
}

/// What happened to a batch insert carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchInsert {
    Inserted,
    /// The key was used before: the stored request hash and response.
    Replay {
        request_hash: String,
        response_status: u16,
        response_body: String,
    },
}

/// The idempotency record of a batch request: its key, the hash of the request and the
/// response given, stored in the batch's transaction.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub account_id: AccountId,
    pub key: String,
    pub request_hash: String,
    pub response_status: u16,
    pub response_body: String,
}

/// Filters for listing messages; all optional.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub direction: Option<String>,
    pub status: Option<MessageStatus>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub reference: Option<String>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    /// Return messages older than this id (ids sort by creation time).
    pub before_id: Option<String>,
    pub limit: usize,
}

impl Store {
    /// Stores one accepted message and its dispatch job, durably, in a transaction shared with
    /// concurrent inserts (group commit).
    pub async fn insert_message(&self, message: NewMessage) -> Result<InsertOutcome> {
        let (reply, response) = oneshot::channel();
        self.inner
            .inserts
            .send(InsertRequest {
                message,
                reply,
                queued: std::time::Instant::now(),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        response.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores many accepted messages in one transaction, with the batch request's idempotency
    /// record when given (so a replay never stores the batch twice). On the writer thread like
    /// every write: binding is cheap on the store's own SQLite connection (batches were
    /// accepted 1.6× faster than when the HTTP workers drove them through sqlx).
    pub async fn insert_batch(
        &self,
        messages: Vec<NewMessage>,
        record: Option<BatchRecord>,
    ) -> Result<BatchInsert> {
        // The record of an earlier request with the same key, if there is one.
        let stored = self
            .on_writer("insert_batch", move |store| async move {
                let mut tx = store.write().begin().await?;
                if let Some(record) = record {
                    let inserted = db::query(
                        "INSERT INTO idempotency_keys (account_id, idempotency_key, request_hash, response_status, response_body, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, idempotency_key) DO NOTHING",
                    )
                    .bind(record.account_id.as_str())
                    .bind(record.key.as_str())
                    .bind(record.request_hash.as_str())
                    .bind(i64::from(record.response_status))
                    .bind(record.response_body.as_str())
                    .bind(messages.first().map_or(0, |m| m.created_at))
                    .execute(&mut tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        tx.rollback().await?;
                        return Ok(Some(record));
                    }
                }
                // Batches are queued, never claimed on insert (see hato_engine::handoff).
                insert_rows(&mut tx, &messages.iter().collect::<Vec<_>>()).await?;
                tx.commit().await?;
                Ok(None)
            })
            .await?;
        match stored {
            None => Ok(BatchInsert::Inserted),
            // The record we collided with is committed (SQLite writes one transaction at a
            // time; PostgreSQL's ON CONFLICT waits for the other to end), so a reader sees it.
            Some(record) => self.batch_replay(&record.account_id, &record.key).await,
        }
    }

    async fn batch_replay(&self, account: &AccountId, key: &str) -> Result<BatchInsert> {
        let row = db::query(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE account_id = $1 AND idempotency_key = $2",
        )
        .bind(account.as_str())
        .bind(key)
        .fetch_one(self.read())
        .await?;
        Ok(BatchInsert::Replay {
            request_hash: row.try_get("request_hash")?,
            response_status: u16::try_from(row.try_get::<i64, _>("response_status")?)
                .unwrap_or(200),
            response_body: row.try_get("response_body")?,
        })
    }

    /// The stored response of a batch request, if its idempotency key was used before.
    pub async fn batch_idempotency(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<BatchInsert>> {
        let exists = db::query(
            "SELECT 1 FROM idempotency_keys WHERE account_id = $1 AND idempotency_key = $2",
        )
        .bind(account.as_str())
        .bind(key)
        .fetch_optional(self.read())
        .await?;
        match exists {
            Some(_) => self.batch_replay(account, key).await.map(Some),
            None => Ok(None),
        }
    }

    /// The message with an idempotency key, with the hash of the request that created it.
    pub async fn message_by_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<(MessageId, Option<String>)>> {
        let row = db::query(
            "SELECT id, request_hash FROM messages WHERE account_id = $1 AND idempotency_key = $2",
        )
        .bind(account.as_str())
        .bind(key)
        .fetch_optional(self.read())
        .await?;
        row.map(|row| {
            Ok((
                MessageId::from_trusted(row.try_get("id")?),
                row.try_get("request_hash")?,
            ))
        })
        .transpose()
    }

    /// One message of `account`.
    pub async fn message(&self, account: &AccountId, id: &MessageId) -> Result<Option<Message>> {
        let sql = format!(
            "SELECT {} {FROM_MESSAGES_WITH_JOB} WHERE m.id = $2 AND m.account_id = $3",
            leased::columns()
        );
        let row = db::query(sql)
            .bind(now_ms())
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// Messages of `account`, newest first.
    pub async fn messages(
        &self,
        account: &AccountId,
        filter: &MessageFilter,
    ) -> Result<Vec<Message>> {
        // $1 is the time of the read (`leased`), then the texts, then the numbers. `conditions`
        // holds every filter but the status, which `leased::select` places.
        let mut conditions = String::new();
        let mut texts: Vec<String> = vec![account.as_str().to_owned()];
        // The status filter with the parameter its text is bound to.
        let status = filter.status.map(|status| {
            texts.push(status.as_str().to_owned());
            (status, texts.len() + 1)
        });
        let mut push_text = |sql: &mut String, column: &str, op: &str, value: String| {
            texts.push(value);
            sql.push_str(&format!(" AND m.{column} {op} ${}", texts.len() + 1));
        };
        if let Some(direction) = &filter.direction {
            push_text(&mut conditions, "direction", "=", direction.clone());
        }
        if let Some(to) = &filter.to {
            push_text(&mut conditions, "to_number", "=", to.clone());
        }
        if let Some(from) = &filter.from {
            push_text(&mut conditions, "from_sender", "=", from.clone());
        }
        if let Some(reference) = &filter.reference {
            push_text(&mut conditions, "reference", "=", reference.clone());
        }
        if let Some(before) = &filter.before_id {
            push_text(&mut conditions, "id", "<", before.clone());
        }
        let mut numbers = Vec::new();
        if let Some(after) = filter.created_after {
            numbers.push(after);
            conditions.push_str(&format!(
                " AND m.created_at >= ${}",
                texts.len() + numbers.len() + 1
            ));
        }
        if let Some(before) = filter.created_before {
            numbers.push(before);
            conditions.push_str(&format!(
                " AND m.created_at < ${}",
                texts.len() + numbers.len() + 1
            ));
        }
        let sql = format!(
            "{} ORDER BY id DESC LIMIT {}",
            leased::select(status, &conditions),
            filter.limit.clamp(1, 1000)
        );
        let mut query = db::query(sql).bind(now_ms());
        for text in texts {
            query = query.bind(text);
        }
        for number in numbers {
            query = query.bind(number);
        }
        let rows = query.fetch_all(self.read()).await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Cancels a message that is still scheduled or queued; returns it as it is afterwards
    /// (None when it does not exist for this account).
    pub async fn cancel_message(
        &self,
        account: &AccountId,
        id: &MessageId,
        at: i64,
    ) -> Result<Option<(Message, bool)>> {
        let (owner, message_id) = (account.clone(), id.clone());
        let cancelled = self
            .on_writer("cancel", move |store| async move {
                store.cancel_now(&owner, &message_id, at).await
            })
            .await?;
        let Some(cancelled) = cancelled else {
            return Ok(None);
        };
        let message = self
            .message(account, id)
            .await?
            .ok_or_else(|| StoreError::corrupt("cancelled message vanished"))?;
        Ok(Some((message, cancelled)))
    }

    /// Whether the message was cancelled; None when it does not exist for this account.
    async fn cancel_now(
        &self,
        account: &AccountId,
        id: &MessageId,
        at: i64,
    ) -> Result<Option<bool>> {
        let mut tx = self.write().begin().await?;
        let owned = db::query("SELECT 1 FROM messages WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&mut tx)
            .await?;
        if owned.is_none() {
            return Ok(None);
        }
        // Claimed from the queue, it is being sent although its row still says `queued`.
        let leased = db::query(leased::LEASED_JOB)
            .bind(id.as_str())
            .bind(at)
            .fetch_optional(&mut tx)
            .await?;
        if leased.is_some() {
            tx.commit().await?;
            return Ok(Some(false));
        }
        let change = Change {
            message_id: id.as_str(),
            status: MessageStatus::Cancelled,
            at,
            connector: None,
            error: None,
        };
        // Only scheduled or queued messages cancel: the dispatcher may already hold the rest.
        let cancellable: Vec<MessageStatus> = MessageStatus::ALL
            .into_iter()
            .filter(|status| status.is_cancellable())
            .collect();
        let changed =
            transitions::advance_from(&mut tx, &mut Outbox::default(), change, &cancellable)
                .await?;
        if changed.is_some() {
            db::query("DELETE FROM jobs WHERE queue = $1 AND ref_id = $2")
                .bind(Queue::Dispatch.as_str())
                .bind(id.as_str())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(changed.is_some()))
    }
}

/// Inserts accepted messages and their dispatch jobs, in the caller's transaction; returns the
/// jobs of the messages claimed on insert.
pub(crate) async fn insert_rows(
    conn: &mut Tx,
    messages: &[&NewMessage],
) -> Result<Vec<ClaimedJob>> {
    let mut claimed = Vec::new();
    for chunk in statement_chunks(messages, rows_per_statement(NEW_MESSAGE_COLUMN_COUNT)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "INSERT INTO messages ({NEW_MESSAGE_COLUMNS}) VALUES {}",
                values_rows(chunk.len(), NEW_MESSAGE_COLUMN_COUNT)
            )
        });
        let mut query = shape.query();
        for m in chunk {
            query = bind_new_message(query, m);
        }
        query.execute(&mut *conn).await?;
        claimed.extend(insert_jobs(conn, chunk).await?);
    }
    Ok(claimed)
}

/// The dispatch jobs of `messages`, at most one statement's worth; returns those written
/// leased (claimed on insert), whose ids the dispatcher needs.
async fn insert_jobs(conn: &mut Tx, messages: &[&NewMessage]) -> Result<Vec<ClaimedJob>> {
    let leased = messages.iter().any(|m| m.lease_until.is_some());
    let returning = if leased {
        " RETURNING id, ref_id, attempts, lease_until"
    } else {
        ""
    };
    let shape = shaped(u64::from(leased), messages.len(), || {
        format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES {}{returning}",
            values_rows(messages.len(), JOB_COLUMN_COUNT),
        )
    });
    let mut query = shape.query();
    for m in messages {
        query = bind_job(query, m);
    }
    if !leased {
        query.execute(&mut *conn).await?;
        return Ok(Vec::new());
    }
    let mut claimed = Vec::new();
    for row in query.fetch_all(&mut *conn).await? {
        if row.try_get::<i64, _>("lease_until")? > 0 {
            claimed.push(ClaimedJob {
                id: row.try_get("id")?,
                ref_id: row.try_get("ref_id")?,
                attempts: row.try_get("attempts")?,
            });
        }
    }
    Ok(claimed)
}

pub(crate) async fn insert_one_idempotent(
    conn: &mut Tx,
    message: &NewMessage,
) -> Result<InsertOutcome> {
    let shape = shaped(0, 1, || {
        format!(
            "INSERT INTO messages ({NEW_MESSAGE_COLUMNS}) VALUES {} \
             ON CONFLICT (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
            values_rows(1, NEW_MESSAGE_COLUMN_COUNT)
        )
    });
    let inserted = bind_new_message(shape.query(), message)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if inserted == 1 {
        let claimed = insert_jobs(conn, &[message]).await?.pop();
        return Ok(InsertOutcome::Inserted { claimed });
    }
    let row = db::query(
        "SELECT id, request_hash FROM messages WHERE account_id = $1 AND idempotency_key = $2",
    )
    .bind(message.account_id.as_str())
    .bind(message.idempotency_key.as_deref())
    .fetch_one(&mut *conn)
    .await?;
    Ok(InsertOutcome::Existing {
        id: MessageId::from_trusted(row.try_get("id")?),
        request_hash: row.try_get("request_hash")?,
    })
}

fn bind_new_message<'q>(query: Query<'q>, m: &NewMessage) -> Query<'q> {
    let scheduled_at = (m.status == MessageStatus::Scheduled).then_some(m.created_at);
    let queued_at =
        matches!(m.status, MessageStatus::Queued | MessageStatus::Sending).then_some(m.created_at);
    let sending_at = (m.status == MessageStatus::Sending).then_some(m.created_at);
    query
        .bind(m.id.as_str().to_owned())
        .bind(m.account_id.as_str().to_owned())
        .bind("outbound")
        .bind(m.kind.as_str())
        .bind(m.status.as_str())
        .bind(m.to.clone())
        .bind(m.from.clone())
        .bind(m.body.clone())
        .bind(m.encoding)
        .bind(i64::from(m.segments))
        .bind(m.reference.clone())
        .bind(m.metadata.clone())
        .bind(m.status_callback.clone())
        .bind(m.send_at)
        .bind(m.expires_at)
        .bind(m.idempotency_key.clone())
        .bind(m.request_hash.clone())
        .bind(m.created_at)
        .bind(m.created_at)
        .bind(scheduled_at)
        .bind(queued_at)
        .bind(sending_at)
}

const JOB_COLUMNS: &str = "queue, lane, run_at, ref_id, created_at, lease_until, attempts";
const JOB_COLUMN_COUNT: usize = 7;

fn bind_job<'q>(query: Query<'q>, m: &NewMessage) -> Query<'q> {
    query
        .bind(Queue::Dispatch.as_str())
        .bind(m.kind.lane())
        // A job stored leased is due when its lease ends, as a claim leaves it (`jobs`).
        .bind(m.lease_until.unwrap_or(m.send_at.unwrap_or(m.created_at)))
        .bind(m.id.as_str().to_owned())
        .bind(m.created_at)
        .bind(m.lease_until.unwrap_or(0))
        .bind(i64::from(m.lease_until.is_some()))
}

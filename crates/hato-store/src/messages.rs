//! Messages: accepting, reading, cancelling, and the dispatcher's and receipt handler's writes.

use hato_core::{AccountId, Message, MessageId, MessageKind, MessageStatus};
use sqlx::{AnyConnection, Row};
use tokio::sync::oneshot;

use crate::{
    Result, Store, StoreError,
    group_commit::InsertRequest,
    jobs::{self, ClaimedJob, Queue},
    rows::{MESSAGE_COLUMNS, message_from_row},
    sql::{placeholder_list, rows_per_statement, values_rows},
    transitions::{self, Change, Outbox, change_for},
};

/// A message accepted by the API, ready to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub account_id: AccountId,
    pub kind: MessageKind,
    /// `Scheduled` when `send_at` is in the future, else `Queued`.
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
}

const NEW_MESSAGE_COLUMNS: &str = "id, account_id, direction, kind, status, to_number, from_sender, body, encoding, \
     segments, reference, metadata, status_callback, send_at, expires_at, idempotency_key, request_hash, \
     created_at, updated_at, scheduled_at, queued_at";
const NEW_MESSAGE_COLUMN_COUNT: usize = 21;

/// What happened to a single-message insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
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

/// A claimed dispatch job with its message, now `sending`.
#[derive(Debug, Clone)]
pub struct DispatchJob {
    pub job: ClaimedJob,
    pub message: Message,
}

/// The outcome of submitting one message to a carrier.
#[derive(Debug, Clone)]
pub enum SubmitResult {
    /// The carrier took every part; one carrier id per part.
    Sent {
        job_id: i64,
        message_id: MessageId,
        connector: String,
        carrier_ids: Vec<String>,
        at: i64,
    },
    /// Try again at `run_at`.
    Retry {
        job_id: i64,
        message_id: MessageId,
        run_at: i64,
    },
    /// No carrier could take it: try again at `run_at`, without counting this as an attempt.
    Wait {
        job_id: i64,
        message_id: MessageId,
        run_at: i64,
    },
    /// Rejected for good.
    Failed {
        job_id: i64,
        message_id: MessageId,
        connector: Option<String>,
        code: String,
        reason: String,
        at: i64,
    },
    /// Its validity ran out before it could be sent.
    Expired {
        job_id: i64,
        message_id: MessageId,
        at: i64,
    },
}

/// A delivery report to apply to the part it names.
#[derive(Debug, Clone)]
pub struct ReceiptUpdate {
    pub connector: String,
    /// Every form of the carrier's id that may have been stored (hex, decimal, …).
    pub carrier_ids: Vec<String>,
    /// `Delivered`, `Undelivered` or `Expired`.
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub at: i64,
}

/// What a receipt did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiptOutcome {
    /// The part was updated; the message changed to this status (None: waiting for more parts,
    /// or the message was already final).
    Applied {
        message_id: MessageId,
        status: Option<MessageStatus>,
    },
    /// No part has this id yet; kept to apply when the part appears.
    Unmatched,
}

impl Store {
    /// Stores one accepted message and its dispatch job, durably, in a transaction shared with
    /// concurrent inserts (group commit).
    pub async fn insert_message(&self, message: NewMessage) -> Result<InsertOutcome> {
        let (reply, response) = oneshot::channel();
        self.inner
            .inserts
            .send(InsertRequest { message, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        response.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores many accepted messages in one transaction, with the batch request's idempotency
    /// record when given (so a replay never stores the batch twice).
    pub async fn insert_batch(
        &self,
        messages: &[NewMessage],
        idempotency: Option<(&AccountId, &str, &str, u16, &str)>,
    ) -> Result<BatchInsert> {
        let mut tx = self.write().begin().await?;
        if let Some((account, key, hash, status, body)) = idempotency {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (account_id, idempotency_key, request_hash, response_status, response_body, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, idempotency_key) DO NOTHING",
            )
            .bind(account.as_str())
            .bind(key)
            .bind(hash)
            .bind(i64::from(status))
            .bind(body)
            .bind(messages.first().map_or(0, |m| m.created_at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return self.batch_replay(account, key).await;
            }
        }
        insert_rows(&mut tx, &messages.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        Ok(BatchInsert::Inserted)
    }

    async fn batch_replay(&self, account: &AccountId, key: &str) -> Result<BatchInsert> {
        let row = sqlx::query(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE account_id = $1 AND idempotency_key = $2",
        )
        .bind(account.as_str())
        .bind(key)
        .fetch_one(self.write())
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
        let exists = sqlx::query(
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
        let row = sqlx::query(
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
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
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
        let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE account_id = $1");
        let mut texts: Vec<String> = vec![account.as_str().to_owned()];
        let mut push_text = |sql: &mut String, column: &str, op: &str, value: String| {
            texts.push(value);
            sql.push_str(&format!(" AND {column} {op} ${}", texts.len()));
        };
        if let Some(direction) = &filter.direction {
            push_text(&mut sql, "direction", "=", direction.clone());
        }
        if let Some(status) = filter.status {
            push_text(&mut sql, "status", "=", status.as_str().to_owned());
        }
        if let Some(to) = &filter.to {
            push_text(&mut sql, "to_number", "=", to.clone());
        }
        if let Some(from) = &filter.from {
            push_text(&mut sql, "from_sender", "=", from.clone());
        }
        if let Some(reference) = &filter.reference {
            push_text(&mut sql, "reference", "=", reference.clone());
        }
        if let Some(before) = &filter.before_id {
            push_text(&mut sql, "id", "<", before.clone());
        }
        let mut numbers = Vec::new();
        if let Some(after) = filter.created_after {
            numbers.push(after);
            sql.push_str(&format!(
                " AND created_at >= ${}",
                texts.len() + numbers.len()
            ));
        }
        if let Some(before) = filter.created_before {
            numbers.push(before);
            sql.push_str(&format!(
                " AND created_at < ${}",
                texts.len() + numbers.len()
            ));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            filter.limit.clamp(1, 1000)
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
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
        let mut tx = self.write().begin().await?;
        let owned = sqlx::query("SELECT 1 FROM messages WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if owned.is_none() {
            return Ok(None);
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
            sqlx::query("DELETE FROM jobs WHERE queue = $1 AND ref_id = $2")
                .bind(Queue::Dispatch.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let cancelled = changed.is_some();
        tx.commit().await?;
        let message = self
            .message(account, id)
            .await?
            .ok_or_else(|| StoreError::corrupt("cancelled message vanished"))?;
        Ok(Some((message, cancelled)))
    }

    /// Claims due dispatch jobs and marks their messages `sending`, in one transaction. Jobs
    /// whose message is no longer sendable (cancelled, final) are dropped.
    pub async fn claim_dispatch(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DispatchJob>> {
        let mut tx = self.write().begin().await?;
        let jobs = jobs::claim(
            &mut tx,
            self.backend(),
            Queue::Dispatch,
            now,
            lease_until,
            limit,
        )
        .await?;
        if jobs.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        // `sending` is included: a message left `sending` by a process that died is retried.
        let sql = format!(
            "UPDATE messages SET status = 'sending', sending_at = $1, updated_at = $1 \
             WHERE status IN ('scheduled', 'queued', 'sending') AND id IN ({}) RETURNING {MESSAGE_COLUMNS}",
            placeholder_list(2, jobs.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for job in &jobs {
            query = query.bind(job.ref_id.as_str());
        }
        let rows = query.fetch_all(&mut *tx).await?;
        let mut messages: std::collections::HashMap<String, Message> = rows
            .iter()
            .map(|row| message_from_row(row).map(|m| (m.id.as_str().to_owned(), m)))
            .collect::<Result<_>>()?;
        let mut claimed = Vec::with_capacity(jobs.len());
        let mut stale = Vec::new();
        for job in jobs {
            match messages.remove(&job.ref_id) {
                Some(message) => claimed.push(DispatchJob { job, message }),
                None => stale.push(job.id),
            }
        }
        jobs::delete(&mut tx, &stale).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records the outcome of a round of submissions in one transaction.
    pub async fn record_submit_results(&self, results: &[SubmitResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().begin().await?;
        let mut outbox = Outbox::default();
        let mut done_jobs = Vec::with_capacity(results.len());
        for result in results {
            match result {
                SubmitResult::Sent {
                    job_id,
                    message_id,
                    connector,
                    carrier_ids,
                    at,
                } => {
                    insert_parts(&mut tx, message_id, connector, carrier_ids, *at).await?;
                    let change = Change {
                        message_id: message_id.as_str(),
                        status: MessageStatus::Sent,
                        at: *at,
                        connector: Some(connector),
                        error: None,
                    };
                    transitions::advance(&mut tx, &mut outbox, change).await?;
                    done_jobs.push(*job_id);
                    apply_early_receipts(&mut tx, &mut outbox, connector, carrier_ids).await?;
                }
                SubmitResult::Retry {
                    job_id,
                    message_id,
                    run_at,
                }
                | SubmitResult::Wait {
                    job_id,
                    message_id,
                    run_at,
                } => {
                    sqlx::query("UPDATE messages SET status = 'queued' WHERE id = $1 AND status = 'sending'")
                        .bind(message_id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    jobs::reschedule(&mut tx, *job_id, *run_at).await?;
                    if matches!(result, SubmitResult::Wait { .. }) {
                        jobs::uncount_attempt(&mut tx, *job_id).await?;
                    }
                }
                SubmitResult::Failed {
                    job_id,
                    message_id,
                    connector,
                    code,
                    reason,
                    at,
                } => {
                    let change = Change {
                        message_id: message_id.as_str(),
                        status: MessageStatus::Failed,
                        at: *at,
                        connector: connector.as_deref(),
                        error: Some((code, reason)),
                    };
                    transitions::advance(&mut tx, &mut outbox, change).await?;
                    done_jobs.push(*job_id);
                }
                SubmitResult::Expired {
                    job_id,
                    message_id,
                    at,
                } => {
                    let mut change = change_for(message_id, MessageStatus::Expired, *at);
                    change.error = Some((
                        "validity_expired",
                        "the message expired before it could be sent",
                    ));
                    transitions::advance(&mut tx, &mut outbox, change).await?;
                    done_jobs.push(*job_id);
                }
            }
        }
        jobs::delete(&mut tx, &done_jobs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies delivery reports in one transaction.
    pub async fn apply_receipts(&self, receipts: &[ReceiptUpdate]) -> Result<Vec<ReceiptOutcome>> {
        let mut tx = self.write().begin().await?;
        let mut outbox = Outbox::default();
        let mut outcomes = Vec::with_capacity(receipts.len());
        for receipt in receipts {
            let outcome = apply_receipt(&mut tx, &mut outbox, receipt).await?;
            if outcome == ReceiptOutcome::Unmatched {
                // One row per form of the id, so the part matches whichever form its submit
                // response used; `receipt_key` ties the rows of one receipt together.
                let key = receipt
                    .carrier_ids
                    .first()
                    .map(String::as_str)
                    .unwrap_or_default();
                for candidate in receipt
                    .carrier_ids
                    .iter()
                    .map(String::as_str)
                    .chain(receipt.carrier_ids.is_empty().then_some(""))
                {
                    sqlx::query(
                        "INSERT INTO unmatched_receipts (connector, carrier_message_id, receipt_key, status, error_code, received_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(receipt.connector.as_str())
                    .bind(candidate)
                    .bind(key)
                    .bind(receipt.status.as_str())
                    .bind(receipt.error_code.as_deref())
                    .bind(receipt.at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Applies kept receipts whose part exists by now; returns how many were applied.
    ///
    /// A receipt can race its own submit response: on PostgreSQL the transaction recording
    /// the part and the one keeping the receipt as unmatched may run at once, neither seeing
    /// the other's row. Calling this periodically settles such receipts shortly after.
    pub async fn reconcile_unmatched_receipts(&self, limit: usize) -> Result<usize> {
        let mut tx = self.write().begin().await?;
        let rows = sqlx::query(
            "SELECT DISTINCT u.connector, u.carrier_message_id FROM unmatched_receipts u \
             JOIN message_parts p ON p.connector = u.connector AND p.carrier_message_id = u.carrier_message_id \
             LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let mut outbox = Outbox::default();
        for row in &rows {
            let connector: String = row.try_get("connector")?;
            let carrier_id: String = row.try_get("carrier_message_id")?;
            apply_early_receipts(&mut tx, &mut outbox, &connector, &[carrier_id]).await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Receipts still waiting for a part to match.
    pub async fn unmatched_receipt_count(&self) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT connector || ' ' || COALESCE(receipt_key, carrier_message_id)) AS n FROM unmatched_receipts",
        )
            .fetch_one(self.read())
            .await?;
        Ok(row.try_get("n")?)
    }
}

pub(crate) async fn insert_rows(conn: &mut AnyConnection, messages: &[&NewMessage]) -> Result<()> {
    for chunk in messages.chunks(rows_per_statement(NEW_MESSAGE_COLUMN_COUNT)) {
        let sql = format!(
            "INSERT INTO messages ({NEW_MESSAGE_COLUMNS}) VALUES {}",
            values_rows(chunk.len(), NEW_MESSAGE_COLUMN_COUNT)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for m in chunk {
            query = bind_new_message(query, m);
        }
        query.execute(&mut *conn).await?;
        insert_jobs(conn, chunk).await?;
    }
    Ok(())
}

pub(crate) async fn insert_one_idempotent(
    conn: &mut AnyConnection,
    message: &NewMessage,
) -> Result<InsertOutcome> {
    let sql = format!(
        "INSERT INTO messages ({NEW_MESSAGE_COLUMNS}) VALUES {} \
         ON CONFLICT (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
        values_rows(1, NEW_MESSAGE_COLUMN_COUNT)
    );
    let inserted = bind_new_message(sqlx::query(sqlx::AssertSqlSafe(sql)), message)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if inserted == 1 {
        insert_jobs(conn, &[message]).await?;
        return Ok(InsertOutcome::Inserted);
    }
    let row = sqlx::query(
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

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_new_message<'q>(query: AnyQuery<'q>, m: &NewMessage) -> AnyQuery<'q> {
    let scheduled_at = (m.status == MessageStatus::Scheduled).then_some(m.created_at);
    let queued_at = (m.status == MessageStatus::Queued).then_some(m.created_at);
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
}

async fn insert_jobs(conn: &mut AnyConnection, messages: &[&NewMessage]) -> Result<()> {
    const COLS: usize = 5;
    for chunk in messages.chunks(rows_per_statement(COLS)) {
        let sql = format!(
            "INSERT INTO jobs (queue, lane, run_at, ref_id, created_at) VALUES {}",
            values_rows(chunk.len(), COLS)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for m in chunk {
            query = query
                .bind(Queue::Dispatch.as_str())
                .bind(m.kind.lane())
                .bind(m.send_at.unwrap_or(m.created_at))
                .bind(m.id.as_str().to_owned())
                .bind(m.created_at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_parts(
    conn: &mut AnyConnection,
    message_id: &MessageId,
    connector: &str,
    carrier_ids: &[String],
    at: i64,
) -> Result<()> {
    for (part, carrier_id) in carrier_ids.iter().enumerate() {
        // A retried submit may have stored parts already: the newest carrier ids win.
        sqlx::query(
            "INSERT INTO message_parts (message_id, part, connector, carrier_message_id, status, updated_at) \
             VALUES ($1, $2, $3, $4, 'sent', $5) \
             ON CONFLICT (message_id, part) DO UPDATE SET connector = $3, carrier_message_id = $4, status = 'sent', updated_at = $5",
        )
        .bind(message_id.as_str())
        .bind(part as i64 + 1)
        .bind(connector)
        .bind(carrier_id.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Receipts that arrived before the submit response carrying their id: apply them now.
async fn apply_early_receipts(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    connector: &str,
    carrier_ids: &[String],
) -> Result<()> {
    if carrier_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "DELETE FROM unmatched_receipts WHERE connector = $1 AND carrier_message_id IN ({}) \
         RETURNING carrier_message_id, receipt_key, status, error_code, received_at",
        placeholder_list(2, carrier_ids.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(connector);
    for id in carrier_ids {
        query = query.bind(id.as_str());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    for row in rows {
        // The receipt's rows for its other id forms are spent too.
        if let Some(key) = row.try_get::<Option<String>, _>("receipt_key")? {
            sqlx::query("DELETE FROM unmatched_receipts WHERE connector = $1 AND receipt_key = $2")
                .bind(connector)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        let status: String = row.try_get("status")?;
        let receipt = ReceiptUpdate {
            connector: connector.to_owned(),
            carrier_ids: vec![row.try_get("carrier_message_id")?],
            status: MessageStatus::parse(&status)
                .ok_or_else(|| StoreError::corrupt(format!("receipt status {status}")))?,
            error_code: row.try_get("error_code")?,
            at: row.try_get("received_at")?,
        };
        apply_receipt(conn, outbox, &receipt).await?;
    }
    Ok(())
}

async fn apply_receipt(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    receipt: &ReceiptUpdate,
) -> Result<ReceiptOutcome> {
    if receipt.carrier_ids.is_empty() {
        return Ok(ReceiptOutcome::Unmatched);
    }
    let sql = format!(
        "SELECT message_id, part, status FROM message_parts WHERE connector = $1 AND carrier_message_id IN ({}) \
         ORDER BY CASE WHEN status = 'sent' THEN 0 ELSE 1 END, updated_at DESC LIMIT 1",
        placeholder_list(2, receipt.carrier_ids.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(receipt.connector.as_str());
    for id in &receipt.carrier_ids {
        query = query.bind(id.as_str());
    }
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(ReceiptOutcome::Unmatched);
    };
    let message_id: String = row.try_get("message_id")?;
    let part: i64 = row.try_get("part")?;
    let part_status: String = row.try_get("status")?;
    let message_id = MessageId::from_trusted(message_id);
    if part_status != "sent" {
        // A duplicate receipt for a part already final: nothing moves.
        return Ok(ReceiptOutcome::Applied {
            message_id,
            status: None,
        });
    }
    sqlx::query("UPDATE message_parts SET status = $1, error_code = $2, updated_at = $3 WHERE message_id = $4 AND part = $5")
        .bind(receipt.status.as_str())
        .bind(receipt.error_code.as_deref())
        .bind(receipt.at)
        .bind(message_id.as_str())
        .bind(part)
        .execute(&mut *conn)
        .await?;
    let statuses: Vec<String> =
        sqlx::query("SELECT status FROM message_parts WHERE message_id = $1")
            .bind(message_id.as_str())
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get("status"))
            .collect::<Result<_, _>>()?;
    let Some(status) = aggregate_part_statuses(&statuses) else {
        return Ok(ReceiptOutcome::Applied {
            message_id,
            status: None,
        });
    };
    let error = receipt
        .error_code
        .as_deref()
        .filter(|_| status != MessageStatus::Delivered);
    let change = Change {
        message_id: message_id.as_str(),
        status,
        at: receipt.at,
        connector: None,
        error: error.map(|code| (code, "reported by the carrier")),
    };
    let changed = transitions::advance(conn, outbox, change).await?;
    Ok(ReceiptOutcome::Applied {
        message_id,
        status: changed.map(|m| m.status),
    })
}

/// The message status its parts add up to, once every part has a final report: delivered
/// only if all parts were; otherwise the first non-delivered outcome.
fn aggregate_part_statuses(statuses: &[String]) -> Option<MessageStatus> {
    if statuses.iter().any(|s| s == "sent") {
        return None;
    }
    statuses
        .iter()
        .find(|s| *s != "delivered")
        .map_or(Some(MessageStatus::Delivered), |s| {
            MessageStatus::parse(s).or(Some(MessageStatus::Undelivered))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_is_delivered_only_when_every_part_is() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(aggregate_part_statuses(&s(&["delivered", "sent"])), None);
        assert_eq!(
            aggregate_part_statuses(&s(&["delivered", "delivered"])),
            Some(MessageStatus::Delivered)
        );
        assert_eq!(
            aggregate_part_statuses(&s(&["delivered", "expired"])),
            Some(MessageStatus::Expired)
        );
        assert_eq!(
            aggregate_part_statuses(&s(&["undelivered", "delivered"])),
            Some(MessageStatus::Undelivered)
        );
    }
}

//! Status changes and the webhook outbox, in the caller's transaction.
//!
//! Every status change goes through [`advance`], which only moves a message forward (the rule
//! lives in `hato_core::MessageStatus::may_advance_to`, enforced here in the `WHERE` clause so
//! concurrent writers cannot race past it), and writes the webhook announcing the change in the
//! same transaction: a change is never stored without its webhook, nor a webhook sent for a
//! change that was rolled back.

use std::collections::HashMap;

use hato_core::{AccountId, Message, MessageEvent, MessageId, MessageStatus, WebhookDeliveryId};

use crate::{
    Result, StoreError,
    db::{self, Tx},
    jobs::{self, Queue},
    rows::{MESSAGE_COLUMNS, message_from_row, status_time_column, ts},
    sql::{
        placeholder_list, rows_per_statement, shaped, statement_chunks, values_rows,
        values_rows_from,
    },
};

/// A status change to apply.
#[derive(Debug, Clone)]
pub(crate) struct Change<'a> {
    pub message_id: &'a str,
    pub status: MessageStatus,
    pub at: i64,
    pub connector: Option<&'a str>,
    pub error: Option<(&'a str, &'a str)>,
}

/// A message a change moved, and the status it moved to.
#[derive(Debug, Clone)]
pub(crate) struct Moved {
    pub message_id: String,
    pub status: MessageStatus,
}

/// Per-transaction cache of each account's default webhook URL.
#[derive(Default)]
pub(crate) struct Outbox {
    account_urls: HashMap<String, Option<String>>,
    /// The account asked for last, checked first: a batch is mostly one account's, and
    /// comparing its id costs less than hashing it again for every message.
    last: Option<(String, Option<String>)>,
}

/// Applies `change` only if the message is in one of the `from` statuses.
pub(crate) async fn advance_from(
    conn: &mut Tx,
    outbox: &mut Outbox,
    change: Change<'_>,
    from: &[MessageStatus],
) -> Result<Option<Moved>> {
    let changed = update_statuses(conn, outbox, std::slice::from_ref(&change), |_| {
        from.to_vec()
    })
    .await?;
    Ok(changed.into_iter().next())
}

/// Applies many changes, each only if it moves its message forward, in a few multi-row
/// statements (one per target status and ~1,000 parameters), and queues their webhooks.
/// Returns the messages that changed, in no particular order. Each message appears at most
/// once in `changes` (callers aggregate per message first).
pub(crate) async fn advance_many(
    conn: &mut Tx,
    outbox: &mut Outbox,
    changes: &[Change<'_>],
) -> Result<Vec<Moved>> {
    update_statuses(conn, outbox, changes, statuses_before).await
}

/// Applies each change whose message is in one of `from(change.status)`, one statement per
/// target status and ~1,000 parameters, and queues the webhooks of those that changed.
///
/// The update returns a narrow row per changed message; whole messages are read back only
/// for those a webhook announces. A 30-column row costs several times a narrow one to
/// build and copy (and on PostgreSQL, to send), so messages nobody listens to (no callback
/// URL, no account webhook) cost only the narrow row.
async fn update_statuses(
    conn: &mut Tx,
    outbox: &mut Outbox,
    changes: &[Change<'_>],
    from: impl Fn(MessageStatus) -> Vec<MessageStatus>,
) -> Result<Vec<Moved>> {
    // The statuses a message may come from depend only on where it goes: one statement per
    // target status.
    let mut by_status: Vec<(MessageStatus, Vec<&Change<'_>>)> = Vec::new();
    for change in changes {
        match by_status
            .iter_mut()
            .find(|(status, _)| *status == change.status)
        {
            Some((_, group)) => group.push(change),
            None => by_status.push((change.status, vec![change])),
        }
    }
    let mut moved = Vec::with_capacity(changes.len());
    let mut announced = Vec::new();
    for (status, group) in by_status {
        let from = from(status);
        if from.is_empty() {
            continue;
        }
        const COLS: usize = 5;
        let column = status_time_column(status);
        // A message claimed from the queue was never written `sending` (`dispatch.rs`): its
        // outcome stores when the claim took it, from the job it is about to lose.
        let sending_since = if matches!(
            status,
            MessageStatus::Sent | MessageStatus::Failed | MessageStatus::Expired
        ) {
            "sending_at = COALESCE(messages.sending_at, (SELECT j.claimed_at FROM jobs j \
               WHERE j.queue = 'dispatch' AND j.ref_id = messages.id)), "
        } else {
            ""
        };
        for chunk in statement_chunks(&group, rows_per_statement(COLS)) {
            let shape = shaped(statuses_variant(status, &from), chunk.len(), || {
                format!(
                    "UPDATE messages SET status = $1, {column} = v.column2, updated_at = v.column2, {sending_since}\
                       connector = COALESCE(v.column3, messages.connector), \
                       error_code = COALESCE(v.column4, messages.error_code), \
                       error_message = COALESCE(v.column5, messages.error_message) \
                     FROM (VALUES {}) AS v \
                     WHERE messages.id = v.column1 AND messages.status IN ({}) \
                     RETURNING messages.id, messages.account_id, \
                       CASE WHEN messages.status_callback IS NULL THEN 0 ELSE 1 END AS has_callback",
                    values_rows_from(2, chunk.len(), COLS),
                    placeholder_list(2 + chunk.len() * COLS, from.len())
                )
            });
            let mut query = shape.query().bind(status.as_str());
            for change in chunk {
                query = query
                    .bind(change.message_id)
                    .bind(change.at)
                    .bind(change.connector)
                    .bind(change.error.map(|e| e.0))
                    .bind(change.error.map(|e| e.1));
            }
            for status in &from {
                query = query.bind(status.as_str());
            }
            let rows = query.fetch_all(&mut *conn).await?;
            for row in rows {
                let message_id: String = row.try_get("id")?;
                let account_id = AccountId::from_trusted(row.try_get::<String, _>("account_id")?);
                let has_callback = row.try_get::<i64, _>("has_callback")? != 0;
                if status.event_type().is_some()
                    && (has_callback || outbox.account_url(conn, &account_id).await?.is_some())
                {
                    announced.push(message_id.clone());
                }
                moved.push(Moved { message_id, status });
            }
        }
    }
    let changed = messages_by_id(conn, &announced).await?;
    announce_many(conn, outbox, &changed).await?;
    Ok(moved)
}

/// Whole messages with their account, as they are now in this transaction; for each, `at`
/// is its `updated_at`: the time of the change that was just written.
async fn messages_by_id(conn: &mut Tx, ids: &[String]) -> Result<Vec<(AccountId, Message, i64)>> {
    let mut messages = Vec::with_capacity(ids.len());
    for chunk in statement_chunks(ids, rows_per_statement(1)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "SELECT {MESSAGE_COLUMNS}, account_id FROM messages WHERE id IN ({})",
                placeholder_list(1, chunk.len())
            )
        });
        let mut query = shape.query();
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let account_id: String = row.try_get("account_id")?;
            let message = message_from_row(&row)?;
            let at = message.updated_at.as_millisecond();
            messages.push((AccountId::from_trusted(account_id), message, at));
        }
    }
    Ok(messages)
}

/// The statuses an update's text depends on, as the variant of its [`shaped`] statement:
/// one bit per status it moves from, and the status it moves to above them.
fn statuses_variant(to: MessageStatus, from: &[MessageStatus]) -> u64 {
    let bit = |status: MessageStatus| {
        let index = MessageStatus::ALL.iter().position(|s| *s == status);
        1u64 << index.unwrap_or(0)
    };
    from.iter()
        .fold(bit(to) << 32, |mask, status| mask | bit(*status))
}

/// Every status a message may move to `status` from.
fn statuses_before(status: MessageStatus) -> Vec<MessageStatus> {
    MessageStatus::ALL
        .into_iter()
        .filter(|from| from.may_advance_to(status))
        .collect()
}

/// Queues the webhooks announcing the current status of each message, in multi-row
/// statements (one webhook delivery and one job per message that has an event and a URL);
/// `at` is when each message reached its status.
pub(crate) async fn announce_many(
    conn: &mut Tx,
    outbox: &mut Outbox,
    changed: &[(AccountId, Message, i64)],
) -> Result<()> {
    let mut deliveries = Vec::new();
    for (account_id, message, at) in changed {
        let Some(event_type) = message.status.event_type() else {
            continue;
        };
        let url = match &message.status_callback {
            Some(url) => Some(url.clone()),
            None => outbox.account_url(conn, account_id).await?,
        };
        let Some(url) = url else {
            continue;
        };
        let event = MessageEvent {
            event_type: event_type.to_owned(),
            timestamp: ts(*at),
            data: message.clone(),
        };
        let payload = serde_json::to_string(&event)
            .map_err(|e| StoreError::corrupt(format!("event: {e}")))?;
        deliveries.push(PendingDelivery {
            at: *at,
            id: WebhookDeliveryId::generate(),
            account_id,
            message_id: &message.id,
            event_type,
            url,
            payload,
        });
    }
    const COLS: usize = 7;
    for chunk in statement_chunks(&deliveries, rows_per_statement(COLS)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "INSERT INTO webhook_deliveries (id, account_id, message_id, event_type, url, payload, created_at, status, attempts, updated_at) \
                 SELECT column1, column2, column3, column4, column5, column6, column7, 'pending', 0, column7 FROM (VALUES {}) AS v",
                values_rows(chunk.len(), COLS)
            )
        });
        let mut query = shape.query();
        for delivery in chunk {
            query = query
                .bind(delivery.id.as_str())
                .bind(delivery.account_id.as_str())
                .bind(delivery.message_id.as_str())
                .bind(delivery.event_type)
                .bind(delivery.url.as_str())
                .bind(delivery.payload.as_str())
                .bind(delivery.at);
        }
        query.execute(&mut *conn).await?;
    }
    let jobs: Vec<(&str, i64)> = deliveries.iter().map(|d| (d.id.as_str(), d.at)).collect();
    jobs::enqueue_many(conn, Queue::Webhook, jobs::WEBHOOK_LANE, &jobs).await
}

struct PendingDelivery<'a> {
    at: i64,
    id: WebhookDeliveryId,
    account_id: &'a AccountId,
    message_id: &'a MessageId,
    event_type: &'static str,
    url: String,
    payload: String,
}

impl Outbox {
    async fn account_url(
        &mut self,
        conn: &mut Tx,
        account_id: &AccountId,
    ) -> Result<Option<String>> {
        if let Some((id, url)) = &self.last
            && id == account_id.as_str()
        {
            return Ok(url.clone());
        }
        let url = match self.account_urls.get(account_id.as_str()) {
            Some(url) => url.clone(),
            None => {
                let url: Option<String> =
                    db::query("SELECT webhook_url FROM accounts WHERE id = $1")
                        .bind(account_id.as_str())
                        .fetch_optional(&mut *conn)
                        .await?
                        .map(|row| row.try_get::<Option<String>, _>("webhook_url"))
                        .transpose()?
                        .flatten();
                self.account_urls
                    .insert(account_id.as_str().to_owned(), url.clone());
                url
            }
        };
        self.last = Some((account_id.as_str().to_owned(), url.clone()));
        Ok(url)
    }
}

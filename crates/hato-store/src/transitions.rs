//! Status changes and the webhook outbox, in the caller's transaction.
//!
//! Every status change goes through [`advance`], which only moves a message forward (the rule
//! lives in `hato_core::MessageStatus::may_advance_to`, enforced here in the `WHERE` clause so
//! concurrent writers cannot race past it), and writes the webhook announcing the change in the
//! same transaction: a change is never stored without its webhook, nor a webhook sent for a
//! change that was rolled back.

use std::collections::HashMap;

use hato_core::{AccountId, Message, MessageEvent, MessageId, MessageStatus, WebhookDeliveryId};
use sqlx::{AnyConnection, Row};

use crate::{
    Result, StoreError,
    jobs::{self, Queue},
    rows::{MESSAGE_COLUMNS, message_from_row, status_time_column, ts},
    sql::placeholder_list,
};

/// Lane of webhook jobs: after dispatch in urgency, but their own queue, so never competing.
const WEBHOOK_LANE: i64 = 0;

/// A status change to apply.
#[derive(Debug, Clone)]
pub(crate) struct Change<'a> {
    pub message_id: &'a str,
    pub status: MessageStatus,
    pub at: i64,
    pub connector: Option<&'a str>,
    pub error: Option<(&'a str, &'a str)>,
}

/// Per-transaction cache of each account's default webhook URL.
#[derive(Default)]
pub(crate) struct Outbox {
    account_urls: HashMap<String, Option<String>>,
}

/// Applies `change` if it moves the message forward; returns the changed message.
pub(crate) async fn advance(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    change: Change<'_>,
) -> Result<Option<Message>> {
    let from: Vec<MessageStatus> = MessageStatus::ALL
        .into_iter()
        .filter(|status| status.may_advance_to(change.status))
        .collect();
    advance_from(conn, outbox, change, &from).await
}

/// Applies `change` only if the message is in one of the `from` statuses.
pub(crate) async fn advance_from(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    change: Change<'_>,
    from: &[MessageStatus],
) -> Result<Option<Message>> {
    if from.is_empty() {
        return Ok(None);
    }
    let column = status_time_column(change.status);
    let sql = format!(
        "UPDATE messages SET status = $1, {column} = $2, updated_at = $2, \
           connector = COALESCE($3, connector), error_code = COALESCE($4, error_code), \
           error_message = COALESCE($5, error_message) \
         WHERE id = $6 AND status IN ({}) RETURNING {MESSAGE_COLUMNS}, account_id",
        placeholder_list(7, from.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(change.status.as_str())
        .bind(change.at)
        .bind(change.connector)
        .bind(change.error.map(|e| e.0))
        .bind(change.error.map(|e| e.1))
        .bind(change.message_id);
    for status in from {
        query = query.bind(status.as_str());
    }
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let account_id: String = row.try_get("account_id")?;
    let message = message_from_row(&row)?;
    announce(
        conn,
        outbox,
        &AccountId::from_trusted(account_id),
        &message,
        change.at,
    )
    .await?;
    Ok(Some(message))
}

/// Queues the webhook for the message's current status, if it has one and a URL to go to.
pub(crate) async fn announce(
    conn: &mut AnyConnection,
    outbox: &mut Outbox,
    account_id: &AccountId,
    message: &Message,
    at: i64,
) -> Result<()> {
    let Some(event_type) = message.status.event_type() else {
        return Ok(());
    };
    let url = match &message.status_callback {
        Some(url) => Some(url.clone()),
        None => outbox.account_url(conn, account_id).await?,
    };
    let Some(url) = url else {
        return Ok(());
    };
    let event = MessageEvent {
        event_type: event_type.to_owned(),
        timestamp: ts(at),
        data: message.clone(),
    };
    let payload =
        serde_json::to_string(&event).map_err(|e| StoreError::corrupt(format!("event: {e}")))?;
    let delivery_id = WebhookDeliveryId::generate();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, account_id, message_id, event_type, url, payload, status, attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(delivery_id.as_str())
    .bind(account_id.as_str())
    .bind(message.id.as_str())
    .bind(event_type)
    .bind(url)
    .bind(payload)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    jobs::enqueue(
        conn,
        Queue::Webhook,
        WEBHOOK_LANE,
        at,
        delivery_id.as_str(),
        at,
    )
    .await
}

impl Outbox {
    async fn account_url(
        &mut self,
        conn: &mut AnyConnection,
        account_id: &AccountId,
    ) -> Result<Option<String>> {
        if let Some(url) = self.account_urls.get(account_id.as_str()) {
            return Ok(url.clone());
        }
        let url: Option<String> = sqlx::query("SELECT webhook_url FROM accounts WHERE id = $1")
            .bind(account_id.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| row.try_get::<Option<String>, _>("webhook_url"))
            .transpose()?
            .flatten();
        self.account_urls
            .insert(account_id.as_str().to_owned(), url.clone());
        Ok(url)
    }
}

/// Convenience for callers holding a typed id.
pub(crate) fn change_for(id: &MessageId, status: MessageStatus, at: i64) -> Change<'_> {
    Change {
        message_id: id.as_str(),
        status,
        at,
        connector: None,
        error: None,
    }
}

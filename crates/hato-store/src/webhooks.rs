//! Webhook deliveries and the record of every attempt.

use hato_core::{AccountId, MessageId};

use crate::{
    Result, Store,
    db::{self, Row},
    jobs,
};

/// One event to deliver to one URL. The payload is fixed when the event happens, so every retry
/// sends the same bytes under the same `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: String,
    pub account_id: AccountId,
    pub message_id: Option<String>,
    pub event_type: String,
    pub url: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAttemptOutcome {
    Succeeded,
    /// Failed; try again at this time.
    RetryAt(i64),
    /// Failed and no attempts are left.
    GaveUp,
}

/// An attempt to record.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub delivery_id: String,
    pub job_id: i64,
    pub attempted_at: i64,
    pub response_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub outcome: WebhookAttemptOutcome,
}

/// An attempt as recorded, with the delivery it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub delivery_id: String,
    pub event_type: String,
    pub url: String,
    pub attempt: i64,
    pub attempted_at: i64,
    pub response_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub next_attempt_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str =
    "id, account_id, message_id, event_type, url, payload, status, attempts, created_at";

fn delivery_from_row(row: &Row) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: row.try_get("id")?,
        account_id: AccountId::from_trusted(row.try_get("account_id")?),
        message_id: row.try_get("message_id")?,
        event_type: row.try_get("event_type")?,
        url: row.try_get("url")?,
        payload: row.try_get("payload")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn webhook_delivery(&self, id: &str) -> Result<Option<WebhookDelivery>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        let row = db::query(sql).bind(id).fetch_optional(self.read()).await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// The deliveries made for a message, oldest first.
    pub async fn message_webhook_deliveries(
        &self,
        account: &AccountId,
        message: &MessageId,
    ) -> Result<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE account_id = $1 AND message_id = $2 ORDER BY created_at, id"
        );
        let rows = db::query(sql)
            .bind(account.as_str())
            .bind(message.as_str())
            .fetch_all(self.read())
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Every attempt to deliver a message's webhooks, oldest first.
    pub async fn message_webhook_attempts(
        &self,
        account: &AccountId,
        message: &MessageId,
    ) -> Result<Vec<WebhookAttempt>> {
        let rows = db::query(
            "SELECT a.delivery_id, d.event_type, d.url, a.attempt, a.attempted_at, a.response_status, a.error, \
               a.duration_ms, a.next_attempt_at \
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.account_id = $1 AND d.message_id = $2 ORDER BY a.attempted_at, a.id",
        )
        .bind(account.as_str())
        .bind(message.as_str())
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WebhookAttempt {
                    delivery_id: row.try_get("delivery_id")?,
                    event_type: row.try_get("event_type")?,
                    url: row.try_get("url")?,
                    attempt: row.try_get("attempt")?,
                    attempted_at: row.try_get("attempted_at")?,
                    response_status: row.try_get("response_status")?,
                    error: row.try_get("error")?,
                    duration_ms: row.try_get("duration_ms")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                })
            })
            .collect()
    }

    /// Records an attempt and settles the delivery and its job accordingly, atomically.
    pub async fn record_webhook_attempt(&self, attempt: &NewAttempt) -> Result<()> {
        let attempt = attempt.clone();
        self.on_writer("webhook_attempt", move |store| async move {
            store.record_webhook_attempt_now(&attempt).await
        })
        .await
    }

    async fn record_webhook_attempt_now(&self, attempt: &NewAttempt) -> Result<()> {
        let mut tx = self.write().begin().await?;
        let row = db::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $1, updated_at = $2 WHERE id = $3 RETURNING attempts",
        )
        .bind(match attempt.outcome {
            WebhookAttemptOutcome::Succeeded => "succeeded",
            WebhookAttemptOutcome::RetryAt(_) => "pending",
            WebhookAttemptOutcome::GaveUp => "failed",
        })
        .bind(attempt.attempted_at)
        .bind(attempt.delivery_id.as_str())
        .fetch_one(&mut tx)
        .await?;
        let number: i64 = row.try_get("attempts")?;
        let next = match attempt.outcome {
            WebhookAttemptOutcome::RetryAt(at) => Some(at),
            _ => None,
        };
        db::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, response_status, error, duration_ms, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(attempt.delivery_id.as_str())
        .bind(number)
        .bind(attempt.attempted_at)
        .bind(attempt.response_status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(attempt.duration_ms)
        .bind(next)
        .execute(&mut tx)
        .await?;
        match next {
            Some(at) => jobs::reschedule(&mut tx, attempt.job_id, at).await?,
            None => jobs::delete(&mut tx, &[attempt.job_id]).await?,
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops a webhook job whose delivery no longer exists.
    pub async fn discard_job(&self, job_id: i64) -> Result<()> {
        self.on_writer("discard_job", move |store| async move {
            let mut tx = store.write().begin().await?;
            jobs::delete(&mut tx, &[job_id]).await?;
            tx.commit().await
        })
        .await
    }
}

//! Turning rows into domain values.

use hato_core::{
    Direction, Message, MessageError, MessageId, MessageKind, MessageStatus, StatusTimestamps,
    text::Encoding,
};
use jiff::Timestamp;

use crate::{Result, StoreError, db::Row};

/// The columns [`message_from_row`] reads, in a form ready for `SELECT` and `RETURNING`.
pub(crate) const MESSAGE_COLUMNS: &str = "id, direction, kind, status, to_number, from_sender, body, encoding, \
     segments, reference, metadata, status_callback, send_at, expires_at, connector, error_code, error_message, \
     created_at, updated_at, scheduled_at, queued_at, sending_at, sent_at, delivered_at, undelivered_at, \
     expired_at, failed_at, cancelled_at, received_at";

pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn opt_ts(row: &Row, column: &str) -> Result<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(ts))
}

pub(crate) fn message_from_row(row: &Row) -> Result<Message> {
    let text = |c: &str| -> Result<String> { row.try_get::<String, _>(c) };
    let opt_text = |c: &str| -> Result<Option<String>> { row.try_get::<Option<String>, _>(c) };
    let direction = text("direction")?;
    let kind = text("kind")?;
    let status = text("status")?;
    let encoding = text("encoding")?;
    let metadata = match opt_text("metadata")? {
        Some(json) => Some(
            serde_json::from_str(&json)
                .map_err(|e| StoreError::corrupt(format!("metadata: {e}")))?,
        ),
        None => None,
    };
    let error = match (opt_text("error_code")?, opt_text("error_message")?) {
        (Some(code), message) => Some(MessageError {
            code,
            message: message.unwrap_or_default(),
        }),
        (None, Some(message)) => Some(MessageError {
            code: String::new(),
            message,
        }),
        (None, None) => None,
    };
    Ok(Message {
        id: MessageId::from_trusted(text("id")?),
        direction: Direction::parse(&direction)
            .ok_or_else(|| StoreError::corrupt(format!("direction {direction}")))?,
        kind: MessageKind::parse(&kind)
            .ok_or_else(|| StoreError::corrupt(format!("kind {kind}")))?,
        status: MessageStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(format!("status {status}")))?,
        to: text("to_number")?,
        from: opt_text("from_sender")?,
        body: text("body")?,
        encoding: match encoding.as_str() {
            "gsm7" => Encoding::Gsm7,
            "ucs2" => Encoding::Ucs2,
            other => return Err(StoreError::corrupt(format!("encoding {other}"))),
        },
        segments: u32::try_from(row.try_get::<i64, _>("segments")?).unwrap_or(0),
        reference: opt_text("reference")?,
        metadata,
        status_callback: opt_text("status_callback")?,
        send_at: opt_ts(row, "send_at")?,
        expires_at: opt_ts(row, "expires_at")?,
        connector: opt_text("connector")?,
        error,
        created_at: ts(row.try_get("created_at")?),
        updated_at: ts(row.try_get("updated_at")?),
        timestamps: StatusTimestamps {
            scheduled: opt_ts(row, "scheduled_at")?,
            queued: opt_ts(row, "queued_at")?,
            sending: opt_ts(row, "sending_at")?,
            sent: opt_ts(row, "sent_at")?,
            delivered: opt_ts(row, "delivered_at")?,
            undelivered: opt_ts(row, "undelivered_at")?,
            expired: opt_ts(row, "expired_at")?,
            failed: opt_ts(row, "failed_at")?,
            cancelled: opt_ts(row, "cancelled_at")?,
            received: opt_ts(row, "received_at")?,
        },
    })
}

/// The column that records when a message reached `status`.
pub(crate) fn status_time_column(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Scheduled => "scheduled_at",
        MessageStatus::Queued => "queued_at",
        MessageStatus::Sending => "sending_at",
        MessageStatus::Sent => "sent_at",
        MessageStatus::Delivered => "delivered_at",
        MessageStatus::Undelivered => "undelivered_at",
        MessageStatus::Expired => "expired_at",
        MessageStatus::Failed => "failed_at",
        MessageStatus::Cancelled => "cancelled_at",
        MessageStatus::Received => "received_at",
    }
}

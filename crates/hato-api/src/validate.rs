//! Turning a send request into a message to store, or an error naming the field at fault.
//! Single and batch sends share it, so a message is judged the same way either way.

use std::time::Duration;

use hato_core::{
    AccountId, MessageId, MessageKind, MessageStatus, PhoneNumber, Sender,
    text::{self, TextAnalysis},
};
use hato_store::NewMessage;
use jiff::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{error::ApiError, state::ApiSettings};

/// A message to send.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// The recipient: E.164 (`+819012345678`) or a number in the default region (`090-1234-5678`).
    #[schema(example = "090-1234-5678")]
    pub to: String,
    /// The text. Up to the segment limit (default 10: 670 UCS-2 or 1,530 GSM-7 characters).
    #[schema(example = "ご予約を承りました。")]
    pub body: String,
    /// Sender id: alphanumeric (up to 11 characters), a short code, or a number.
    pub from: Option<String>,
    /// `transactional` (default), `otp` (most urgent lane) or `promotional`.
    pub kind: Option<MessageKind>,
    /// When to send (RFC 3339); absent means now.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_at: Option<String>,
    /// How long the message may wait before it expires unsent: seconds, or a duration such as `"30m"`.
    #[schema(value_type = Option<Object>, example = "2h")]
    pub validity: Option<Validity>,
    /// Your own reference (up to 256 characters); filter by it when listing.
    pub reference: Option<String>,
    /// Your own JSON object (up to 4 KiB), echoed back in responses and webhooks.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// URL that receives this message's status events instead of the account's webhook URL.
    pub status_callback: Option<String>,
}

/// Seconds, or a human duration (`"90s"`, `"30m"`, `"2h"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Validity {
    Seconds(u64),
    Text(String),
}

const MAX_REFERENCE: usize = 256;
const MAX_METADATA_BYTES: usize = 4096;
const MAX_CALLBACK: usize = 2048;
const MIN_VALIDITY: Duration = Duration::from_secs(1);
const MAX_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
/// `send_at` this far in the past is a mistake, not clock skew.
const SEND_AT_PAST_TOLERANCE_MS: i64 = 60_000;
const MAX_SCHEDULE_AHEAD_MS: i64 = 365 * 24 * 3600 * 1000;

/// The request, checked: everything needed to store it.
pub struct Validated {
    pub message: NewMessage,
    pub analysis: TextAnalysis,
}

/// Checks one request; `field_prefix` is `""` for a single send, `"messages[3]."` in a batch.
pub fn validate(
    request: &SendMessageRequest,
    settings: &ApiSettings,
    account_id: &AccountId,
    now_ms: i64,
    field_prefix: &str,
) -> Result<Validated, ApiError> {
    let field = |name: &str| format!("{field_prefix}{name}");
    let to = PhoneNumber::parse(&request.to, &settings.default_region)
        .map_err(|e| ApiError::invalid(field("to"), "invalid_phone_number", format!("`to` {e}")))?;
    let from = request
        .from
        .as_deref()
        .map(|from| {
            Sender::parse(from, &settings.default_region).map_err(|e| {
                ApiError::invalid(field("from"), "invalid_sender", format!("`from`: {e}"))
            })
        })
        .transpose()?;
    if request.body.is_empty() {
        return Err(ApiError::invalid(
            field("body"),
            "empty_body",
            "`body` must not be empty",
        ));
    }
    let analysis = text::analyze(&request.body);
    if analysis.segments > settings.max_segments {
        let (per, chars) = match analysis.encoding {
            text::Encoding::Gsm7 => (153, "GSM-7"),
            text::Encoding::Ucs2 => (67, "UCS-2"),
        };
        return Err(ApiError::invalid(
            field("body"),
            "body_too_long",
            format!(
                "`body` needs {} segments; the limit is {} ({} {chars} characters)",
                analysis.segments,
                settings.max_segments,
                per * settings.max_segments
            ),
        ));
    }
    let send_at = match request.send_at.as_deref() {
        None => None,
        Some(text) => {
            let at: Timestamp = text.parse().map_err(|_| {
                ApiError::invalid(
                    field("send_at"),
                    "invalid_time",
                    "`send_at` must be an RFC 3339 time with an offset, e.g. 2026-12-01T09:00:00+09:00",
                )
            })?;
            let at = at.as_millisecond();
            if at < now_ms - SEND_AT_PAST_TOLERANCE_MS {
                return Err(ApiError::invalid(
                    field("send_at"),
                    "send_at_in_past",
                    "`send_at` is in the past",
                ));
            }
            if at > now_ms + MAX_SCHEDULE_AHEAD_MS {
                return Err(ApiError::invalid(
                    field("send_at"),
                    "send_at_too_far",
                    "`send_at` may be at most 365 days ahead",
                ));
            }
            Some(at)
        }
    };
    let validity = request
        .validity
        .as_ref()
        .map(|v| parse_validity(v, &field("validity")))
        .transpose()?;
    let start = send_at.unwrap_or(now_ms).max(now_ms);
    let expires_at = validity.map(|v| start + v.as_millis() as i64);
    if let Some(reference) = &request.reference
        && (reference.is_empty() || reference.chars().count() > MAX_REFERENCE)
    {
        return Err(ApiError::invalid(
            field("reference"),
            "invalid_reference",
            format!("`reference` must be 1 to {MAX_REFERENCE} characters"),
        ));
    }
    let metadata = match &request.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(value @ serde_json::Value::Object(_)) => {
            let text = value.to_string();
            if text.len() > MAX_METADATA_BYTES {
                return Err(ApiError::invalid(
                    field("metadata"),
                    "metadata_too_large",
                    format!("`metadata` must be at most {MAX_METADATA_BYTES} bytes as JSON"),
                ));
            }
            Some(text)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                field("metadata"),
                "invalid_metadata",
                "`metadata` must be a JSON object",
            ));
        }
    };
    let status_callback = request
        .status_callback
        .as_deref()
        .map(|url| {
            check_callback_url(url)
                .map_err(|m| ApiError::invalid(field("status_callback"), "invalid_url", m))
        })
        .transpose()?;
    let status = if send_at.is_some_and(|at| at > now_ms) {
        MessageStatus::Scheduled
    } else {
        MessageStatus::Queued
    };
    Ok(Validated {
        message: NewMessage {
            id: MessageId::generate(),
            account_id: account_id.clone(),
            kind: request.kind.unwrap_or_default(),
            status,
            to: to.as_str().to_owned(),
            from: from.map(|f| f.as_str().to_owned()),
            body: request.body.clone(),
            encoding: analysis.encoding.as_str(),
            segments: analysis.segments as u32,
            reference: request.reference.clone(),
            metadata,
            status_callback,
            send_at: send_at.filter(|at| *at > now_ms),
            expires_at,
            idempotency_key: None,
            request_hash: None,
            created_at: now_ms,
            lease_until: None,
        },
        analysis,
    })
}

fn parse_validity(validity: &Validity, field: &str) -> Result<Duration, ApiError> {
    let duration = match validity {
        Validity::Seconds(seconds) => Duration::from_secs(*seconds),
        Validity::Text(text) => humantime::parse_duration(text.trim()).map_err(|_| {
            ApiError::invalid(
                field,
                "invalid_duration",
                "`validity` must be seconds or a duration such as \"30m\" or \"2h\"",
            )
        })?,
    };
    if !(MIN_VALIDITY..=MAX_VALIDITY).contains(&duration) {
        return Err(ApiError::invalid(
            field,
            "invalid_duration",
            "`validity` must be between 1 second and 30 days",
        ));
    }
    Ok(duration)
}

/// An http(s) URL with a host, of sane length.
pub fn check_callback_url(text: &str) -> Result<String, String> {
    if text.len() > MAX_CALLBACK {
        return Err(format!("the URL is longer than {MAX_CALLBACK} characters"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the URL must be http or https, not {}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(url.to_string())
}

/// A stable hash of a request's meaning (JSON re-serialised with sorted keys), so the same
/// request sent again with other spacing or key order is recognised as the same.
pub fn request_hash(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

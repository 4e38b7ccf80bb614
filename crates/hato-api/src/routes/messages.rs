//! `/v1/messages`: send one, send a batch, read, list, cancel, follow events, preview cost.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use hato_core::{Direction, Message, MessageId, MessageStatus, PhoneNumber, StatusTimestamps};
use hato_store::{BatchInsert, BatchRecord, DispatchJob, InsertOutcome, MessageFilter, NewMessage};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult, ErrorBody, ErrorEnvelope},
    extract::{IdempotencyKey, ValidJson, from_value},
    routes::now_ms,
    state::AppState,
    validate::{SendMessageRequest, request_hash, validate},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message, list_messages))
        .routes(routes!(send_batch))
        .routes(routes!(get_message))
        .routes(routes!(cancel_message))
        .routes(routes!(message_events))
}

/// Send one message.
///
/// The message is stored and queued before the answer, so a `202` means it will be sent.
/// Its status is `scheduled` (a `send_at` ahead), `queued`, or already `sending` when the
/// dispatcher took it on the spot (nothing else was waiting). With an `Idempotency-Key`,
/// sending the same request again returns the same message.
#[utoipa::path(
    post, path = "/v1/messages", tag = "messages",
    request_body = SendMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body return the same message")),
    responses(
        (status = 202, description = "Accepted: scheduled, queued or already sending", body = Message),
        (status = 400, description = "Malformed JSON", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid API key", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid, or the idempotency key was used with another body", body = ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
async fn send_message(
    State(state): State<AppState>,
    auth: Authenticated,
    IdempotencyKey(key): IdempotencyKey,
    ValidJson(body): ValidJson<serde_json::Value>,
) -> ApiResult<Response> {
    let request: SendMessageRequest = from_value(&body, "")?;
    let now = now_ms();
    let mut message = validate(&request, state.settings(), &auth.account_id, now, "")?.message;
    if let Some(key) = key {
        let hash = request_hash(&body);
        if let Some((id, stored)) = state
            .store()
            .message_by_idempotency_key(&auth.account_id, &key)
            .await?
        {
            return replay(&state, &auth, id, stored, &hash).await;
        }
        message.idempotency_key = Some(key);
        message.request_hash = Some(hash);
    }
    // Due now and nothing waiting ahead of it: store it claimed and hand it straight to the
    // dispatcher (one transaction less than queueing it, see hato_engine::handoff).
    let reservation = (message.status == MessageStatus::Queued)
        .then(|| state.engine().reserve_dispatch())
        .flatten();
    if let Some(reservation) = &reservation {
        message.claim_on_insert(reservation.lease_until());
    }
    match state.store().insert_message(message.clone()).await? {
        InsertOutcome::Inserted { claimed } => {
            let view = accepted_view(&message);
            match (reservation, claimed) {
                (Some(reservation), Some(job)) => reservation.hand_over(DispatchJob {
                    job,
                    message: view.clone(),
                }),
                _ => state.engine().notify_dispatch(),
            }
            metrics::counter!("hato_messages_accepted_total", "kind" => message.kind.as_str())
                .increment(1);
            Ok((StatusCode::ACCEPTED, Json(view)).into_response())
        }
        InsertOutcome::Existing {
            id,
            request_hash: stored,
        } => {
            let hash = message.request_hash.unwrap_or_default();
            replay(&state, &auth, id, stored, &hash).await
        }
    }
}

async fn replay(
    state: &AppState,
    auth: &Authenticated,
    id: MessageId,
    stored_hash: Option<String>,
    hash: &str,
) -> ApiResult<Response> {
    if stored_hash.as_deref() != Some(hash) {
        return Err(idempotency_conflict());
    }
    let message = state
        .store()
        .message(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let mut response = (StatusCode::ACCEPTED, Json(message)).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

fn idempotency_conflict() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was already used with a different request body",
    )
    .with_field("Idempotency-Key")
}

/// The message as just accepted, built without reading it back.
fn accepted_view(m: &NewMessage) -> Message {
    let at = Timestamp::from_millisecond(m.created_at).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut timestamps = StatusTimestamps::default();
    *timestamps.slot(m.status) = Some(at);
    if m.status == MessageStatus::Sending {
        // Queued and claimed in the same instant.
        timestamps.queued = Some(at);
    }
    let ms = |v: Option<i64>| v.and_then(|v| Timestamp::from_millisecond(v).ok());
    Message {
        id: m.id.clone(),
        direction: Direction::Outbound,
        kind: m.kind,
        status: m.status,
        to: m.to.clone(),
        from: m.from.clone(),
        body: m.body.clone(),
        encoding: if m.encoding == "gsm7" {
            hato_core::text::Encoding::Gsm7
        } else {
            hato_core::text::Encoding::Ucs2
        },
        segments: m.segments,
        reference: m.reference.clone(),
        metadata: m
            .metadata
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok()),
        status_callback: m.status_callback.clone(),
        send_at: ms(m.send_at),
        expires_at: ms(m.expires_at),
        connector: None,
        error: None,
        created_at: at,
        updated_at: at,
        timestamps,
    }
}

/// A batch of messages; each is validated on its own.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Up to 10,000 messages, each shaped like a single send.
    #[schema(value_type = Vec<SendMessageRequest>)]
    pub messages: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct BatchAccepted {
    /// Position in the request's `messages`.
    pub index: usize,
    #[schema(value_type = String)]
    pub id: MessageId,
    pub status: MessageStatus,
    pub to: String,
    pub encoding: hato_core::text::Encoding,
    pub segments: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRejected {
    pub index: usize,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub accepted_count: usize,
    pub rejected_count: usize,
    pub accepted: Vec<BatchAccepted>,
    pub rejected: Vec<BatchRejected>,
}

/// Send up to 10,000 messages in one request.
///
/// Each message is checked on its own: valid ones are stored and queued together, invalid ones
/// are listed with the reason. `202` when at least one was accepted, `422` when none was.
#[utoipa::path(
    post, path = "/v1/messages/batch", tag = "messages",
    request_body = BatchRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "The same key and body return the first answer again")),
    responses(
        (status = 202, description = "Some or all accepted", body = BatchResponse),
        (status = 422, description = "None accepted, or the batch itself is invalid", body = BatchResponse),
    ),
    security(("api_key" = []))
)]
async fn send_batch(
    State(state): State<AppState>,
    auth: Authenticated,
    IdempotencyKey(key): IdempotencyKey,
    ValidJson(body): ValidJson<serde_json::Value>,
) -> ApiResult<Response> {
    let request: BatchRequest = from_value(&body, "")?;
    let max = state.settings().max_batch;
    if request.messages.is_empty() || request.messages.len() > max {
        return Err(ApiError::invalid(
            "messages",
            "invalid_batch_size",
            format!(
                "`messages` must hold 1 to {max} messages, not {}",
                request.messages.len()
            ),
        ));
    }
    let hash = key.as_ref().map(|_| request_hash(&body));
    if let (Some(key), Some(hash)) = (&key, &hash)
        && let Some(BatchInsert::Replay {
            request_hash,
            response_status,
            response_body,
        }) = state
            .store()
            .batch_idempotency(&auth.account_id, key)
            .await?
    {
        return replay_batch(&request_hash, hash, response_status, response_body);
    }
    let now = now_ms();
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    let mut messages = Vec::with_capacity(request.messages.len());
    for (index, value) in request.messages.iter().enumerate() {
        let prefix = format!("messages[{index}]");
        let checked = from_value::<SendMessageRequest>(value, &prefix).and_then(|item| {
            validate(
                &item,
                state.settings(),
                &auth.account_id,
                now,
                &format!("{prefix}."),
            )
        });
        match checked {
            Ok(valid) => {
                let m = valid.message;
                accepted.push(BatchAccepted {
                    index,
                    id: m.id.clone(),
                    status: m.status,
                    to: m.to.clone(),
                    encoding: valid.analysis.encoding,
                    segments: m.segments,
                });
                messages.push(m);
            }
            Err(error) => rejected.push(BatchRejected {
                index,
                error: error.body,
            }),
        }
    }
    let status = if accepted.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::ACCEPTED
    };
    let response = BatchResponse {
        accepted_count: accepted.len(),
        rejected_count: rejected.len(),
        accepted,
        rejected,
    };
    let response_body = serde_json::to_string(&response).map_err(|e| ApiError::internal(&e))?;
    let accepted_kinds: Vec<&'static str> = messages.iter().map(|m| m.kind.as_str()).collect();
    let record = key
        .clone()
        .zip(hash.clone())
        .map(|(key, request_hash)| BatchRecord {
            account_id: auth.account_id.clone(),
            key,
            request_hash,
            response_status: status.as_u16(),
            response_body: response_body.clone(),
        });
    if !messages.is_empty() || record.is_some() {
        match state.store().insert_batch(messages, record).await? {
            BatchInsert::Inserted => {}
            BatchInsert::Replay {
                request_hash,
                response_status,
                response_body,
            } => {
                // Another request with this key won the race.
                return replay_batch(
                    &request_hash,
                    hash.as_deref().unwrap_or_default(),
                    response_status,
                    response_body,
                );
            }
        }
    }
    if !accepted_kinds.is_empty() {
        state.engine().notify_dispatch();
        for kind in accepted_kinds {
            metrics::counter!("hato_messages_accepted_total", "kind" => kind).increment(1);
        }
    }
    Ok(json_response(status, response_body))
}

fn replay_batch(stored_hash: &str, hash: &str, status: u16, body: String) -> ApiResult<Response> {
    if stored_hash != hash {
        return Err(idempotency_conflict());
    }
    let mut response = json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED),
        body,
    );
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (status, headers, body).into_response()
}

/// Read one message.
#[utoipa::path(
    get, path = "/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "Message id (`msg_…`)")),
    responses((status = 200, body = Message), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn get_message(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    let id = MessageId::parse(&id).map_err(|_| ApiError::not_found("message"))?;
    let message = state
        .store()
        .message(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(message))
}

/// A page of messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub data: Vec<Message>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<MessageId>,
}

/// List messages, newest first, with filters and cursor pagination.
#[utoipa::path(
    get, path = "/v1/messages", tag = "messages",
    params(
        ("status" = Option<String>, Query, description = "One status, e.g. `delivered`"),
        ("direction" = Option<String>, Query, description = "`outbound` or `inbound`"),
        ("to" = Option<String>, Query, description = "Recipient, in any form `to` accepts"),
        ("from" = Option<String>, Query, description = "Sender"),
        ("reference" = Option<String>, Query, description = "Your reference"),
        ("created_after" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("created_before" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 50"),
    ),
    responses((status = 200, body = MessagePage), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn list_messages(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<MessagePage>> {
    let mut filter = MessageFilter {
        limit: 50,
        ..MessageFilter::default()
    };
    for (name, value) in &query {
        let invalid = |code: &str, message: String| ApiError::invalid(name.clone(), code, message);
        match name.as_str() {
            "status" => {
                filter.status = Some(MessageStatus::parse(value).ok_or_else(|| {
                    invalid(
                        "invalid_status",
                        format!("`{value}` is not a message status"),
                    )
                })?);
            }
            "direction" => {
                let direction = Direction::parse(value).ok_or_else(|| {
                    invalid(
                        "invalid_direction",
                        "`direction` must be `outbound` or `inbound`".into(),
                    )
                })?;
                filter.direction = Some(direction.as_str().to_owned());
            }
            "to" => {
                let number = PhoneNumber::parse(value, &state.settings().default_region)
                    .map_err(|e| invalid("invalid_phone_number", format!("`to` {e}")))?;
                filter.to = Some(number.as_str().to_owned());
            }
            "from" => filter.from = Some(value.clone()),
            "reference" => filter.reference = Some(value.clone()),
            "created_after" | "created_before" => {
                let at: Timestamp = value.parse().map_err(|_| {
                    invalid("invalid_time", format!("`{name}` must be an RFC 3339 time"))
                })?;
                if name == "created_after" {
                    filter.created_after = Some(at.as_millisecond());
                } else {
                    filter.created_before = Some(at.as_millisecond());
                }
            }
            "cursor" => {
                let id = MessageId::parse(value).map_err(|_| {
                    invalid(
                        "invalid_cursor",
                        "`cursor` must be a `next_cursor` from a previous page".into(),
                    )
                })?;
                filter.before_id = Some(id.as_str().to_owned());
            }
            "limit" => {
                filter.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        invalid(
                            "invalid_limit",
                            "`limit` must be a number from 1 to 1000".into(),
                        )
                    })?;
            }
            _ => {
                return Err(invalid(
                    "unknown_parameter",
                    format!("`{name}` is not a filter of this list"),
                ));
            }
        }
    }
    let data = state.store().messages(&auth.account_id, &filter).await?;
    let next_cursor = (data.len() == filter.limit)
        .then(|| data.last().map(|m| m.id.clone()))
        .flatten();
    Ok(Json(MessagePage { data, next_cursor }))
}

/// Cancel a message that is still scheduled or queued.
#[utoipa::path(
    post, path = "/v1/messages/{id}/cancel", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "Cancelled", body = Message),
        (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Already being sent or finished", body = ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
async fn cancel_message(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    let id = MessageId::parse(&id).map_err(|_| ApiError::not_found("message"))?;
    let (message, cancelled) = state
        .store()
        .cancel_message(&auth.account_id, &id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    if !cancelled && message.status != MessageStatus::Cancelled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_cancellable",
            format!(
                "the message is {} and can no longer be cancelled",
                message.status
            ),
        ));
    }
    Ok(Json(message))
}

/// One thing that happened to a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageEventEntry {
    /// `status` or `webhook_attempt`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// For `status`: the status reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<MessageStatus>,
    /// For `webhook_attempt`: the event delivered, e.g. `message.delivered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// For a failed attempt: when the next one is due (absent when it gave up or succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageEventList {
    pub data: Vec<MessageEventEntry>,
}

/// The message's history: each status with its time, and every webhook attempt.
#[utoipa::path(
    get, path = "/v1/messages/{id}/events", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = MessageEventList), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn message_events(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageEventList>> {
    let id = MessageId::parse(&id).map_err(|_| ApiError::not_found("message"))?;
    let mut message = state
        .store()
        .message(&auth.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let mut data = Vec::new();
    for status in MessageStatus::ALL {
        if let Some(at) = *message.timestamps.slot(status) {
            data.push(MessageEventEntry::status(status, at));
        }
    }
    let ts = |ms: i64| Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    for attempt in state
        .store()
        .message_webhook_attempts(&auth.account_id, &id)
        .await?
    {
        data.push(MessageEventEntry {
            event_type: "webhook_attempt",
            at: ts(attempt.attempted_at),
            status: None,
            webhook_event: Some(attempt.event_type),
            url: Some(attempt.url),
            attempt: Some(attempt.attempt),
            response_status: attempt.response_status,
            error: attempt.error,
            duration_ms: Some(attempt.duration_ms),
            next_attempt_at: attempt.next_attempt_at.map(ts),
        });
    }
    data.sort_by_key(|entry| entry.at);
    Ok(Json(MessageEventList { data }))
}

impl MessageEventEntry {
    fn status(status: MessageStatus, at: Timestamp) -> Self {
        Self {
            event_type: "status",
            at,
            status: Some(status),
            webhook_event: None,
            url: None,
            attempt: None,
            response_status: None,
            error: None,
            duration_ms: None,
            next_attempt_at: None,
        }
    }
}

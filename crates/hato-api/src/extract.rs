//! Request extractors whose failures are [`ApiError`]s naming the field at fault.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use bytes::BytesMut;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::{MAX_BODY_BYTES, error::ApiError};

/// A JSON body, rejected with a 4xx that names the field when it does not fit `T`.
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        // Read the body even when refusing it, so the connection stays usable for the client's
        // next request instead of being closed under it.
        let bytes = read_body(request).await?;
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        parse_json(&bytes).map(ValidJson)
    }
}

/// How far past [`MAX_BODY_BYTES`] a refused body is still read (and thrown away).
///
/// A server that answers 413 and closes while the client is still writing leaves unread bytes
/// in its socket, and closing such a socket sends a reset: the client, busy writing, sees a
/// broken pipe and never reads the answer (hyper does no lingering close). Reading the rest
/// lets the client finish and read the 413 on a connection that stays open. Beyond this the
/// body is cut off, a 413 sent and the connection closed.
const DRAIN_LIMIT_BYTES: u64 = 2 * MAX_BODY_BYTES as u64;

/// Most a body's `Content-Length` reserves before its bytes arrive.
const PREALLOCATE_BYTES: u64 = 64 * 1024;

/// The whole body, or 413 once it passes [`MAX_BODY_BYTES`] (read to its end first, up to
/// [`DRAIN_LIMIT_BYTES`]).
async fn read_body(request: Request) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over the size limit of {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > DRAIN_LIMIT_BYTES) {
        return Err(too_large());
    }
    let mut body = request.into_body().into_data_stream();
    // Sized for the common small body; a declared length alone reserves no more than this,
    // so headers that announce 32 MiB and send nothing cost nothing.
    let mut kept = BytesMut::with_capacity(
        declared.map_or(0, |length| length.min(PREALLOCATE_BYTES) as usize),
    );
    let mut seen: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("the request body could not be read: {error}"),
            )
        })?;
        seen += chunk.len() as u64;
        if seen > DRAIN_LIMIT_BYTES {
            return Err(too_large());
        }
        if seen <= MAX_BODY_BYTES as u64 {
            kept.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_BODY_BYTES as u64 {
        return Err(too_large());
    }
    Ok(kept.freeze())
}

/// Parses JSON into `T`, turning serde's complaint into an error naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |error: serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {error}"),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return malformed(inner);
        }
        describe_data_error(&path, &inner.to_string())
    })?;
    // One JSON document, nothing after it: `{…} x` or two objects are not a request.
    deserializer.end().map_err(malformed)?;
    Ok(value)
}

/// serde names the problem but the path stops at the parent for missing and unknown fields;
/// complete it from the message so the client learns exactly which field.
pub(crate) fn describe_data_error(path: &str, message: &str) -> ApiError {
    let message = strip_position(message);
    let join = |name: &str| {
        if path.is_empty() || path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = between(&message, "missing field `", "`") {
        return ApiError::invalid(join(name), "missing_field", format!("`{name}` is required"));
    }
    if let Some(name) = between(&message, "unknown field `", "`") {
        return ApiError::invalid(
            if path.ends_with(name) {
                path.to_owned()
            } else {
                join(name)
            },
            "unknown_field",
            format!("`{name}` is not a field of this request"),
        );
    }
    let field = if path.is_empty() || path == "." {
        None
    } else {
        Some(path.to_owned())
    };
    let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message);
    match field {
        Some(field) => error.with_field(field),
        None => error,
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The `Idempotency-Key` header, when present.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let invalid = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .with_field("Idempotency-Key")
        };
        let key = value.to_str().map_err(|_| invalid())?.trim();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        Ok(Self(Some(key.to_owned())))
    }
}

/// Converts an already-parsed JSON value into `T`, naming the failing field under `prefix`
/// (`messages[3]` for an item of a batch).
pub fn from_value<T: DeserializeOwned>(
    value: &serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let full = match (prefix.is_empty(), path.as_str()) {
            (true, _) => path.clone(),
            (false, "" | ".") => prefix.to_owned(),
            (false, _) => format!("{prefix}.{path}"),
        };
        describe_data_error(&full, &error.into_inner().to_string())
    })
}

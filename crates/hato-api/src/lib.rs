//! Hato's REST API on axum.
//!
//! Handlers validate, persist and enqueue — in one transaction, before answering — and never
//! talk to a carrier; the engine's workers do the sending. Every data route authenticates with
//! a bearer API key and scopes every read and write to the key's account. Errors render one JSON
//! envelope (see [`error`]). The OpenAPI document is generated from the handlers' annotations
//! and served at `/v1/openapi.json`.

pub mod auth;
pub mod error;
pub mod extract;
mod key_cache;
pub mod keys;
pub mod openapi;
pub mod preview;
pub mod routes;
pub mod state;
pub mod validate;

pub use state::{ApiSettings, AppState, Price};

use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::{MatchedPath, Request},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::error::ApiError;

/// Largest request body: a full batch of 10,000 long messages fits.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = openapi::api_router().split_for_parts();
    // Rendered once, and shared: axum clones the whole router, every handler's captures
    // included, for each new connection, and the document as a `serde_json::Value` (nested
    // maps) made that clone cost ~0.5 ms per connection (`perf`, BENCHMARKS.md session 6).
    let openapi_json = Bytes::from(serde_json::to_vec(&openapi).unwrap_or_default());
    Router::new()
        .merge(api)
        .route(
            "/v1/openapi.json",
            get(move || {
                let document = openapi_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], document) }
            }),
        )
        .merge(routes::health::router())
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn(record_metrics))
        // For axum's own body extractors; `ValidJson` reads bodies itself (`extract.rs`).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(&std::io::Error::other("a handler panicked")).into_response()
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /v1/openapi.json",
    )
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("hato_http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

//! Liveness, readiness and Prometheus metrics (unauthenticated, for infrastructure).

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The database answers and at least one carrier can take messages.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store().ping().await.is_ok();
    let carriers = state.engine().router().carriers();
    let carrier_ready = carriers.iter().any(|c| c.is_ready());
    let status = if database && carrier_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "database": if database { "ok" } else { "unreachable" },
        "carriers": carriers.iter().map(|c| json!({ "name": c.name(), "ready": c.is_ready() })).collect::<Vec<_>>(),
    });
    (status, Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.engine().sample_metrics(state.store()).await;
    let text = state
        .metrics()
        .map(|handle| handle.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

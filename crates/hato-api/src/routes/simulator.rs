//! `/v1/simulator`: drive the embedded SMSC simulator (present only when `hato serve` runs it,
//! i.e. with no real connectors): make a handset reply, inject faults, read its counters.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult, ErrorEnvelope},
    extract::ValidJson,
    state::AppState,
};

/// What the API needs from a simulator; the binary implements it over the SMPP simulator.
pub trait SimulatorControl: Send + Sync + 'static {
    /// Sends a handset message (`mo.count` of them, numbered); returns how many PDUs it took.
    fn send_mo(&self, mo: &SimulatedMo) -> Result<usize, String>;
    fn inject(&self, fault: &SimulatedFault) -> Result<(), String>;
    fn stats(&self) -> serde_json::Value;
}

pub type SharedSimulator = Arc<dyn SimulatorControl>;

/// A message "from a handset", delivered to Hato over SMPP as a `deliver_sm`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedMo {
    /// The handset's number.
    #[schema(example = "+819012345678")]
    pub from: String,
    /// The number or short code it writes to.
    #[schema(example = "12345")]
    pub to: String,
    pub body: String,
    /// `udh` (default), `udh16`, `sar` or `payload`: how a long message is split.
    pub concat: Option<String>,
    /// Forces parts of at most this many characters, to make a short text multipart.
    pub units_per_part: Option<usize>,
    /// `in_order` (default) or `reversed`.
    pub order: Option<String>,
    /// Sends this many messages at once (default 1, at most 1,000,000), for load tests. Each
    /// body then ends with ` #1`, ` #2`, …, so that de-duplication keeps every one.
    #[schema(example = 1)]
    pub count: Option<usize>,
}

/// Most messages one `POST /v1/simulator/mo` may ask for.
pub const MAX_MO_COUNT: usize = 1_000_000;

impl SimulatedMo {
    /// How many messages this request stands for.
    pub fn count(&self) -> usize {
        self.count.unwrap_or(1)
    }

    /// The body of the `index`-th message (from 1) of the request: numbered when there are
    /// several.
    pub fn body_of(&self, index: usize) -> String {
        if self.count() > 1 {
            format!("{} #{index}", self.body)
        } else {
            self.body.clone()
        }
    }
}

/// A fault the simulator applies to the next submissions.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedFault {
    /// `disconnect_all`, `respond_with`, `delay_responses`, `drop_responses`,
    /// `receipts_before_responses`, or `clear`.
    pub fault: String,
    /// For `respond_with`: the SMPP command status (e.g. 88 for ESME_RTHROTTLED).
    pub status: Option<u32>,
    /// How many submissions it applies to (default 1).
    pub count: Option<usize>,
    /// For `delay_responses`, in milliseconds.
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MoAccepted {
    /// Messages sent.
    pub messages: usize,
    /// `deliver_sm` PDUs sent (one per part of each message).
    pub pdus: usize,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(simulator_stats))
        .routes(routes!(simulate_mo))
        .routes(routes!(simulate_fault))
}

fn simulator(state: &AppState) -> ApiResult<&SharedSimulator> {
    state.simulator().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_simulator",
            "this server runs real connectors, not the SMSC simulator",
        )
    })
}

/// The simulator's counters: binds, submits, receipts, MO messages, rate.
#[utoipa::path(
    get, path = "/v1/simulator", tag = "simulator",
    responses((status = 200, body = Object), (status = 404, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn simulator_stats(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(simulator(&state)?.stats()))
}

/// Make a simulated handset send a message to Hato.
#[utoipa::path(
    post, path = "/v1/simulator/mo", tag = "simulator",
    request_body = SimulatedMo,
    responses((status = 202, body = MoAccepted), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn simulate_mo(
    State(state): State<AppState>,
    _auth: Authenticated,
    ValidJson(mo): ValidJson<SimulatedMo>,
) -> ApiResult<(StatusCode, Json<MoAccepted>)> {
    if mo.body.is_empty() {
        return Err(ApiError::invalid(
            "body",
            "empty_body",
            "`body` must not be empty",
        ));
    }
    if !(1..=MAX_MO_COUNT).contains(&mo.count()) {
        return Err(ApiError::invalid(
            "count",
            "invalid_count",
            format!("`count` must be 1 to {MAX_MO_COUNT}"),
        ));
    }
    let simulator = Arc::clone(simulator(&state)?);
    let messages = mo.count();
    // Many messages take a while to build and queue: off the async workers.
    let pdus = tokio::task::spawn_blocking(move || simulator.send_mo(&mo))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(|message| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "simulator_refused",
                message,
            )
        })?;
    Ok((StatusCode::ACCEPTED, Json(MoAccepted { messages, pdus })))
}

/// Inject a fault into the simulator's handling of the next submissions.
#[utoipa::path(
    post, path = "/v1/simulator/faults", tag = "simulator",
    request_body = SimulatedFault,
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn simulate_fault(
    State(state): State<AppState>,
    _auth: Authenticated,
    ValidJson(fault): ValidJson<SimulatedFault>,
) -> ApiResult<StatusCode> {
    simulator(&state)?
        .inject(&fault)
        .map_err(|message| ApiError::invalid("fault", "invalid_fault", message))?;
    Ok(StatusCode::NO_CONTENT)
}

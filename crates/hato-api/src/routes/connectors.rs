//! `GET /v1/connectors`: the carrier connections and their state.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Authenticated, error::ApiResult, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_connectors))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorList {
    /// One object per connector: name, type, bind state, window use, throughput, errors.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<serde_json::Value>,
}

/// Carrier connections with their bind state, throughput, window use and errors.
#[utoipa::path(
    get, path = "/v1/connectors", tag = "connectors",
    responses((status = 200, body = ConnectorList)),
    security(("api_key" = []))
)]
async fn list_connectors(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<ConnectorList>> {
    let data = state
        .engine()
        .router()
        .carriers()
        .iter()
        .map(|c| c.snapshot())
        .collect();
    Ok(Json(ConnectorList { data }))
}

//! `POST /v1/messages/preview`.

use axum::{Json, extract::State};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult, ErrorEnvelope},
    extract::ValidJson,
    preview::{PreviewRequest, PreviewResponse, preview},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview_message))
}

/// Preview the encoding, segments and price of a body without sending it.
#[utoipa::path(
    post, path = "/v1/messages/preview", tag = "messages",
    request_body = PreviewRequest,
    responses((status = 200, body = PreviewResponse), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn preview_message(
    State(state): State<AppState>,
    _auth: Authenticated,
    ValidJson(request): ValidJson<PreviewRequest>,
) -> ApiResult<Json<PreviewResponse>> {
    if request.body.is_empty() {
        return Err(ApiError::invalid(
            "body",
            "empty_body",
            "`body` must not be empty",
        ));
    }
    Ok(Json(preview(&request.body, state.settings())))
}

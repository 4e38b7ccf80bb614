//! `/v1/account`: webhook URL and signing secret.

use axum::{Json, extract::State};
use hato_store::Account;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Authenticated,
    error::{ApiError, ApiResult, ErrorEnvelope},
    extract::ValidJson,
    keys::generate_webhook_secret,
    routes::now_ms,
    state::AppState,
    validate::check_callback_url,
};

/// After a rotation the old secret keeps signing (beside the new one) this long.
const ROTATION_GRACE_MS: i64 = 24 * 3600 * 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_account, update_account))
        .routes(routes!(rotate_webhook_secret))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountResponse {
    pub id: String,
    pub name: String,
    /// Where status events go for messages without their own `status_callback`.
    pub webhook_url: Option<String>,
    /// Verify webhook signatures with this (Standard Webhooks, `whsec_…`).
    pub webhook_secret: String,
    /// Until this time webhooks also carry a signature made with the previous secret.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_valid_until: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Account> for AccountResponse {
    fn from(account: Account) -> Self {
        let ts = |ms: i64| Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let now = now_ms();
        Self {
            id: account.id.to_string(),
            name: account.name,
            webhook_url: account.webhook_url,
            webhook_secret: account.webhook_secret,
            previous_secret_valid_until: account
                .previous_secret_expires_at
                .filter(|at| *at > now)
                .map(ts),
            created_at: ts(account.created_at),
        }
    }
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    /// A URL, or `null` to stop default webhooks.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
}

/// Tells "absent" from "null".
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

/// Your account and its webhook settings.
#[utoipa::path(
    get, path = "/v1/account", tag = "account",
    responses((status = 200, body = AccountResponse), (status = 401, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn get_account(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<AccountResponse>> {
    let account = state
        .store()
        .account(&auth.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(account.into()))
}

/// Change the default webhook URL.
#[utoipa::path(
    patch, path = "/v1/account", tag = "account",
    request_body = UpdateAccountRequest,
    responses((status = 200, body = AccountResponse), (status = 422, body = ErrorEnvelope)),
    security(("api_key" = []))
)]
async fn update_account(
    State(state): State<AppState>,
    auth: Authenticated,
    ValidJson(request): ValidJson<UpdateAccountRequest>,
) -> ApiResult<Json<AccountResponse>> {
    let account = match request.webhook_url {
        None => state
            .store()
            .account(&auth.account_id)
            .await?
            .ok_or_else(|| ApiError::not_found("account"))?,
        Some(url) => {
            let url = url
                .map(|url| {
                    check_callback_url(&url)
                        .map_err(|m| ApiError::invalid("webhook_url", "invalid_url", m))
                })
                .transpose()?;
            state
                .store()
                .set_webhook_url(&auth.account_id, url.as_deref(), now_ms())
                .await?
        }
    };
    Ok(Json(account.into()))
}

/// Replace the webhook secret. The old one keeps signing beside the new one for 24 hours.
#[utoipa::path(
    post, path = "/v1/account/webhook-secret/rotate", tag = "account",
    responses((status = 200, body = AccountResponse)),
    security(("api_key" = []))
)]
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<AccountResponse>> {
    let now = now_ms();
    let account = state
        .store()
        .rotate_webhook_secret(
            &auth.account_id,
            &generate_webhook_secret(),
            now + ROTATION_GRACE_MS,
            now,
        )
        .await?;
    Ok(Json(account.into()))
}

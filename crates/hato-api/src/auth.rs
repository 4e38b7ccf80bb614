//! `Authorization: Bearer KEY` → the key's account. Every handler that touches data takes an
//! [`Authenticated`], and every store read it makes is scoped by that account.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, header, request::Parts},
};
use hato_core::{AccountId, ApiKeyId};

use crate::{error::ApiError, keys::hash_key, state::AppState};

/// The caller, as its API key says.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account_id: AccountId,
    pub key_id: ApiKeyId,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |code: &str, message: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, code, message).with_field("Authorization")
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "missing_api_key",
                "send your API key as `Authorization: Bearer KEY`",
            ));
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                unauthorized(
                    "missing_api_key",
                    "send your API key as `Authorization: Bearer KEY`",
                )
            })?;
        let key_hash = hash_key(key);
        let found = match state.keys().get(&key_hash) {
            Some(found) => Some(found),
            None => {
                let found = state.store().authenticate(&key_hash).await?;
                if let Some(found) = &found {
                    state.keys().insert(key_hash, found.clone());
                }
                found
            }
        };
        match found {
            Some(found) => Ok(Self {
                account_id: found.account_id,
                key_id: found.key_id,
            }),
            None => Err(unauthorized(
                "invalid_api_key",
                "this API key does not exist or was revoked",
            )),
        }
    }
}

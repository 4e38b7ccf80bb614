//! The API's one error type and its JSON envelope:
//! `{"error":{"code":"invalid_phone_number","message":"…","field":"to"}}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `invalid_phone_number`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
    /// The request field at fault, as a JSON path (`to`, `messages[3].body`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For unexpected errors: the id to quote when asking for help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// An error response: a status and a body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.into(),
                message: message.into(),
                field: None,
                request_id: None,
            },
        }
    }

    /// A 422 about one field of the request.
    pub fn invalid(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field(field)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with this id in your account"),
        )
    }

    /// Something failed on our side: log the cause, tell the client only an id to quote.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        let request_id = uuid_like();
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(inner) = source {
            chain.push_str(": ");
            chain.push_str(&inner.to_string());
            source = inner.source();
        }
        tracing::error!(request_id = %request_id, error = %chain, "request failed");
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side",
        );
        error.body.request_id = Some(request_id);
        error
    }
}

fn uuid_like() -> String {
    use rand::RngExt;
    format!("req_{:032x}", rand::rng().random::<u128>())
}

impl From<hato_store::StoreError> for ApiError {
    fn from(error: hato_store::StoreError) -> Self {
        Self::internal(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorEnvelope { error: self.body })).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

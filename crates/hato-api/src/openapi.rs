//! The OpenAPI 3.1 document, assembled from the handlers' annotations.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::{routes, state::AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hato API",
        description = "Send and receive SMS: transactional, two-way and promotional. Authenticate with `Authorization: Bearer KEY` (create keys with `hato keys create`). Errors share one envelope: `{\"error\":{\"code\",\"message\",\"field\"}}`. Status events are delivered as Standard Webhooks.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "messages", description = "Send, follow and cancel messages"),
        (name = "account", description = "Webhook URL and signing secret"),
        (name = "connectors", description = "Carrier connections"),
        (name = "simulator", description = "The embedded SMSC simulator: handset replies and faults"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every documented route, with the document describing them.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::messages::router())
        .merge(routes::preview::router())
        .merge(routes::account::router())
        .merge(routes::connectors::router())
        .merge(routes::simulator::router())
}

/// The document alone, as served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    api_router().into_openapi()
}

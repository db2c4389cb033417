//! `leadrouter serve`: the admin API under `/api/v1` and the web console at `/` (SPEC 9).
//!
//! Each handler parses its input, asks [`policy`] whether the caller may, calls the
//! same library function as the CLI (`store`, `commands::*`), and serialises the
//! result; none holds logic of its own. The OpenAPI document is generated from the
//! handlers' annotations (utoipa) and served at `/api/v1/openapi.json`.
//!
//! Adding an endpoint: a handler with its `#[utoipa::path]` in the module of its
//! resource, a variant of [`policy::Endpoint`] with its row in [`policy::access`], and
//! one `.routes(routes!(..))` line in [`router`].
pub mod agents;
pub mod auth;
pub mod console;
pub mod error;
pub mod input;
pub mod leads;
pub mod metrics;
pub mod policy;
pub mod pools;
pub mod rules;
pub mod tryout;

use crate::config::Config;
use crate::store::Store;
use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use error::ApiError;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler reads.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub config: Arc<Config>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "leadrouter admin API",
        description = "Leads, agents, pools and rules of a leadrouter installation. Every request but this document needs `Authorization: Bearer TOKEN` (tokens: `leadrouter tokens add NAME --role admin|agent|viewer`). Errors are `{\"error\", \"code\"}` with the HTTP status.",
    ),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody)),
    tags(
        (name = "leads", description = "One lead, its history, manual changes"),
        (name = "agents", description = "Agents and pools"),
        (name = "rules", description = "The rules in force, publishing, checking"),
        (name = "try", description = "Trying rules on leads, writing nothing"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every API route, with its document.
fn api() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(leads::get_lead))
        .routes(routes!(leads::reassign))
        .routes(routes!(leads::unassign))
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::halt))
        .routes(routes!(agents::resume))
        .routes(routes!(agents::offboard))
        .routes(routes!(pools::list_pools))
        .routes(routes!(rules::get_rules, rules::publish_rules))
        .routes(routes!(rules::history))
        .routes(routes!(rules::rollback_rules))
        .routes(routes!(rules::check_rules))
        .routes(routes!(tryout::simulate))
        .routes(routes!(tryout::replay_rules))
}

/// The OpenAPI document (for the metrics' routes, and the tests).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The whole server: API, document, console, `/metrics`, `/healthz`.
pub fn router(state: ApiState, metrics: PrometheusHandle) -> axum::Router {
    let (api, doc) = api().split_for_parts();
    let doc = Arc::new(doc);
    let api = api
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/api/v1/{*rest}", any(api_not_found))
        .route("/api/v1", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn(metrics::count))
        .with_state(state);
    api.route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move { m.render() }
        }),
    )
    .route("/healthz", get(|| async { "ok\n" }))
    .route("/", get(console::index))
    .route("/{*path}", get(console::asset))
    .layer(DefaultBodyLimit::max(input::MAX_BODY_BYTES))
    .layer(axum::middleware::from_fn(console::security_headers))
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint (see /api/v1/openapi.json)")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method (see /api/v1/openapi.json)",
    )
}

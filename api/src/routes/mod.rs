//! The router: one module per resource, assembled here with the OpenAPI document.

pub mod counters;
pub mod ops;
mod page;
mod params;
pub mod providers;
pub mod receivers;
pub mod streams;
pub mod vehicles;
pub mod webhooks;

use axum::Router;
use axum::http::StatusCode;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::HttpConfig;
use crate::http::auth::ApiKeys;
use crate::http::observe::ObserveLayer;
use crate::http::{self, MakeUlid, REQUEST_ID};
use crate::state::AppState;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";
/// Where Swagger UI is served.
pub const SWAGGER_PATH: &str = "/swagger-ui";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "datahog",
        description = "A durable job-queue worker platform: submit work over HTTP, get it done \
                       against flaky upstreams, read the results.\n\n\
                       Every error answers with the `ErrorBody` shape. When the server has API keys \
                       configured, `/v1/*` and the classic routes need `Authorization: Bearer <key>`."
    ),
    tags(
        (name = "vehicles", description = "A vehicle's state at a point in time"),
        (name = "counters", description = "Counters: increments buffered, flushed to the database every few seconds"),
        (name = "webhooks", description = "Webhook collections: fetch flaky providers, deliver a signed callback"),
        (name = "streams", description = "Streams: a provider fetched on an interval, every batch kept"),
        (name = "ops", description = "Health, readiness and metrics")
    ),
    components(schemas(openapi::error::ErrorBody, openapi::error::ErrorCode, openapi::error::FieldError, openapi::webhooks::CallbackBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "api_key",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The routes and their OpenAPI document, before the cross-cutting layers.
fn api_routes(keys: ApiKeys) -> OpenApiRouter<AppState> {
    let protected = vehicles::router()
        .merge(counters::router())
        .merge(webhooks::router())
        .merge(providers::router())
        .merge(receivers::router())
        .merge(streams::router())
        .route_layer(keys);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(protected)
        .merge(ops::router())
}

/// The OpenAPI document the API serves (and `openapi/openapi.json` holds).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_routes(ApiKeys::default()).into_openapi()
}

/// The whole application: routes, docs, and what every request gets.
pub fn router(state: AppState, keys: ApiKeys, config: &HttpConfig) -> Router {
    let (routes, document) = api_routes(keys).split_for_parts();
    routes
        .merge(SwaggerUi::new(SWAGGER_PATH).url(OPENAPI_PATH, document))
        .fallback(http::no_route)
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(ObserveLayer)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(http::request_span)
                .on_response(http::log_response),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeUlid))
        .with_state(state)
}

//! The router: one module per resource, assembled here with the OpenAPI document.

pub mod admin;
pub mod console;
mod contract;
mod controls;
pub mod counters;
pub mod ops;
pub mod providers;
pub mod receivers;
pub mod signing_secret;
pub mod stats;
pub mod streams;
pub mod vehicles;
pub mod webhooks;

pub use contract::open_access;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::HttpConfig;
use crate::http::auth::AuthLayer;
use crate::http::control::RefuseControlLayer;
use crate::http::observe::ObserveLayer;
use crate::http::shed::ShedLayer;
use crate::http::{self, MakeUlid, REQUEST_ID};
use crate::state::AppState;
use crate::tenants::keys::KeyRing;

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
                       Every error answers with RFC 9457 problem details \
                       (`application/problem+json`, the `Problem` schema): `type` (one of the URIs \
                       below, one per `code`), `title`, `status`, `detail` (what to do about it), \
                       `instance` (the request id, also in `x-request-id`), `code`, and `errors` \
                       (each offending field, by its JSON name or path such as `provider/1`; \
                       empty when none). No value may hold a control character (U+0000 to \
                       U+001F, U+007F to U+009F): one in a path or query parameter is `400`, in \
                       a body `422`, naming it.\n\n\
                       `/v1/*` and the classic routes need `Authorization: Bearer <key>`: a \
                       tenant's key sees only its tenant's webhooks, streams and counters (another's \
                       are `404`), within its rate limit (`429` with `Retry-After`; every answer \
                       carries `RateLimit`) and quotas. The operator's key (`ADMIN_API_KEY`) \
                       manages tenants under `/v1/admin` and reads every tenant's resources \
                       (`?tenant=<id>` narrows a read to one). The embedded demo with no keys \
                       configured serves every request as tenant `default`.\n\n\
                       `Idempotency-Key` on `POST /v1/webhooks` and `POST /v1/streams`: records \
                       expire after `IDEMPOTENCY_TTL` (24 h)."
    ),
    tags(
        (name = "vehicles", description = "A vehicle's state at a point in time"),
        (name = "counters", description = "Counters: increments buffered, flushed to the database every few seconds"),
        (name = "webhooks", description = "Webhook collections: fetch flaky providers, deliver a signed callback"),
        (name = "streams", description = "Streams: a provider fetched on an interval, every batch kept"),
        (name = "tenants", description = "A tenant's own settings: its callback signing secret"),
        (name = "admin", description = "The operator (ADMIN_API_KEY): tenants and their API keys"),
        (name = "ops", description = "Health, readiness and metrics")
    ),
    components(schemas(openapi::error::Problem, openapi::error::ErrorCode, openapi::error::FieldError, openapi::webhooks::CallbackBody, openapi::webhooks::ListOrder)),
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

/// The providers the document lists when none are configured otherwise.
const DEFAULT_PROVIDERS: [&str; 2] = ["gas", "internet"];

/// The routes and their OpenAPI document, before the cross-cutting layers; with `serving`
/// (the state and key ring of a running app), authenticated and idempotent.
fn api_routes(serving: Option<(&AppState, Arc<KeyRing>)>) -> OpenApiRouter<AppState> {
    let state = serving.as_ref().map(|(state, _)| *state);
    let data = vehicles::router()
        .merge(counters::router())
        .merge(webhooks::router(state))
        .merge(providers::router())
        .merge(stats::router())
        .merge(receivers::router())
        .merge(streams::router(state))
        .merge(signing_secret::router());
    let admin = admin::router();
    let (data, admin) = match serving {
        Some((_, keys)) => (
            data.route_layer(AuthLayer::data(keys.clone())),
            admin.route_layer(AuthLayer::admin(keys)),
        ),
        None => (data, admin),
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(data)
        .merge(admin)
        .merge(ops::router())
}

/// The OpenAPI document the API serves with the default providers (`openapi/openapi.json`).
pub fn openapi_document() -> serde_json::Value {
    let providers = DEFAULT_PROVIDERS.map(str::to_owned);
    contract::document(&api_routes(None).into_openapi(), &providers)
}

/// What Swagger UI may load: its own files, its inline styles and `data:` icons, and the
/// API of its own origin; it may not be framed by another page.
const SWAGGER_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Swagger UI over `document`, with its content security policy.
fn swagger_ui(document: serde_json::Value) -> Router<AppState> {
    Router::from(SwaggerUi::new(SWAGGER_PATH).external_url_unchecked(OPENAPI_PATH, document))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SWAGGER_CONTENT_SECURITY_POLICY),
        ))
        // For browsers that predate `frame-ancestors`.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
}

/// The whole application: routes, docs, and what every request gets.
pub fn router(state: AppState, config: &HttpConfig) -> Router {
    let keys = state.keys.clone();
    let (routes, document) = api_routes(Some((&state, keys))).split_for_parts();
    let providers: Vec<String> = state.providers.iter().map(|p| p.name.clone()).collect();
    let mut document = contract::document(&document, &providers);
    // Served as the instance runs: the committed document is the one with keys.
    if state.keys.open() {
        contract::open_access(&mut document);
    }
    // One `layer` call for the whole stack: each call boxes every route once more, and a
    // request clones its route's boxes, one allocation per call (outermost first below).
    let every_request = ServiceBuilder::new()
        .layer(MapRequestLayer::new(http::drop_invalid_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeUlid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(http::request_span)
                .on_response(http::log_response),
        )
        // Every answer is what its Content-Type says; no browser may guess otherwise.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(ObserveLayer::new(state.traces.clone()))
        .layer(ShedLayer::new(config.max_concurrent_requests as usize))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        // Per route, after routing: the route's template names a path parameter.
        .layer(RefuseControlLayer)
        .map_response(IntoResponse::into_response)
        .layer(RequestBodyLimitLayer::new(config.body_limit));
    routes
        .merge(swagger_ui(document))
        .merge(console::router())
        .fallback(http::no_route)
        .layer(every_request)
        .with_state(state)
}

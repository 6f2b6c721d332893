//! `/health`, `/ready` and `/metrics`: never behind an API key (`/metrics` behind
//! `METRICS_TOKEN` when one is set).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use openapi::ops::{CheckStatus, Health, Readiness};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// How long a readiness probe waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The operational routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "ops",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness: the database (and Redis, in production) answer; in production, whether
/// Redis's persistence keeps acknowledged work through a restart.
#[utoipa::path(get, path = "/ready", operation_id = "ready", tag = "ops",
    responses(
        (status = 200, description = "Every dependency answered", body = Readiness),
        (status = 503, description = "A dependency did not answer", body = Readiness),
    ))]
async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, app.db.ping()).await {
        Ok(Ok(())) => CheckStatus::Ok,
        _ => CheckStatus::Unavailable,
    };
    let redis = match app.redis.clone() {
        None => CheckStatus::NotConfigured,
        Some(mut conn) => {
            let cmd = redis::cmd("PING");
            let ping = cmd.query_async::<String>(&mut conn);
            match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
                Ok(Ok(_)) => CheckStatus::Ok,
                _ => CheckStatus::Unavailable,
            }
        }
    };
    // Reported, not required: an instance on a Redis that may lose work still serves.
    let redis_durability = match (&app.redis, redis) {
        (Some(conn), CheckStatus::Ok) => Some(engine::queue::durability::check(conn).await),
        _ => None,
    };
    let ready = database == CheckStatus::Ok && redis != CheckStatus::Unavailable;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !ready {
        tracing::warn!(?database, ?redis, "not ready");
    }
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" }.to_owned(),
        database,
        redis,
        redis_durability,
    };
    (status, Json(body))
}

/// Prometheus metrics, text format.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "ops",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
        (status = 401, description = "`METRICS_TOKEN` is set and the request does not bear it"),
    ))]
async fn metrics(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let authorization = crate::http::auth::authorization(&headers)?;
    if !engine::metrics::scrape_allowed(app.metrics_token.as_ref(), authorization) {
        return Err(ApiError::Unauthorized);
    }
    crate::metrics::record_counter_gauges(&app).await;
    crate::metrics::record_platform_gauges(&app).await;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    ))
}

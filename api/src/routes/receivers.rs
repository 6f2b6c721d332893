//! `GET /v1/receivers`: the callback receiver hosts with failures on record, and their
//! shared health.

use axum::Json;
use axum::extract::State;
use openapi::error::ErrorBody;
use openapi::webhooks::{ReceiverList, ReceiverStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// The receiver routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Each receiver host with failures on record: failing, or down until its next probe. A
/// host not listed is up.
#[utoipa::path(
    get,
    path = "/v1/receivers",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every receiver host with failures on record", body = ReceiverList),
        (status = 401, description = "API keys are configured and none was given", body = ErrorBody),
        (status = 503, description = "The health store (Redis) is unreachable", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
async fn list(State(app): State<AppState>) -> Result<Json<ReceiverList>, ApiError> {
    let unavailable = |error: worker::health::HealthError| {
        tracing::error!(%error, "receiver health unreadable");
        ApiError::Unavailable("receiver health is unavailable; retry later".into())
    };
    let mut items = Vec::new();
    for host in app.receivers.troubled().await.map_err(unavailable)? {
        let view = app.receivers.view(&host).await.map_err(unavailable)?;
        if view.failures == 0 {
            // Recovered between the two reads.
            continue;
        }
        items.push(ReceiverStatus {
            host,
            health: if view.down { "down" } else { "failing" }.to_owned(),
            consecutive_failures: view.failures,
            down_since: view.down_since,
            next_probe_at: view.next_probe_at,
        });
    }
    Ok(Json(ReceiverList { items }))
}

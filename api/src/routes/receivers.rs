//! `GET /v1/receivers`: the callback receiver circuits with failures on record; a tenant
//! sees its own, the operator every tenant's and the hosts' shared ones.

use axum::Json;
use axum::extract::State;
use openapi::tenants::TenantQuery;
use openapi::webhooks::{ReceiverList, ReceiverStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::input::Scope;
use crate::state::AppState;

/// The receiver routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Each receiver circuit with failures on record: failing, or down until its next probe;
/// one not listed is up. A tenant's key sees its own circuits (the answers its deliveries
/// got from each host); the admin key every tenant's and each host's shared circuit
/// (deliveries that got no answer at all), or one tenant's with `?tenant=`.
#[utoipa::path(
    get,
    path = "/v1/receivers",
    operation_id = "listReceivers",
    tag = "webhooks",
    params(TenantQuery),
    responses(
        (status = 200, description = "Every receiver host with failures on record", body = ReceiverList),
        (status = 401, description = "No valid API key was given"),
        (status = 503, description = "The health store (Redis) is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn list(State(app): State<AppState>, scope: Scope) -> Result<Json<ReceiverList>, ApiError> {
    let troubled = app.receivers.troubled().await.map_err(|error| {
        tracing::error!(%error, "receiver health unreadable");
        ApiError::Unavailable("receiver health is unavailable; retry later".into())
    })?;
    let items = troubled
        .into_iter()
        // A tenant sees its own circuits; another tenant's answers and the shared host
        // circuits are the operator's.
        .filter(|t| {
            scope
                .tenant()
                .is_none_or(|tenant| t.tenant.as_deref() == Some(tenant))
        })
        .map(|t| ReceiverStatus {
            host: t.host,
            tenant: t.tenant,
            health: if t.view.down { "down" } else { "failing" }.to_owned(),
            consecutive_failures: t.view.failures,
            down_since: t.view.down_since,
            next_probe_at: t.view.next_probe_at,
        })
        .collect();
    Ok(Json(ReceiverList { items }))
}

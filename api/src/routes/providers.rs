//! `GET /v1/providers`: every configured provider and its shared health; its URL, without
//! credentials, for the operator only.

use axum::Json;
use axum::extract::State;
use openapi::webhooks::{ProviderList, ProviderStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Caller;

/// The provider routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Each configured provider with its health: up, failing, or down until its next probe.
/// The operator's key also gets each one's URL, with any user, password and query values
/// replaced by `***`.
#[utoipa::path(
    get,
    path = "/v1/providers",
    operation_id = "listProviders",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every configured provider", body = ProviderList),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The health store (Redis) is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<ProviderList>, ApiError> {
    Ok(Json(ProviderList {
        items: statuses(&app, caller.admin().is_ok()).await?,
    }))
}

/// Every configured provider with its shared health, in configuration order; with its
/// redacted URL for the `operator`.
pub(crate) async fn statuses(
    app: &AppState,
    operator: bool,
) -> Result<Vec<ProviderStatus>, ApiError> {
    let mut items = Vec::new();
    for provider in app.providers.iter() {
        let view = app.health.view(&provider.name).await.map_err(|error| {
            tracing::error!(%error, "provider health unreadable");
            ApiError::Unavailable("provider health is unavailable; retry later".into())
        })?;
        let health = match (view.down, view.failures) {
            (true, _) => "down",
            (false, 0) => "up",
            (false, _) => "failing",
        };
        items.push(ProviderStatus {
            name: provider.name.clone(),
            url: operator.then(|| provider.redacted_url()),
            timeout_ms: provider.timeout.as_millis() as u64,
            health: health.to_owned(),
            consecutive_failures: view.failures,
            down_since: view.down_since,
            next_probe_at: view.next_probe_at,
        });
    }
    Ok(items)
}

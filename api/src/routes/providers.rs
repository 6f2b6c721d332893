//! `/v1/providers`: every configured provider, its shared health, the operator's limits
//! and pause, and the collections waiting on it; its URL, without credentials, and the
//! changes, for the operator only.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use engine::flow::manage;
use openapi::tenants::TenantQuery;
use openapi::webhooks::{FlowLimits, ProviderList, ProviderStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::controls::{self, Side};
use crate::error::ApiError;
use crate::input::{ApiJson, Scope, params};
use crate::state::AppState;
use crate::tenants::Caller;

/// The provider routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(set_limits))
        .routes(routes!(pause))
        .routes(routes!(resume))
}

/// Sets the operator's limits on requests to provider `name`: at most `maxConcurrent` at
/// once and `maxPerSecond`, counted across every worker process; one left out is
/// unlimited. A collection over a limit waits for a place without spending a provider
/// attempt, and other providers' work goes on. Workers apply a change within a second.
#[utoipa::path(
    put,
    path = "/v1/providers/{name}",
    operation_id = "setProviderLimits",
    tag = "webhooks",
    params(("name" = String, Path, description = "A configured provider's name")),
    request_body = FlowLimits,
    responses(
        (status = 200, description = "The provider now", body = ProviderStatus),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 404, description = "No such provider is configured"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "A limit is out of range"),
        (status = 503, description = "The database or the health store is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn set_limits(
    State(app): State<AppState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    ApiJson(limits): ApiJson<FlowLimits>,
) -> Result<Json<ProviderStatus>, ApiError> {
    caller.admin()?;
    let name = provider_of(&app, name)?;
    let change = manage::Change::Limits(controls::taken(&limits));
    let status = change_and_show(&app, &name, change).await?;
    tracing::info!(provider = %name, ?limits, "provider limits set");
    Ok(Json(status))
}

/// Puts provider `name` in maintenance: collections keep being accepted and wait for it
/// without spending attempts, and nothing is sent to it until `resume` (a pause survives
/// restarts). Workers apply a pause within a second.
#[utoipa::path(
    post,
    path = "/v1/providers/{name}/pause",
    operation_id = "pauseProvider",
    tag = "webhooks",
    params(("name" = String, Path, description = "A configured provider's name")),
    responses(
        (status = 200, description = "Paused (or already paused, since `pausedAt`)", body = ProviderStatus),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 404, description = "No such provider is configured"),
        (status = 503, description = "The database or the health store is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn pause(
    State(app): State<AppState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ProviderStatus>, ApiError> {
    caller.admin()?;
    let name = provider_of(&app, name)?;
    let status = change_and_show(&app, &name, manage::Change::Pause).await?;
    tracing::info!(provider = %name, "provider paused");
    Ok(Json(status))
}

/// Takes provider `name` out of maintenance: every collection waiting on it is queued at
/// once, and fetched within its limits.
#[utoipa::path(
    post,
    path = "/v1/providers/{name}/resume",
    operation_id = "resumeProvider",
    tag = "webhooks",
    params(("name" = String, Path, description = "A configured provider's name")),
    responses(
        (status = 200, description = "Resumed; `waiting.paused` counts the collections still being queued again", body = ProviderStatus),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 404, description = "No such provider is configured"),
        (status = 503, description = "The database or the health store is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn resume(
    State(app): State<AppState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ProviderStatus>, ApiError> {
    caller.admin()?;
    let name = provider_of(&app, name)?;
    let status = change_and_show(&app, &name, manage::Change::Resume).await?;
    tracing::info!(provider = %name, waiting = status.waiting.paused, "provider resumed");
    Ok(Json(status))
}

/// The path's provider, if configured, or a 404.
fn provider_of(
    app: &AppState,
    path: Result<Path<String>, PathRejection>,
) -> Result<String, ApiError> {
    let name = params::path(path, "name")?;
    match app.providers.get(&name) {
        Some(provider) => Ok(provider.name.clone()),
        None => Err(ApiError::NotFound(format!(
            "no provider `{name}` is configured"
        ))),
    }
}

/// Makes `change` on provider `name`, tells this process's jobs and what waits on it, and
/// shows the provider.
async fn change_and_show(
    app: &AppState,
    name: &str,
    change: manage::Change,
) -> Result<ProviderStatus, ApiError> {
    manage::change_provider(&app.db, name, change).await?;
    controls::changed(app, Side::Provider, change, name, None).await;
    statuses(app, true, None)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no provider `{name}` is configured")))
}

/// Each configured provider with its health (up, failing, or down until its next probe),
/// the operator's limits and pause, and the caller's collections waiting on it (the
/// operator's key: every tenant's, or one tenant's with `?tenant=`). The operator's key also gets each one's URL, with any
/// user, password and query values replaced by `***`.
#[utoipa::path(
    get,
    path = "/v1/providers",
    operation_id = "listProviders",
    tag = "webhooks",
    params(TenantQuery),
    responses(
        (status = 200, description = "Every configured provider", body = ProviderList),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The health store (Redis) is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn list(State(app): State<AppState>, scope: Scope) -> Result<Json<ProviderList>, ApiError> {
    let operator = scope.caller.admin().is_ok();
    Ok(Json(ProviderList {
        items: statuses(&app, operator, scope.tenant()).await?,
    }))
}

/// Every configured provider with its shared health and settings, in configuration order;
/// with its redacted URL for the `operator`, and the collections of `tenant` (every
/// tenant's with `None`) waiting on it.
pub(crate) async fn statuses(
    app: &AppState,
    operator: bool,
    tenant: Option<&str>,
) -> Result<Vec<ProviderStatus>, ApiError> {
    let settings = manage::providers(&app.db).await?;
    let waiting = manage::waiting(&app.db, tenant).await?;
    let mut items = Vec::new();
    for provider in app.providers.iter() {
        let set = settings.iter().find(|s| s.provider == provider.name);
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
            paused: set.is_some_and(|s| s.paused_at.is_some()),
            paused_at: set.and_then(|s| s.paused_at),
            limits: set.map_or_else(FlowLimits::default, |s| {
                controls::shown(s.max_concurrent, s.max_per_second)
            }),
            waiting: controls::counts(&waiting, Side::Provider, &provider.name, None),
        });
    }
    Ok(items)
}

//! `/v1/receivers`: the callback receivers. The circuits with failures on record (a tenant
//! sees its own, the operator every tenant's and the hosts' shared ones), and what each
//! tenant set on its hosts: limits across every worker, and a pause that holds deliveries
//! without spending attempts until it resumes.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use engine::flow::{self, manage};
use entity::receiver_setting;
use openapi::tenants::TenantQuery;
use openapi::webhooks::{FlowLimits, ReceiverControl, ReceiverList, ReceiverPath, ReceiverStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::controls::{self, Side};
use crate::error::ApiError;
use crate::input::{ApiJson, Scope, params};
use crate::state::AppState;
use crate::tenants::Caller;

/// The receiver routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, set_limits))
        .routes(routes!(pause))
        .routes(routes!(resume))
}

/// Each receiver circuit with failures on record: failing, or down until its next probe;
/// one not listed is up. A tenant's key sees its own circuits (the answers its deliveries
/// got from each host); the admin key every tenant's and each host's shared circuit
/// (deliveries that got no answer at all), or one tenant's with `?tenant=`. `controls`
/// lists every host with limits, a pause, or webhooks waiting on it.
#[utoipa::path(
    get,
    path = "/v1/receivers",
    operation_id = "listReceivers",
    tag = "webhooks",
    params(TenantQuery),
    responses(
        (status = 200, description = "Every receiver host with failures on record, settings or waiting webhooks", body = ReceiverList),
        (status = 401, description = "No valid API key was given"),
        (status = 503, description = "The health store (Redis) or the database is unreachable"),
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
    let settings = manage::receivers(&app.db, scope.tenant()).await?;
    let waiting = manage::waiting(&app.db, scope.tenant()).await?;
    // Every (tenant, host) with settings or waiting deliveries.
    let mut keys: BTreeSet<(String, String)> = settings
        .iter()
        .map(|s| (s.host.clone(), s.tenant_id.clone()))
        .collect();
    keys.extend(
        waiting
            .iter()
            .filter(|w| controls::on_side(w, Side::Receiver))
            .map(|w| (w.waiting_on.clone(), w.tenant_id.clone())),
    );
    let operator = scope.tenant().is_none();
    let controls = keys
        .into_iter()
        .map(|(host, tenant)| {
            let set = settings
                .iter()
                .find(|s| s.host == host && s.tenant_id == tenant)
                .cloned()
                .unwrap_or_else(|| manage::unset_receiver(&tenant, &host));
            let mut control = view(set, &waiting);
            if !operator {
                control.tenant = None;
            }
            control
        })
        .collect();
    Ok(Json(ReceiverList { items, controls }))
}

/// What the caller's tenant set on receiver `host`, and its deliveries waiting on it.
#[utoipa::path(
    get,
    path = "/v1/receivers/{host}",
    operation_id = "getReceiver",
    tag = "webhooks",
    params(ReceiverPath),
    responses(
        (status = 200, description = "The host's settings and what waits on it", body = ReceiverControl),
        (status = 400, description = "`host` names no host"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key; receivers' settings are a tenant's"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn show(
    State(app): State<AppState>,
    caller: Caller,
    host: Result<Path<String>, PathRejection>,
) -> Result<Json<ReceiverControl>, ApiError> {
    let tenant = caller.tenant()?.id.clone();
    let host = host_of(host)?;
    let set = manage::receiver(&app.db, &tenant, &host).await?;
    let waiting = manage::waiting(&app.db, Some(&tenant)).await?;
    let mut control = view(set, &waiting);
    control.tenant = None;
    Ok(Json(control))
}

/// Sets the caller's limits on deliveries to `host`: at most `maxConcurrent` at once and
/// `maxPerSecond`, counted across every worker process; one left out is unlimited (within
/// each worker's `RECEIVER_CONCURRENCY`). A delivery over a limit waits for a place
/// without spending an attempt. Workers apply a change within a second.
#[utoipa::path(
    put,
    path = "/v1/receivers/{host}",
    operation_id = "setReceiverLimits",
    tag = "webhooks",
    params(ReceiverPath),
    request_body = FlowLimits,
    responses(
        (status = 200, description = "The host's settings now", body = ReceiverControl),
        (status = 400, description = "`host` names no host, or the body is not JSON"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key; receivers' settings are a tenant's"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "A limit is out of range"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn set_limits(
    State(app): State<AppState>,
    caller: Caller,
    host: Result<Path<String>, PathRejection>,
    ApiJson(limits): ApiJson<FlowLimits>,
) -> Result<Json<ReceiverControl>, ApiError> {
    let tenant = caller.tenant()?.id.clone();
    let host = host_of(host)?;
    let change = manage::Change::Limits(controls::taken(&limits));
    let control = change_and_show(&app, &tenant, &host, change).await?;
    tracing::info!(%tenant, %host, ?limits, "receiver limits set");
    Ok(Json(control))
}

/// Holds the caller's deliveries to `host`: submissions are still accepted and collected,
/// and callbacks wait without spending attempts until `resume` (a pause survives
/// restarts). A delivery already on its way finishes; workers apply a pause within a
/// second.
#[utoipa::path(
    post,
    path = "/v1/receivers/{host}/pause",
    operation_id = "pauseReceiver",
    tag = "webhooks",
    params(ReceiverPath),
    responses(
        (status = 200, description = "Paused (or already paused, since `pausedAt`)", body = ReceiverControl),
        (status = 400, description = "`host` names no host"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key; receivers' settings are a tenant's"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn pause(
    State(app): State<AppState>,
    caller: Caller,
    host: Result<Path<String>, PathRejection>,
) -> Result<Json<ReceiverControl>, ApiError> {
    let tenant = caller.tenant()?.id.clone();
    let host = host_of(host)?;
    let control = change_and_show(&app, &tenant, &host, manage::Change::Pause).await?;
    tracing::info!(%tenant, %host, "receiver paused");
    Ok(Json(control))
}

/// Lets the caller's deliveries to `host` go again: everything the pause held is queued
/// at once and delivered within the host's limits.
#[utoipa::path(
    post,
    path = "/v1/receivers/{host}/resume",
    operation_id = "resumeReceiver",
    tag = "webhooks",
    params(ReceiverPath),
    responses(
        (status = 200, description = "Resumed; `waiting.paused` counts the deliveries still being queued again", body = ReceiverControl),
        (status = 400, description = "`host` names no host"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key; receivers' settings are a tenant's"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn resume(
    State(app): State<AppState>,
    caller: Caller,
    host: Result<Path<String>, PathRejection>,
) -> Result<Json<ReceiverControl>, ApiError> {
    let tenant = caller.tenant()?.id.clone();
    let host = host_of(host)?;
    let control = change_and_show(&app, &tenant, &host, manage::Change::Resume).await?;
    tracing::info!(%tenant, %host, waiting = control.waiting.paused, "receiver resumed");
    Ok(Json(control))
}

/// The path's host, as settings are kept under, or a 400.
fn host_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let text = params::path(path, "host")?;
    let shaped = openapi::webhooks::host_shape(&text).then_some(text);
    shaped.as_deref().and_then(flow::parse_host).ok_or_else(|| ApiError::InvalidParameter {
        field: "host",
        reason: "must be a host name or address, such as `hooks.example.com`, `127.0.0.1` or `[::1]` (a port may follow)".into(),
    })
}

/// Makes `change` for `tenant` on `host`, tells this process's jobs and what waits on it,
/// and shows the result.
async fn change_and_show(
    app: &AppState,
    tenant: &str,
    host: &str,
    change: manage::Change,
) -> Result<ReceiverControl, ApiError> {
    let set = manage::change_receiver(&app.db, tenant, host, change).await?;
    controls::changed(app, Side::Receiver, change, host, Some(tenant)).await;
    let waiting = manage::waiting(&app.db, Some(tenant)).await?;
    let mut control = view(set, &waiting);
    control.tenant = None;
    Ok(control)
}

/// `set` as shown, with what waits on it.
fn view(set: receiver_setting::Model, waiting: &[manage::WaitingCount]) -> ReceiverControl {
    ReceiverControl {
        waiting: controls::counts(waiting, Side::Receiver, &set.host, Some(&set.tenant_id)),
        paused: set.paused_at.is_some(),
        paused_at: set.paused_at,
        limits: controls::shown(set.max_concurrent, set.max_per_second),
        host: set.host,
        tenant: Some(set.tenant_id),
    }
}

//! `GET /v1/stats`: the overview page's figures in one request.

use axum::Json;
use axum::extract::State;
use engine::queue::QUEUES;
use entity::counter_flush;
use entity::webhook::Waiting;
use openapi::stats::{CounterFlushStats, QueueStats, Stats, WaitingReason, WorkerStats};
use openapi::tenants::TenantQuery;
use sea_orm::{EntityTrait, QueryOrder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::input::Scope;
use crate::routes::providers;
use crate::state::AppState;
use crate::stats;

/// How long a worker that stopped heartbeating is still listed (as silent): long enough to
/// see that it stopped, not forever.
const SILENT_WORKERS_LISTED_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Webhooks of `tenant` (every tenant's with `None`) waiting, by reason, every reason
/// listed.
async fn waiting_by_reason(
    app: &AppState,
    tenant: Option<&str>,
) -> Result<Vec<WaitingReason>, ApiError> {
    use sea_orm::{ActiveEnum, Iterable};
    let rows = engine::flow::manage::waiting(&app.db, tenant).await?;
    Ok(Waiting::iter()
        .map(|reason| WaitingReason {
            count: rows
                .iter()
                .filter(|r| r.waiting_for == reason)
                .map(|r| u64::try_from(r.count).unwrap_or(0))
                .sum(),
            reason: reason.to_value(),
        })
        .collect())
}

/// The stats route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

/// Webhooks and streams by status, the last hour minute by minute (submissions,
/// deliveries, success rate, p50/p99 from submission to acknowledged callback), provider
/// health, webhooks waiting by reason, and the counter flush; for the operator, the queues
/// and their workers too.
/// Webhook and stream figures are the tenant's own (the operator's key: every tenant's, or
/// `?tenant=`'s); the queues, the workers and the flush's size are shared by every tenant,
/// so only the operator's key sees them.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "ops",
    params(TenantQuery),
    responses(
        (status = 200, description = "The figures", body = Stats),
        (status = 400, description = "The query is not valid"),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The database, the queue or the health store is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn show(State(app): State<AppState>, scope: Scope) -> Result<Json<Stats>, ApiError> {
    let tenant = scope.tenant();
    let operator = scope.caller.admin().is_ok();
    let now = chrono::Utc::now();
    let webhooks = stats::webhooks_by_status(&app.db, tenant).await?;
    let streams = stats::streams_by_status(&app.db, tenant).await?;
    let last_hour = stats::last_hour(&app.db, tenant, now).await?;
    let waiting = waiting_by_reason(&app, tenant).await?;
    let (queues, workers) = if operator {
        let (queues, workers) = platform(&app, now).await?;
        (Some(queues), Some(workers))
    } else {
        (None, None)
    };
    let last_flush = counter_flush::Entity::find()
        .order_by_desc(counter_flush::Column::AppliedAt)
        .one(&app.db)
        .await?;
    let oldest = app.counters.oldest_unflushed().await.map_err(|error| {
        tracing::error!(%error, "counter buffer unreadable");
        ApiError::BufferUnavailable
    })?;
    Ok(Json(Stats {
        waiting,
        generated_at: now,
        tenant_id: tenant.map(str::to_owned),
        webhooks,
        streams,
        last_hour,
        queues,
        workers,
        providers: providers::statuses(&app, operator, tenant).await?,
        counters: CounterFlushStats {
            last_flush_at: last_flush.as_ref().map(|f| f.applied_at),
            // Every tenant's keys: how busy the others are is not a tenant's business.
            last_flush_keys: last_flush.as_ref().filter(|_| operator).map(|f| f.keys),
            last_flush_duration_ms: last_flush.as_ref().map(|f| f.duration_ms),
            lag_seconds: oldest.map_or(0.0, |at| {
                (now - at).num_milliseconds().max(0) as f64 / 1000.0
            }),
        },
    }))
}

/// The queues and the workers serving them: the operator's figures.
async fn platform(
    app: &AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<QueueStats>, Vec<WorkerStats>), ApiError> {
    let unavailable = |what: &'static str| {
        move |error: engine::queue::QueueError| {
            tracing::error!(%error, "{what} unreadable");
            ApiError::Unavailable(format!("the {what} cannot be read; retry later"))
        }
    };
    let queues = app
        .queue
        .depths(QUEUES)
        .await
        .map_err(unavailable("queue depths"))?
        .into_iter()
        .map(|q| QueueStats {
            name: q.name.to_owned(),
            ready: q.ready,
            scheduled: q.scheduled,
            running: q.running,
            oldest_ready_seconds: q.waited(now).map(|waited| waited.as_secs_f64()),
            stalled: q.stalled(now, app.queue_stall_after),
        })
        .collect();
    let workers = app
        .queue
        .workers(QUEUES)
        .await
        .map_err(unavailable("worker registry"))?
        .into_iter()
        // A worker that stopped (cleanly, or for good) stays registered: listed as silent
        // for a while, then no more.
        .filter(|w| w.alive || now - w.last_seen < SILENT_WORKERS_LISTED_FOR)
        .map(|w| WorkerStats {
            name: w.name,
            queue: w.queue,
            last_seen: w.last_seen,
            alive: w.alive,
        })
        .collect();
    Ok((queues, workers))
}

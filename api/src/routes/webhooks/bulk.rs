//! `POST /v1/webhooks/redeliver`: one more delivery attempt for every parked (or delivered)
//! webhook matching a filter, counted first with `dryRun`.

use axum::Json;
use axum::extract::State;
use engine::webhooks::{self, RedeliverError};
use entity::webhook;
use openapi::tenants::TenantQuery;
use openapi::webhooks::{BulkRedeliver, BulkRedeliverResult, MAX_BULK_REDELIVER, WebhookStatus};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::filter::{RawFilter, WebhookFilter};
use crate::error::ApiError;
use crate::input::ApiJson;
use crate::input::Scope;
use crate::state::AppState;

/// Ids read per statement while redelivering.
const CHUNK: u64 = 500;

/// The bulk redelivery route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(redeliver_matching))
}

/// Gives every webhook matching the filter (parked by default) one more delivery attempt,
/// up to `limit` (at most 10,000) per request; with `dryRun`, only says how many match.
#[utoipa::path(
    post,
    path = "/v1/webhooks/redeliver",
    tag = "webhooks",
    request_body = BulkRedeliver,
    params(TenantQuery),
    responses(
        (status = 200, description = "How many matched and how many were queued", body = BulkRedeliverResult),
        (status = 400, description = "The body is not JSON, or a filter is not valid"),
        (status = 401, description = "No valid API key was given"),
        (status = 413, description = "The body is larger than the limit"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "`status` is not `parked` or `delivered`, `limit` is not 1 to 10,000, or a field has the wrong type"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The database or the queue is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn redeliver_matching(
    State(app): State<AppState>,
    scope: Scope,
    ApiJson(request): ApiJson<BulkRedeliver>,
) -> Result<Json<BulkRedeliverResult>, ApiError> {
    let scope = scope.tenant();
    let filter = WebhookFilter::parse(
        RawFilter {
            status: Some(request.status.as_deref().unwrap_or("parked")),
            provider: request.provider.as_deref(),
            callback_host: request.callback_host.as_deref(),
            search: request.search.as_deref(),
        },
        request.created_after,
        request.created_before,
    )?;
    if let Some(reason) = filter.unknown_provider(&app.providers) {
        return Err(ApiError::invalid_field("provider", reason));
    }
    if !matches!(
        filter.status,
        Some(WebhookStatus::Parked | WebhookStatus::Delivered)
    ) {
        return Err(ApiError::invalid_field(
            "status",
            "only parked or delivered webhooks can be redelivered",
        ));
    }
    // Validated: 1 to MAX_BULK_REDELIVER.
    let limit = request
        .limit
        .and_then(|n| u64::try_from(n).ok())
        .map_or(MAX_BULK_REDELIVER, |n| n.min(MAX_BULK_REDELIVER));
    let condition = filter.condition(scope);
    let matched = webhook::Entity::find()
        .filter(condition.clone())
        .count(&app.db)
        .await?;
    let mut redelivered = 0;
    if !request.dry_run {
        let mut after: Option<String> = None;
        'chunks: while redelivered < limit {
            let mut select = webhook::Entity::find()
                .select_only()
                .column(webhook::Column::Id)
                .filter(condition.clone())
                .order_by_asc(webhook::Column::Id)
                .limit(CHUNK);
            if let Some(after) = &after {
                select = select.filter(webhook::Column::Id.gt(after.as_str()));
            }
            let ids: Vec<String> = select.into_tuple().all(&app.db).await?;
            let Some(last) = ids.last() else { break };
            after = Some(last.clone());
            for id in &ids {
                match webhooks::redeliver(&app.db, &app.queue, id, scope).await {
                    Ok(_) => redelivered += 1,
                    // Redelivered or removed meanwhile by someone else.
                    Err(RedeliverError::InProgress(..) | RedeliverError::NotFound(_)) => {}
                    Err(RedeliverError::Database(e)) => return Err(ApiError::Database(e)),
                    Err(RedeliverError::Queue(e)) => {
                        tracing::error!(webhook = %id, error = %e, redelivered, "bulk redelivery stopped: the queue is unavailable");
                        return Err(ApiError::Unavailable(format!(
                            "the queue is unavailable after {redelivered} redeliveries; \
                             the sweeper queues the one in hand, retry for the rest"
                        )));
                    }
                }
                if redelivered >= limit {
                    break 'chunks;
                }
            }
        }
        tracing::info!(matched, redelivered, "bulk redelivery queued");
    }
    Ok(Json(BulkRedeliverResult {
        matched,
        redelivered,
        limit,
        dry_run: request.dry_run,
    }))
}

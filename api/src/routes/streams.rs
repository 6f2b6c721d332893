//! `POST /v1/streams`, `GET /v1/streams`, `GET /v1/streams/{id}`, `GET /v1/streams/{id}/data`,
//! `GET /v1/streams/{id}/batches`, `DELETE /v1/streams/{id}`, `POST /v1/streams/{id}/start`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::streams::{self, StreamError, slot_time};
use entity::{stream, stream_batch};
use openapi::error::FieldError;
use openapi::page::PageQuery;
use openapi::streams::{
    CreateStream, DEFAULT_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS, Stream, StreamBatch,
    StreamBatchPage, StreamData, StreamListQuery, StreamPage, StreamStatus,
};
use openapi::tenants::TenantQuery;
use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::http::idempotency;
use crate::input::ApiJson;
use crate::input::params;
use crate::input::{Page, ResourceId, Scope};
use crate::state::AppState;
use crate::tenants::{Caller, quotas};

/// The stream routes; creation honours `Idempotency-Key` when `state` is given.
pub fn router(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    idempotency::layered(OpenApiRouter::new().routes(routes!(create, list)), state)
        .routes(routes!(show, stop))
        .routes(routes!(latest_data))
        .routes(routes!(batches))
        .routes(routes!(start))
}

fn view(s: stream::Model) -> Stream {
    let active = s.status == stream::StreamStatus::Active;
    Stream {
        status: if active {
            StreamStatus::Active
        } else {
            StreamStatus::Stopped
        },
        next_run_at: s.next_run_at.filter(|_| active).map(slot_time),
        id: s.id,
        tenant_id: s.tenant_id,
        provider: s.provider,
        interval_seconds: s.interval_seconds,
        created_at: s.created_at,
        stopped_at: s.stopped_at.filter(|_| !active),
    }
}

/// Starts a stream: `provider` fetched every `intervalSeconds`, the first run now.
#[utoipa::path(
    post,
    path = "/v1/streams",
    operation_id = "createStream",
    tag = "streams",
    request_body = CreateStream,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1 to 255 visible ASCII characters, no spaces. Repeating a creation with the same key and body within `IDEMPOTENCY_TTL` (24 h) returns the first answer again, with `Idempotent-Replayed: true`")),
    responses(
        (status = 201, description = "Created and its first run queued", body = Stream,
         headers(("Location" = String, description = "The stream's URL"))),
        (status = 400, description = "The body is not JSON, or the `Idempotency-Key` is unusable"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key creates nothing; use a tenant's key"),
        (status = 409, description = "The first request with this `Idempotency-Key` is still being processed"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "`provider` or `intervalSeconds` is missing or wrong, or the `Idempotency-Key` was used with another body"),
        (status = 429, description = "Over the tenant's rate limit (`rate_limited`) or its `activeStreams` quota (`quota_exceeded`)"),
        (status = 503, description = "The database or the queue is unreachable; nothing was kept"),
    ),
    security(("api_key" = []))
)]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateStream>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant()?;
    let mut errors = Vec::new();
    if app.providers.get(&request.provider).is_none() {
        errors.push(FieldError::new(
            "provider",
            format!(
                "must be a configured provider ({}), not `{}`",
                app.providers, request.provider
            ),
        ));
    }
    let min = app.streams.stream_min_interval.as_secs().max(1) as i64;
    let interval = request.interval_seconds.unwrap_or(DEFAULT_INTERVAL_SECONDS);
    if !(min..=MAX_INTERVAL_SECONDS).contains(&interval) {
        errors.push(FieldError::new(
            "intervalSeconds",
            format!("must be from {min} to {MAX_INTERVAL_SECONDS}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    quotas::check_active_streams(&app.db, tenant).await?;
    let created =
        streams::create(&app.db, &app.queue, &tenant.id, &request.provider, interval).await?;
    tracing::info!(stream = %created.id, provider = %created.provider, interval, "stream started");
    let location = HeaderValue::from_str(&format!("/v1/streams/{}", created.id))
        .map_err(|_| ApiError::Internal("could not build the stream URL".into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view(created)),
    )
        .into_response())
}

/// Streams, oldest first, optionally in one status, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/streams",
    operation_id = "listStreams",
    tag = "streams",
    params(StreamListQuery),
    responses(
        (status = 200, description = "One page of streams", body = StreamPage),
        (status = 400, description = "`status`, `page` or `pageSize` is not valid"),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: Result<Query<StreamListQuery>, QueryRejection>,
) -> Result<Json<StreamPage>, ApiError> {
    let query = params::query(query, "status")?;
    let page = Page::from_parts(query.page.as_deref(), query.page_size.as_deref())?;
    let mut select = stream::Entity::find().order_by_asc(stream::Column::Id);
    if let Some(tenant) = caller.scope(query.tenant.as_deref()) {
        select = select.filter(stream::Column::TenantId.eq(tenant));
    }
    if let Some(status) = query.status.as_deref() {
        let status = stream::StreamStatus::try_from_value(&status.to_owned()).map_err(|_| {
            ApiError::InvalidParameter {
                field: "status",
                reason: format!("expected active or stopped, got `{status}`"),
            }
        })?;
        select = select.filter(stream::Column::Status.eq(status));
    }
    let (rows, total) = page.fetch(app.reads(), select).await?;
    let items = rows.into_iter().map(view).collect();
    Ok(Json(StreamPage {
        items,
        page: page.number,
        page_size: page.size,
        total,
    }))
}

/// A stream.
#[utoipa::path(
    get,
    path = "/v1/streams/{id}",
    operation_id = "getStream",
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id"), TenantQuery),
    responses(
        (status = 200, description = "The stream", body = Stream),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "No such stream"),
    ),
    security(("api_key" = []))
)]
async fn show(
    State(app): State<AppState>,
    ResourceId(id): ResourceId,
    scope: Scope,
) -> Result<Json<Stream>, ApiError> {
    let scope = scope.tenant();
    let found = streams::find(&app.db, &id, scope).await?;
    Ok(Json(view(found)))
}

/// Stops a stream: no run fetches after this. Stopping a stopped stream is not an error.
#[utoipa::path(
    delete,
    path = "/v1/streams/{id}",
    operation_id = "stopStream",
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id"), TenantQuery),
    responses(
        (status = 200, description = "The stopped stream", body = Stream),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "No such stream"),
    ),
    security(("api_key" = []))
)]
async fn stop(
    State(app): State<AppState>,
    ResourceId(id): ResourceId,
    scope: Scope,
) -> Result<Json<Stream>, ApiError> {
    let scope = scope.tenant();
    let stopped = streams::stop(&app.db, &id, scope).await?;
    tracing::info!(stream = %id, "stream stopped");
    Ok(Json(view(stopped)))
}

/// Resumes a stopped stream on its slots. Starting an active stream changes nothing.
#[utoipa::path(
    post,
    path = "/v1/streams/{id}/start",
    operation_id = "startStream",
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id"), TenantQuery),
    responses(
        (status = 200, description = "The active stream", body = Stream),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "No such stream"),
        (status = 503, description = "The queue is unreachable; the sweeper queues the run later"),
    ),
    security(("api_key" = []))
)]
async fn start(
    State(app): State<AppState>,
    ResourceId(id): ResourceId,
    scope: Scope,
) -> Result<Json<Stream>, ApiError> {
    let current = streams::find(&app.db, &id, scope.tenant()).await?;
    if current.status != stream::StreamStatus::Active
        && let Caller::Tenant(tenant) = &scope.caller
    {
        quotas::check_active_streams(&app.db, tenant).await?;
    }
    let started = streams::start(&app.db, &app.queue, &id, scope.tenant()).await?;
    Ok(Json(view(started)))
}

/// The latest complete batch: never one still being written.
#[utoipa::path(
    get,
    path = "/v1/streams/{id}/data",
    operation_id = "getStreamData",
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id"), TenantQuery),
    responses(
        (status = 200, description = "The latest complete batch", body = StreamData),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "No such stream, or no complete batch yet"),
    ),
    security(("api_key" = []))
)]
async fn latest_data(
    State(app): State<AppState>,
    ResourceId(id): ResourceId,
    scope: Scope,
) -> Result<Json<StreamData>, ApiError> {
    let scope = scope.tenant();
    streams::find(&app.db, &id, scope).await?;
    let batch = stream_batch::Entity::find()
        .filter(stream_batch::Column::StreamId.eq(&id))
        .filter(stream_batch::Column::Status.eq(stream_batch::BatchStatus::Complete))
        .order_by_desc(stream_batch::Column::Slot)
        .one(&app.db)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "stream `{id}` has no complete batch yet; its first run may still be on its way"
            ))
        })?;
    let data = batch
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    Ok(Json(StreamData {
        stream_id: id,
        slot: slot_time(batch.slot),
        fetched_at: batch.finished_at.unwrap_or(batch.started_at),
        data,
    }))
}

/// Every run kept, newest first: complete, failed and skipped (with their reason).
#[utoipa::path(
    get,
    path = "/v1/streams/{id}/batches",
    operation_id = "listStreamBatches",
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id"), PageQuery),
    responses(
        (status = 200, description = "One page of runs", body = StreamBatchPage),
        (status = 400, description = "`page` or `pageSize` is out of range"),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "No such stream"),
    ),
    security(("api_key" = []))
)]
async fn batches(
    State(app): State<AppState>,
    caller: Caller,
    ResourceId(id): ResourceId,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<StreamBatchPage>, ApiError> {
    let query = params::query(query, "page")?;
    let page = Page::parse(&query)?;
    let scope = caller.scope(query.tenant.as_deref());
    // Its runs are listed from the replica; the stream is looked for there first, and on the
    // primary only should the replica not have it yet (any other failure is the answer).
    match streams::find(app.reads(), &id, scope).await {
        Err(StreamError::NotFound(_)) => streams::find(&app.db, &id, scope).await?,
        found => found?,
    };
    let select = stream_batch::Entity::find()
        .filter(stream_batch::Column::StreamId.eq(&id))
        .order_by_desc(stream_batch::Column::Slot);
    let (rows, total) = page.fetch(app.reads(), select).await?;
    let items = rows
        .into_iter()
        .map(|b| StreamBatch {
            slot: slot_time(b.slot),
            status: b.status.to_value(),
            reason: b.error,
            started_at: b.started_at,
            finished_at: b.finished_at,
            data: b.data.as_deref().and_then(|d| serde_json::from_str(d).ok()),
        })
        .collect();
    Ok(Json(StreamBatchPage {
        items,
        page: page.number,
        page_size: page.size,
        total,
    }))
}

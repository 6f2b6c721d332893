//! `POST /increment`, `POST /v1/increment`, `GET /v1/counters/{key}`, `GET /v1/counters`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use engine::counters::{self, BufferError};
use entity::counter;
use openapi::counters::{
    Counter, CounterListQuery, CounterPage, IncrementAccepted, IncrementRequest,
};
use openapi::tenants::TenantQuery;
use sea_orm::sea_query::{Expr, ExprTrait as _, LikeExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::input::ApiJson;
use crate::input::params;
use crate::input::{Page, Scope};
use crate::state::AppState;
use crate::tenants::Caller;

/// The counter routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(increment))
        .routes(routes!(classic_increment))
        .routes(routes!(get_counter))
        .routes(routes!(list_counters))
}

/// Adds `value` to `key`; answered once the increment is durably buffered.
#[utoipa::path(
    post,
    path = "/v1/increment",
    operation_id = "increment",
    tag = "counters",
    request_body = IncrementRequest,
    responses(
        (status = 202, description = "Buffered; persisted by the next flush", body = IncrementAccepted),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key counts nothing; use a tenant's key"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 413, description = "The body is larger than the limit"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 409, description = "The counter's total would overflow 64 bits; nothing was applied"),
        (status = 422, description = "The body is not an object, or `key` or `value` is missing, unknown or wrong"),
        (status = 503, description = "The buffer is unreachable; nothing was applied"),
    ),
    security(("api_key" = []))
)]
async fn increment(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<IncrementRequest>,
) -> Result<(StatusCode, Json<IncrementAccepted>), ApiError> {
    buffer_increment(&app, &caller, request).await
}

/// The original challenge's path for `POST /v1/increment`.
#[utoipa::path(
    post,
    path = "/increment",
    operation_id = "incrementClassic",
    tag = "counters",
    request_body = IncrementRequest,
    responses(
        (status = 202, description = "Buffered; persisted by the next flush", body = IncrementAccepted),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key counts nothing; use a tenant's key"),
        (status = 413, description = "The body is larger than the limit"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 409, description = "The counter's total would overflow 64 bits; nothing was applied"),
        (status = 422, description = "The body is not an object, or `key` or `value` is missing, unknown or wrong"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The buffer is unreachable; nothing was applied"),
    ),
    security(("api_key" = []))
)]
async fn classic_increment(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<IncrementRequest>,
) -> Result<(StatusCode, Json<IncrementAccepted>), ApiError> {
    buffer_increment(&app, &caller, request).await
}

async fn buffer_increment(
    app: &AppState,
    caller: &Caller,
    request: IncrementRequest,
) -> Result<(StatusCode, Json<IncrementAccepted>), ApiError> {
    let tenant = caller.tenant()?;
    app.counters
        .increment(&tenant.id, &request.key, request.value)
        .await?;
    let accepted = IncrementAccepted {
        key: request.key,
        value: request.value,
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// A counter: its persisted total, what is still buffered, and their sum.
#[utoipa::path(
    get,
    path = "/v1/counters/{key}",
    operation_id = "getCounter",
    tag = "counters",
    params(("key" = String, Path, description = "The counter (URL-encoded)"), TenantQuery),
    responses(
        (status = 200, description = "The counter", body = Counter),
        (status = 401, description = "No valid API key was given"),
        (status = 400, description = "The admin key did not name the tenant (`?tenant=`)"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "Nothing was ever added to this key"),
        (status = 503, description = "The buffer or the database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn get_counter(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    scope: Scope,
) -> Result<Json<Counter>, ApiError> {
    let key = params::path(path, "key")?;
    // Counters are named within a tenant: the operator must say whose.
    let tenant = scope
        .tenant()
        .ok_or_else(|| ApiError::InvalidParameter {
            field: "tenant",
            reason: "the admin key must name the counter's tenant: ?tenant=<id>".into(),
        })?
        .to_owned();
    let state = counters::read(&app.db, &app.counters, &tenant, &key)
        .await
        .map_err(|error| match error {
            BufferError::Database(error) => ApiError::Database(error),
            other => other.into(),
        })?;
    if state.persisted.is_none() && state.pending == 0 {
        return Err(ApiError::NotFound(format!("no counter `{key}`")));
    }
    let (persisted, persisted_at) = state.persisted.map_or((0, None), |(v, at)| (v, Some(at)));
    Ok(Json(Counter {
        tenant_id: tenant,
        key,
        persisted,
        pending: state.pending,
        value: persisted.saturating_add(state.pending),
        persisted_at,
    }))
}

/// Persisted counters by key, optionally those whose key starts with `prefix`, a page at
/// a time.
#[utoipa::path(
    get,
    path = "/v1/counters",
    operation_id = "listCounters",
    tag = "counters",
    params(CounterListQuery),
    responses(
        (status = 200, description = "One page of counters", body = CounterPage),
        (status = 400, description = "`page` or `pageSize` is out of range"),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
    ),
    security(("api_key" = []))
)]
async fn list_counters(
    State(app): State<AppState>,
    caller: Caller,
    query: Result<Query<CounterListQuery>, QueryRejection>,
) -> Result<Json<CounterPage>, ApiError> {
    let query = params::query(query, "page")?;
    let page = Page::from_parts(query.page.as_deref(), query.page_size.as_deref())?;
    let mut select = counter::Entity::find()
        .order_by_asc(counter::Column::TenantId)
        .order_by_asc(counter::Column::Key);
    if let Some(tenant) = caller.scope(query.tenant.as_deref()) {
        select = select.filter(counter::Column::TenantId.eq(tenant));
    }
    if let Some(prefix) = query.prefix.as_deref().filter(|p| !p.is_empty()) {
        let pattern = prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        select = select.filter(
            Expr::col((counter::Entity, counter::Column::Key))
                .like(LikeExpr::new(format!("{pattern}%")).escape('\\')),
        );
    }
    let (rows, total) = page.fetch(app.reads(), select).await?;
    let items = rows
        .into_iter()
        .map(|c| Counter {
            value: c.value,
            persisted: c.value,
            pending: 0,
            persisted_at: Some(c.updated_at),
            tenant_id: c.tenant_id,
            key: c.key,
        })
        .collect();
    Ok(Json(CounterPage {
        items,
        page: page.number,
        page_size: page.size,
        total,
    }))
}

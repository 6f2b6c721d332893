//! `/v1/admin/*`: the operator (`ADMIN_API_KEY`) manages tenants and their keys.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use openapi::page::PageQuery;
use openapi::tenants::{CreateTenant, NewApiKey, Tenant, TenantCreated, TenantPage, UpdateTenant};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::input::{ApiJson, Page, ResourceId, params};
use crate::state::AppState;
use crate::tenants::{Caller, manage};

/// The operator's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, update))
        .routes(routes!(create_key))
        .routes(routes!(revoke_key))
}

/// Creates a tenant with its first API key and signing secret (both shown this once).
#[utoipa::path(
    post,
    path = "/v1/admin/tenants",
    operation_id = "createTenant",
    tag = "admin",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created; keep `key.key` and `signingSecret`, they are not shown again", body = TenantCreated),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No valid key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 409, description = "A tenant with this name exists"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "A field is missing or wrong"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantCreated>), ApiError> {
    caller.admin()?;
    let created = manage::create(&app.db, &request).await?;
    app.keys.forget_unknown();
    let limits = app.keys.limits_of(&created.tenant);
    tracing::info!(tenant = %created.tenant.id, name = %created.tenant.name, "tenant created");
    Ok((
        StatusCode::CREATED,
        Json(TenantCreated {
            id: created.tenant.id,
            name: created.tenant.name,
            created_at: created.tenant.created_at,
            rate_limit_per_second: i64::from(limits.rate_per_second),
            weight: i64::from(created.tenant.weight),
            quotas: manage::quotas(limits),
            key: created.key,
            signing_secret: created.secret.to_text(),
        }),
    ))
}

/// Tenants, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants",
    operation_id = "listTenants",
    tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of tenants", body = TenantPage),
        (status = 400, description = "`page` or `pageSize` is out of range"),
        (status = 401, description = "No valid key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<TenantPage>, ApiError> {
    caller.admin()?;
    let query = params::query(query, "page")?;
    let page = Page::parse(&query)?;
    let (rows, total) = manage::list(&app.db, page).await?;
    let items = rows
        .into_iter()
        .map(|(row, keys)| {
            let limits = app.keys.limits_of(&row);
            manage::view(row, limits, keys)
        })
        .collect();
    Ok(Json(TenantPage {
        items,
        page: page.number,
        page_size: page.size,
        total,
    }))
}

/// A tenant, its limits and its keys (never the keys themselves).
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{id}",
    operation_id = "getTenant",
    tag = "admin",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 401, description = "No valid key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 404, description = "No such tenant"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn show(
    State(app): State<AppState>,
    caller: Caller,
    ResourceId(id): ResourceId,
) -> Result<Json<Tenant>, ApiError> {
    caller.admin()?;
    let row = manage::find(&app.db, &id).await?;
    let keys = manage::keys_of(&app.db, &id).await?;
    let limits = app.keys.limits_of(&row);
    Ok(Json(manage::view(row, limits, keys)))
}

/// Changes a tenant's name, rate limit or quotas; every api instance applies new limits
/// within `KEY_CACHE_TTL` (30 s).
#[utoipa::path(
    patch,
    path = "/v1/admin/tenants/{id}",
    operation_id = "updateTenant",
    tag = "admin",
    params(("id" = String, Path, description = "The tenant's id")),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "The changed tenant", body = Tenant),
        (status = 400, description = "The body is not JSON"),
        (status = 401, description = "No valid key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 404, description = "No such tenant"),
        (status = 409, description = "Another tenant has this name"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "A field is wrong"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ResourceId(id): ResourceId,
    ApiJson(patch): ApiJson<UpdateTenant>,
) -> Result<Json<Tenant>, ApiError> {
    caller.admin()?;
    let row = manage::update(&app.db, &id, &patch).await?;
    app.keys.forget_all();
    let keys = manage::keys_of(&app.db, &id).await?;
    let limits = app.keys.limits_of(&row);
    tracing::info!(tenant = %id, "tenant changed");
    Ok(Json(manage::view(row, limits, keys)))
}

/// A new API key for a tenant (shown this once).
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{id}/keys",
    operation_id = "createTenantKey",
    tag = "admin",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 201, description = "Created; keep `key`, it is not shown again", body = NewApiKey),
        (status = 401, description = "No valid key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 404, description = "No such tenant"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn create_key(
    State(app): State<AppState>,
    caller: Caller,
    ResourceId(id): ResourceId,
) -> Result<(StatusCode, Json<NewApiKey>), ApiError> {
    caller.admin()?;
    let key = manage::create_key(&app.db, &id).await?;
    app.keys.forget_unknown();
    tracing::info!(tenant = %id, key = %key.id, "api key created");
    Ok((StatusCode::CREATED, Json(key)))
}

/// Revokes an API key: refused at once by this instance, by every instance within
/// `KEY_CACHE_TTL` (30 s).
#[utoipa::path(
    delete,
    path = "/v1/admin/keys/{keyId}",
    operation_id = "revokeKey",
    tag = "admin",
    params(("keyId" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked (or it was already)"),
        (status = 401, description = "No valid key was given"),
        (status = 403, description = "A tenant's key; this route is for the admin key"),
        (status = 404, description = "No such key"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn revoke_key(
    State(app): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.admin()?;
    let key_id = params::path(path, "keyId")?;
    manage::revoke_key(&app.db, &key_id).await?;
    app.keys.forget_all();
    tracing::info!(key = %key_id, "api key revoked");
    Ok(StatusCode::NO_CONTENT)
}

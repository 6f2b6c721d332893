//! `Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field"), per tenant and
//! route: the first answer is kept with a fingerprint of the body; a repeat with the same
//! body gets that answer again (`Idempotent-Replayed: true`), with another body `422`,
//! while the first is still being answered `409`. Records expire after `IDEMPOTENCY_TTL`.

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use engine::tenants::sha256_hex;
use entity::idempotency_record::{self, RecordStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TryInsertResult};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Caller;

/// The header a client names its request with.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that is a replay of the first one.
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 255;
/// A record still `processing` after this long belongs to a request that died (the
/// request timeout is far shorter); the next request with its key takes it over.
const ABANDONED_AFTER: Duration = Duration::from_secs(120);
/// Largest answer body kept for replay; the API's answers are far smaller.
const MAX_KEPT_BODY: usize = 256 * 1024;

/// `routes` honouring `Idempotency-Key`, when there is a running app's `state` (there is
/// none when only the OpenAPI document is wanted).
pub fn layered(
    routes: OpenApiRouter<AppState>,
    state: Option<&AppState>,
) -> OpenApiRouter<AppState> {
    match state {
        Some(state) => {
            routes.route_layer(middleware::from_fn_with_state(state.clone(), idempotent))
        }
        None => routes,
    }
}

/// The middleware: wraps the creating routes it is layered on.
async fn idempotent(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(&IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    match guarded(&app, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(app: &AppState, request: Request, next: Next) -> Result<Response, Response> {
    let key = read_key(request.headers()).map_err(IntoResponse::into_response)?;
    let Some(Caller::Tenant(tenant)) = request.extensions().get::<Caller>().cloned() else {
        // The operator's key creates nothing; the handler says so.
        return Ok(next.run(request).await);
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let (parts, body) = request.into_parts();
    // The body limit layer below has bounded it already.
    let bytes = to_bytes(body, usize::MAX)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response())?;
    let record = Record {
        tenant: &tenant.id,
        route: &route,
        key: &key,
        fingerprint: sha256_hex(&bytes),
    };
    let ttl = app.webhooks.idempotency_ttl;
    match begin(&app.db, &record, ttl).await.map_err(db_error)? {
        Begun::New => {}
        Begun::Replay(first) => return Ok(replay(*first)),
        Begun::Reused => return Err(ApiError::IdempotencyKeyReused.into_response()),
        Begun::InUse => return Err(ApiError::IdempotencyKeyInUse.into_response()),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    Ok(finish(&app.db, &record, response).await)
}

fn db_error(error: DbErr) -> Response {
    ApiError::Database(error).into_response()
}

/// The key, or 400 when it is empty, longer than 255 or not visible ASCII.
fn read_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidParameter {
        field: "Idempotency-Key",
        reason: reason.to_owned(),
    };
    let value = headers
        .get(&IDEMPOTENCY_KEY)
        .ok_or_else(|| invalid("is missing"))?;
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN {
        return Err(invalid("must be 1 to 255 characters"));
    }
    if !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("must be visible ASCII characters (no spaces)"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

struct Record<'a> {
    tenant: &'a str,
    route: &'a str,
    key: &'a str,
    fingerprint: String,
}

enum Begun {
    /// This request is the first: answer it, then `finish`.
    New,
    /// The first request's answer.
    Replay(Box<idempotency_record::Model>),
    /// The key was first used with another body.
    Reused,
    /// The first request is still being answered.
    InUse,
}

fn this(record: &Record<'_>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(idempotency_record::Column::TenantId.eq(record.tenant))
        .add(idempotency_record::Column::Route.eq(record.route))
        .add(idempotency_record::Column::Key.eq(record.key))
}

/// Claims the key for this request, or finds what its first use came to.
async fn begin(
    db: &DatabaseConnection,
    record: &Record<'_>,
    ttl: Duration,
) -> Result<Begun, DbErr> {
    // Twice at most: an expired or abandoned record is removed, then claimed anew.
    for _ in 0..2 {
        let now = Utc::now();
        let row = idempotency_record::Model {
            tenant_id: record.tenant.to_owned(),
            route: record.route.to_owned(),
            key: record.key.to_owned(),
            fingerprint: record.fingerprint.clone(),
            status: RecordStatus::Processing,
            response_status: None,
            response_body: None,
            content_type: None,
            location: None,
            created_at: now,
            updated_at: now,
        };
        let inserted =
            idempotency_record::Entity::insert(idempotency_record::ActiveModel::from(row))
                .on_conflict_do_nothing_on([
                    idempotency_record::Column::TenantId,
                    idempotency_record::Column::Route,
                    idempotency_record::Column::Key,
                ])
                .exec_without_returning(db)
                .await?;
        if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            return Ok(Begun::New);
        }
        let Some(first) = idempotency_record::Entity::find()
            .filter(this(record))
            .one(db)
            .await?
        else {
            continue;
        };
        if stale(&first, now, ttl) {
            idempotency_record::Entity::delete_many()
                .filter(this(record))
                .filter(idempotency_record::Column::UpdatedAt.eq(first.updated_at))
                .exec(db)
                .await?;
            continue;
        }
        return Ok(if first.fingerprint != record.fingerprint {
            Begun::Reused
        } else if first.status == RecordStatus::Complete {
            Begun::Replay(Box::new(first))
        } else {
            Begun::InUse
        });
    }
    Ok(Begun::InUse)
}

fn stale(first: &idempotency_record::Model, now: DateTime<Utc>, ttl: Duration) -> bool {
    first.created_at + ttl <= now
        || (first.status == RecordStatus::Processing && first.updated_at + ABANDONED_AFTER <= now)
}

/// Keeps the first answer (a 5xx is not kept: nothing was done, the client may retry
/// with the same key) and hands it on.
async fn finish(db: &DatabaseConnection, record: &Record<'_>, response: Response) -> Response {
    let status = response.status();
    if status.is_server_error() {
        if let Err(error) = idempotency_record::Entity::delete_many()
            .filter(this(record))
            .exec(db)
            .await
        {
            tracing::error!(%error, "could not release an idempotency key after a failure; it frees itself later");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_KEPT_BODY).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "answer too large to keep for replay");
            return ApiError::Unavailable("the answer could not be kept; retry".into())
                .into_response();
        }
    };
    let kept_header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, content_type) = (
        kept_header(header::LOCATION),
        kept_header(header::CONTENT_TYPE),
    );
    let kept = idempotency_record::Entity::update_many()
        .col_expr(
            idempotency_record::Column::Status,
            Expr::value(RecordStatus::Complete),
        )
        .col_expr(
            idempotency_record::Column::ResponseStatus,
            Expr::value(Some(i32::from(status.as_u16()))),
        )
        .col_expr(
            idempotency_record::Column::ResponseBody,
            Expr::value(Some(String::from_utf8_lossy(&bytes).into_owned())),
        )
        .col_expr(idempotency_record::Column::Location, Expr::value(location))
        .col_expr(
            idempotency_record::Column::ContentType,
            Expr::value(content_type),
        )
        .col_expr(
            idempotency_record::Column::UpdatedAt,
            Expr::value(Utc::now()),
        )
        .filter(this(record))
        .exec(db)
        .await;
    if let Err(error) = kept {
        // Done but not kept: a repeat would do it again, so say so.
        tracing::error!(%error, key = record.key, "answer not kept for its Idempotency-Key");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The first answer again.
fn replay(first: idempotency_record::Model) -> Response {
    let status = first
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body = Bytes::from(first.response_body.unwrap_or_default());
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    let content_type = first
        .content_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
        .unwrap_or(HeaderValue::from_static("application/json"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        IDEMPOTENT_REPLAYED.clone(),
        HeaderValue::from_static("true"),
    );
    if let Some(location) = first.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}

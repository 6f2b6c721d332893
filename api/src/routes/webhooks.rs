//! `POST /v1/webhooks`, `GET /v1/webhooks`, `GET /v1/webhooks/{id}`,
//! `POST /v1/webhooks/{id}/redeliver`.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entity::{delivery_attempt, webhook};
use openapi::error::{ErrorBody, FieldError};
use openapi::webhooks::{
    AttemptStatus, Delivery, DeliveryAttempt, Outcome, ProviderProgress, SubmitWebhook, Webhook,
    WebhookAccepted, WebhookListQuery, WebhookPage, WebhookStatus, WebhookSummary,
};
use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use worker::delivery::address::CallbackUrl;
use worker::webhooks::{self, NewWebhook, RedeliverError, SubmitError, Submitted};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::page::Page;
use crate::routes::params;
use crate::state::AppState;

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit, list))
        .routes(routes!(show))
        .routes(routes!(redeliver))
}

/// Submits a collection: fetch the providers, then POST the aggregate to `callbackUrl`.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = SubmitWebhook,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Repeating a submission with the same key within 24 h returns the first webhook")),
    responses(
        (status = 202, description = "Recorded and queued; follow `statusUrl`", body = WebhookAccepted,
         headers(("Location" = String, description = "The webhook's status URL"))),
        (status = 400, description = "The body is not JSON, or the `Idempotency-Key` is unusable", body = ErrorBody),
        (status = 401, description = "API keys are configured and none was given", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`provider` or `callbackUrl` is missing or wrong", body = ErrorBody),
        (status = 503, description = "The database or the queue is unreachable; nothing was kept", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
async fn submit(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SubmitWebhook>,
) -> Result<Response, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let new = validate(&app, &request, idempotency_key)?;
    let submitted = webhooks::submit(&app.db, &app.queue, &app.webhooks, new)
        .await
        .map_err(|error| {
            tracing::error!(%error, "webhook submission failed");
            ApiError::Unavailable(
                match error {
                    SubmitError::Database(_) => {
                        "the database is unavailable; nothing was kept, retry later"
                    }
                    SubmitError::Queue(_) => {
                        "the queue is unavailable; nothing was kept, retry later"
                    }
                }
                .into(),
            )
        })?;
    let (webhook, created) = match submitted {
        Submitted::Created(w) => (w, true),
        Submitted::Existing(w) => (w, false),
    };
    if created {
        tracing::info!(webhook = %webhook.id, "webhook accepted");
    }
    let status_url = format!("/v1/webhooks/{}", webhook.id);
    let accepted = WebhookAccepted {
        status: status_of(&webhook),
        id: webhook.id,
        status_url: status_url.clone(),
    };
    let location = HeaderValue::from_str(&status_url)
        .map_err(|_| ApiError::Unavailable("could not build the status URL".into()))?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(accepted),
    )
        .into_response())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |reason: &str| ApiError::InvalidParameter {
        field: "Idempotency-Key",
        reason: reason.to_owned(),
    };
    let key = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(invalid("must be 1 to 255 characters"));
    }
    Ok(Some(key.to_owned()))
}

/// Turns the request into a submission every part of which is valid, or names each
/// offending field.
fn validate(
    app: &AppState,
    request: &SubmitWebhook,
    idempotency_key: Option<String>,
) -> Result<NewWebhook, ApiError> {
    let mut errors = Vec::new();
    let names = request.provider.names();
    let mut seen = HashSet::new();
    if names.is_empty() {
        errors.push(field("provider", "must name at least one provider".into()));
    }
    for name in &names {
        if app.providers.get(name).is_none() {
            let known = app.providers.to_string();
            errors.push(field(
                "provider",
                format!("unknown provider `{name}`; configured: {known}"),
            ));
        } else if !seen.insert(*name) {
            errors.push(field("provider", format!("`{name}` is named twice")));
        }
    }
    let callback_url = CallbackUrl::parse(&request.callback_url, app.allow_private_callbacks)
        .map_err(|reason| errors.push(field("callbackUrl", reason)));
    match callback_url {
        Ok(callback_url) if errors.is_empty() => Ok(NewWebhook {
            providers: names.into_iter().map(str::to_owned).collect(),
            callback_url,
            idempotency_key,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn field(name: &str, reason: String) -> FieldError {
    FieldError {
        field: name.to_owned(),
        reason,
    }
}

fn status_of(webhook: &webhook::Model) -> WebhookStatus {
    match webhook.status {
        webhook::WebhookStatus::Collecting => WebhookStatus::Collecting,
        webhook::WebhookStatus::Delivering => WebhookStatus::Delivering,
        webhook::WebhookStatus::Delivered => WebhookStatus::Delivered,
        webhook::WebhookStatus::Parked => WebhookStatus::Parked,
    }
}

fn outcome_of(webhook: &webhook::Model) -> Option<Outcome> {
    webhook.outcome.as_deref().and_then(Outcome::parse)
}

/// A webhook: each provider's progress and every delivery attempt.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 401, description = "API keys are configured and none was given", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Webhook>, ApiError> {
    let id = params::path(path, "id")?;
    let webhook = webhook::Entity::find_by_id(&id)
        .one(&app.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook `{id}`")))?;
    let providers = webhooks::providers_of(&app.db, &id).await?;
    let attempts = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::WebhookId.eq(&id))
        .order_by_asc(delivery_attempt::Column::Number)
        .order_by_asc(delivery_attempt::Column::Id)
        .all(&app.db)
        .await?;
    let delivering = webhook.status == webhook::WebhookStatus::Delivering;
    Ok(Json(Webhook {
        status: status_of(&webhook),
        outcome: outcome_of(&webhook),
        providers: providers
            .into_iter()
            .map(|p| ProviderProgress {
                name: p.provider,
                status: p.status.to_value(),
                attempts: p.attempts,
                last_error: p.last_error,
                fetched_at: p.fetched_at,
            })
            .collect(),
        delivery: Delivery {
            attempts: attempts
                .into_iter()
                .map(|a| DeliveryAttempt {
                    number: a.number,
                    status: match a.status {
                        delivery_attempt::AttemptStatus::InFlight => AttemptStatus::InFlight,
                        delivery_attempt::AttemptStatus::Completed => AttemptStatus::Completed,
                        delivery_attempt::AttemptStatus::Unknown => AttemptStatus::Unknown,
                    },
                    trigger: a.trigger,
                    started_at: a.started_at,
                    duration_ms: a.duration_ms,
                    status_code: a.status_code,
                    error_kind: a.error_kind,
                    error_message: a.error_message,
                    response_body: a.response_body,
                    next_attempt_at: a.next_attempt_at,
                })
                .collect(),
            next_attempt_at: webhook.next_run_at.filter(|_| delivering),
            attempt_limit: webhook.attempt_limit,
        },
        id: webhook.id,
        callback_url: webhook.callback_url,
        created_at: webhook.created_at,
        deadline_at: webhook.deadline_at,
        collected_at: webhook.collected_at,
        delivered_at: webhook.delivered_at,
    }))
}

/// Webhooks, oldest first, optionally in one status (`?status=parked`), a page at a time.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    params(WebhookListQuery),
    responses(
        (status = 200, description = "One page of webhooks", body = WebhookPage),
        (status = 400, description = "`status`, `page` or `pageSize` is not valid", body = ErrorBody),
        (status = 401, description = "API keys are configured and none was given", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
async fn list(
    State(app): State<AppState>,
    query: Result<Query<WebhookListQuery>, QueryRejection>,
) -> Result<Json<WebhookPage>, ApiError> {
    let query = params::query(query, "status")?;
    let page = Page::from_parts(query.page.as_deref(), query.page_size.as_deref())?;
    let mut select = webhook::Entity::find().order_by_asc(webhook::Column::Id);
    if let Some(status) = query.status.as_deref() {
        let status = webhook::WebhookStatus::try_from_value(&status.to_owned()).map_err(|_| {
            ApiError::InvalidParameter {
                field: "status",
                reason: format!(
                    "expected collecting, delivering, delivered or parked, got `{status}`"
                ),
            }
        })?;
        select = select.filter(webhook::Column::Status.eq(status));
    }
    let paginator = select.paginate(&app.db, page.size);
    let total = paginator.num_items().await?;
    let items = paginator
        .fetch_page(page.number - 1)
        .await?
        .into_iter()
        .map(|w| WebhookSummary {
            status: status_of(&w),
            outcome: outcome_of(&w),
            id: w.id,
            callback_url: w.callback_url,
            created_at: w.created_at,
            delivery_attempts: w.delivery_attempts,
            next_run_at: w.next_run_at,
        })
        .collect();
    Ok(Json(WebhookPage {
        items,
        page: page.number,
        page_size: page.size,
        total,
    }))
}

/// Gives a parked (or delivered) webhook one more delivery attempt, now.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/redeliver",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 202, description = "One attempt queued; follow `statusUrl`", body = WebhookAccepted),
        (status = 401, description = "API keys are configured and none was given", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 409, description = "It is still collecting or a delivery is in progress", body = ErrorBody),
        (status = 503, description = "The database or the queue is unreachable", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
async fn redeliver(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<WebhookAccepted>), ApiError> {
    let id = params::path(path, "id")?;
    let webhook = webhooks::redeliver(&app.db, &app.queue, &id)
        .await
        .map_err(|error| match error {
            RedeliverError::NotFound(_) => ApiError::NotFound(error.to_string()),
            RedeliverError::InProgress(..) => ApiError::Conflict(error.to_string()),
            RedeliverError::Database(e) => ApiError::Database(e),
            RedeliverError::Queue(e) => {
                tracing::error!(webhook = %id, error = %e, "redelivery not queued; the sweeper will queue it");
                ApiError::Unavailable("the queue is unavailable; the redelivery will be queued once it is back".into())
            }
        })?;
    tracing::info!(webhook = %id, "redelivery queued");
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookAccepted {
            status: status_of(&webhook),
            status_url: format!("/v1/webhooks/{}", webhook.id),
            id: webhook.id,
        }),
    ))
}

//! `POST /v1/webhooks`, `GET /v1/webhooks`, `GET /v1/webhooks/{id}`,
//! `POST /v1/webhooks/{id}/redeliver`; the bulk redelivery (`bulk`) and the filter both
//! lists and the bulk redelivery read (`filter`).

mod bulk;
pub mod filter;

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::delivery::address::CallbackUrl;
use engine::webhooks::{self, NewWebhook};
use entity::{delivery_attempt, webhook};
use openapi::error::FieldError;
use openapi::tenants::TenantQuery;
use openapi::webhooks::{
    Delivery, DeliveryAttempt, ProviderProgress, SubmitWebhook, Webhook, WebhookAccepted,
    WebhookListQuery, WebhookPage, WebhookSummary,
};
use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::http::idempotency;
use crate::http::trace::Traceparent;
use crate::input::ApiJson;
use crate::input::params;
use crate::input::{Page, ResourceId, Scope};
use crate::state::AppState;
use crate::tenants::{Caller, quotas};
use filter::{RawFilter, WebhookFilter, parse_time};

/// The webhook routes; submissions honour `Idempotency-Key` when `state` is given (it is
/// not when only the document is wanted).
pub fn router(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    idempotency::layered(OpenApiRouter::new().routes(routes!(submit, list)), state)
        .routes(routes!(show))
        .routes(routes!(redeliver))
        .merge(bulk::router())
}

/// Submits a collection: fetch the providers, then POST the aggregate to `callbackUrl`.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "submitWebhook",
    tag = "webhooks",
    request_body = SubmitWebhook,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1 to 255 visible ASCII characters, no spaces. Repeating a submission with the same key and body within `IDEMPOTENCY_TTL` (24 h) returns the first answer again, with `Idempotent-Replayed: true`"),
           ("traceparent" = Option<String>, Header,
            description = "W3C Trace Context (`00-{trace id}-{span id}-{flags}`). The webhook's spans (with traces exported) and the `traceparent` sent to its providers and its receiver continue this trace; an invalid one is ignored and a new trace begins")),
    responses(
        (status = 202, description = "Recorded and queued; follow `statusUrl`", body = WebhookAccepted,
         headers(("Location" = String, description = "The webhook's status URL"))),
        (status = 400, description = "The body is not JSON, or the `Idempotency-Key` is unusable"),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key submits nothing; use a tenant's key"),
        (status = 409, description = "The first request with this `Idempotency-Key` is still being processed (`idempotency_key_in_use`)"),
        (status = 413, description = "The body is larger than the limit"),
        (status = 415, description = "The body is not `application/json`"),
        (status = 422, description = "`provider` or `callbackUrl` is missing or wrong, or the `Idempotency-Key` was used with another body (`idempotency_key_reused`)"),
        (status = 429, description = "Over the tenant's rate limit (`rate_limited`, see `Retry-After`) or its `pendingWebhooks` quota (`quota_exceeded`)"),
        (status = 503, description = "The database or the queue is unreachable; nothing was kept"),
    ),
    security(("api_key" = []))
)]
async fn submit(
    State(app): State<AppState>,
    caller: Caller,
    Traceparent(traceparent): Traceparent,
    ApiJson(request): ApiJson<SubmitWebhook>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant()?;
    let mut new = validate(&app, &request, &tenant.id)?;
    new.traceparent = traceparent;
    quotas::check_pending_webhooks(&app.db, tenant).await?;
    // Health is advice here: unread, the collection runs now and finds out itself.
    new.wait_until = app
        .health
        .all_down_until(&new.providers)
        .await
        .unwrap_or_else(|error| {
            tracing::debug!(%error, "provider health unread; collecting at once");
            None
        });
    let webhook = webhooks::submit(
        &app.inserts,
        &app.queue,
        &app.flow.turns,
        &app.webhooks,
        new,
    )
    .await?;
    tracing::info!(webhook = %webhook.id, tenant = %webhook.tenant_id, "webhook accepted");
    let status_url = format!("/v1/webhooks/{}", webhook.id);
    let accepted = WebhookAccepted {
        status: webhook.status.into(),
        id: webhook.id,
        status_url: status_url.clone(),
    };
    let location = HeaderValue::from_str(&status_url)
        .map_err(|_| ApiError::Internal("could not build the status URL".into()))?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(accepted),
    )
        .into_response())
}

/// Turns the request into a submission every part of which is valid, or names each
/// offending field.
fn validate(app: &AppState, request: &SubmitWebhook, tenant: &str) -> Result<NewWebhook, ApiError> {
    let names = request.provider.names();
    // More names than there are providers cannot be valid: one error, before checking
    // each of them.
    let configured = app.providers.iter().count();
    if names.len() > configured {
        return Err(ApiError::invalid_field(
            "provider",
            format!(
                "names {} providers; at most the {configured} configured ({})",
                names.len(),
                app.providers
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    if names.is_empty() {
        errors.push(FieldError::new(
            "provider",
            "must name at least one provider",
        ));
    }
    for (index, name) in names.iter().enumerate() {
        let field = request.provider.field(index);
        if app.providers.get(name).is_none() {
            let known = app.providers.to_string();
            errors.push(FieldError::new(
                field,
                format!("must be a configured provider ({known}), not `{name}`"),
            ));
        } else if !seen.insert(*name) {
            errors.push(FieldError::new(
                field,
                format!("names `{name}` a second time"),
            ));
        }
    }
    let callback_url = CallbackUrl::parse(&request.callback_url, app.allow_private_callbacks)
        .map_err(|reason| errors.push(FieldError::new("callbackUrl", reason)));
    match callback_url {
        Ok(callback_url) if errors.is_empty() => Ok(NewWebhook {
            tenant_id: tenant.to_owned(),
            providers: names.into_iter().map(str::to_owned).collect(),
            callback_url,
            wait_until: None,
            ordering_key: request.ordering_key.clone(),
            traceparent: None,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// A webhook: each provider's progress and every delivery attempt.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id"), TenantQuery),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 401, description = "No valid API key was given"),
        (status = 404, description = "No such webhook (of this tenant)"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn show(
    State(app): State<AppState>,
    ResourceId(id): ResourceId,
    scope: Scope,
) -> Result<Json<Webhook>, ApiError> {
    let webhook = webhook::Entity::find_by_id(&id)
        .filter(webhooks::owned_by(scope.tenant()))
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
    let callback_body = webhook
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    Ok(Json(Webhook {
        status: webhook.status.into(),
        outcome: webhook.outcome.map(Into::into),
        providers: providers
            .into_iter()
            .map(|p| ProviderProgress {
                name: p.provider,
                status: p.status.to_value(),
                attempts: p.attempts,
                last_error: p.last_error,
                fetched_at: p.fetched_at,
                data: p.data.as_deref().and_then(|d| serde_json::from_str(d).ok()),
            })
            .collect(),
        delivery: Delivery {
            attempts: attempts
                .into_iter()
                .map(|a| DeliveryAttempt {
                    number: a.number,
                    status: a.status.into(),
                    trigger: a.trigger.to_value(),
                    started_at: a.started_at,
                    duration_ms: a.duration_ms,
                    status_code: a.status_code,
                    error_kind: a.error_kind.map(|kind| kind.to_value()),
                    error_message: a.error_message,
                    response_body: a.response_body,
                    next_attempt_at: a.next_attempt_at,
                })
                .collect(),
            next_attempt_at: webhook.next_run_at.filter(|_| delivering),
            attempt_limit: webhook.attempt_limit,
            snoozes: webhook.delivery_snoozes,
        },
        callback_body,
        ordering_key: webhook.ordering_key,
        waiting_for: webhook.waiting_for.map(|w| w.to_value()),
        waiting_on: webhook.waiting_on,
        id: webhook.id,
        tenant_id: webhook.tenant_id,
        callback_url: webhook.callback_url,
        created_at: webhook.created_at,
        deadline_at: webhook.deadline_at,
        collected_at: webhook.collected_at,
        delivered_at: webhook.delivered_at,
    }))
}

/// Webhooks matching a filter, oldest (or newest) first, a page at a time: numbered
/// (`page`, with a `total`) or after an id (`after`, fast at any depth).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    params(WebhookListQuery),
    responses(
        (status = 200, description = "One page of webhooks", body = WebhookPage),
        (status = 400, description = "A filter, `order`, `after`, `page` or `pageSize` is not valid"),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: Result<Query<WebhookListQuery>, QueryRejection>,
) -> Result<Json<WebhookPage>, ApiError> {
    let query = params::query(query, "status")?;
    let page = Page::from_parts(query.page.as_deref(), query.page_size.as_deref())?;
    let filter = WebhookFilter::parse(
        RawFilter {
            status: query.status.as_deref(),
            provider: query.provider.as_deref(),
            callback_host: query.callback_host.as_deref(),
            search: query.search.as_deref(),
        },
        parse_time("createdAfter", query.created_after.as_deref())?,
        parse_time("createdBefore", query.created_before.as_deref())?,
    )?;

    let newest_first = match query.order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::InvalidParameter {
                field: "order",
                reason: format!("expected asc or desc, got `{other}`"),
            });
        }
    };
    let mut condition = filter.condition(caller.scope(query.tenant.as_deref()));
    // `after` (empty for the first page) pages by key, and wins over `page`.
    let keyset = query.after.is_some();
    if let Some(after) = query.after.as_deref().filter(|a| !a.is_empty()) {
        condition = condition.add(if newest_first {
            webhook::Column::Id.lt(after)
        } else {
            webhook::Column::Id.gt(after)
        });
    }
    let order = if newest_first {
        Order::Desc
    } else {
        Order::Asc
    };
    let select = webhook::Entity::find()
        .filter(condition)
        .order_by(webhook::Column::Id, order);
    let (rows, total, next_after) = if keyset {
        // One row more than the page says whether there is a next one.
        let mut rows = select.limit(page.size + 1).all(app.reads()).await?;
        let more = rows.len() as u64 > page.size;
        rows.truncate(page.size as usize);
        let next = more.then(|| rows.last().map(|w| w.id.clone())).flatten();
        (rows, None, next)
    } else {
        let (rows, total) = page.fetch(app.reads(), select).await?;
        let more = page.number * page.size < total;
        let next = more.then(|| rows.last().map(|w| w.id.clone())).flatten();
        (rows, Some(total), next)
    };
    let items = rows
        .into_iter()
        .map(|w| WebhookSummary {
            status: w.status.into(),
            outcome: w.outcome.map(Into::into),
            id: w.id,
            tenant_id: w.tenant_id,
            callback_url: w.callback_url,
            created_at: w.created_at,
            delivery_attempts: w.delivery_attempts,
            next_run_at: w.next_run_at,
        })
        .collect();
    Ok(Json(WebhookPage {
        items,
        page: if keyset { 1 } else { page.number },
        page_size: page.size,
        total,
        next_after,
    }))
}

/// Gives a parked (or delivered) webhook one more delivery attempt, now.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/redeliver",
    operation_id = "redeliverWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id"), TenantQuery),
    responses(
        (status = 202, description = "One attempt queued; follow `statusUrl`", body = WebhookAccepted),
        (status = 401, description = "No valid API key was given"),
        (status = 404, description = "No such webhook (of this tenant)"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 409, description = "It is still collecting or a delivery is in progress"),
        (status = 503, description = "The database or the queue is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn redeliver(
    State(app): State<AppState>,
    ResourceId(id): ResourceId,
    scope: Scope,
) -> Result<(StatusCode, Json<WebhookAccepted>), ApiError> {
    let webhook = webhooks::redeliver(&app.db, &app.queue, &id, scope.tenant()).await?;
    tracing::info!(webhook = %id, "redelivery queued");
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookAccepted {
            status: webhook.status.into(),
            status_url: format!("/v1/webhooks/{}", webhook.id),
            id: webhook.id,
        }),
    ))
}

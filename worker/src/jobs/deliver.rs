//! The deliver job: one signed POST of a webhook's frozen callback body, recorded as an
//! attempt; then delivered, parked, or the next attempt queued for its time.

use std::time::Duration;

use apalis::prelude::{AbortError, Data, TaskId};
use chrono::Utc;
use entity::{delivery_attempt, webhook};
use openapi::webhooks::WebhookStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryFilter, TransactionTrait};

use super::{JobContext, JobError};
use crate::delivery::retry;
use crate::delivery::signature::Secret;
use crate::metrics;
use crate::tenants;
use crate::webhooks::{Deliver, lease};

/// Beyond the delivery timeout, how long an attempt holds its webhook.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The handler of `Deliver`. A failure of ours (not the receiver's) ends the task: the
/// lease runs out and the sweeper queues the webhook again.
pub async fn run(job: Deliver, ctx: Data<JobContext>, task: TaskId) -> Result<(), AbortError> {
    deliver(&ctx, &job.webhook_id, &task.to_string())
        .await
        .map_err(|error| {
            tracing::error!(webhook = %job.webhook_id, %error, "delivery failed; the sweeper will queue it again");
            AbortError::new(error)
        })
}

/// The secrets the tenant's callbacks are signed with now, current first.
async fn signing_secrets(ctx: &JobContext, tenant_id: &str) -> Result<Vec<Secret>, JobError> {
    let rows = tenants::valid_secrets(&ctx.db, tenant_id, Utc::now()).await?;
    let secrets: Vec<Secret> = rows
        .iter()
        .filter_map(|row| match Secret::parse(&row.secret) {
            Ok(secret) => Some(secret),
            Err(reason) => {
                tracing::error!(tenant = %tenant_id, secret = %row.id, %reason, "stored signing secret is unusable; skipped");
                None
            }
        })
        .collect();
    if secrets.is_empty() {
        return Err(JobError::Payload(format!(
            "tenant `{tenant_id}` has no signing secret"
        )));
    }
    Ok(secrets)
}

async fn deliver(ctx: &JobContext, id: &str, task: &str) -> Result<(), JobError> {
    let settings = &ctx.config.webhooks;
    let lease = settings.delivery_timeout + LEASE_MARGIN;
    let Some(webhook) = lease::claim(&ctx.db, id, WebhookStatus::Delivering, task, lease).await?
    else {
        tracing::debug!(webhook = %id, "not delivering or not due; nothing to do");
        return Ok(());
    };
    let payload = webhook
        .payload
        .as_deref()
        .ok_or_else(|| JobError::Payload("a delivering webhook has no callback body".into()))?;
    let number = webhook.delivery_attempts + 1;
    let secrets = signing_secrets(ctx, &webhook.tenant_id).await?;
    let result = ctx
        .sender
        .send(&webhook.callback_url, &webhook.id, payload, &secrets)
        .await;

    let now = Utc::now();
    let retry_delay = retry::delay_before(&settings.delivery_schedule, number as usize + 1)
        .filter(|_| number < webhook.attempt_limit && !result.delivered() && !result.gone())
        .map(|scheduled| {
            let asked = result
                .retry_after
                .as_deref()
                .and_then(|v| retry::parse_retry_after(v, now));
            retry::next_delay(
                retry::jittered(scheduled, settings.delivery_jitter),
                asked,
                settings.delivery_retry_after_max,
            )
        });
    let next_at = retry_delay.map(|d| now + d);
    let status = if result.delivered() {
        WebhookStatus::Delivered
    } else if next_at.is_some() {
        WebhookStatus::Delivering
    } else {
        WebhookStatus::Parked
    };

    let txn = ctx.db.begin().await?;
    delivery_attempt::Entity::insert(delivery_attempt::ActiveModel {
        webhook_id: Set(webhook.id.clone()),
        number: Set(number),
        trigger: Set(webhook.delivery_trigger.clone()),
        url: Set(webhook.callback_url.clone()),
        started_at: Set(result.started_at),
        duration_ms: Set(result.duration.as_millis() as i64),
        status_code: Set(result.status.map(i32::from)),
        error_kind: Set(result.error_kind.map(str::to_owned)),
        error_message: Set(result.error_message.clone()),
        response_body: Set(result.body.clone()),
        next_attempt_at: Set(next_at),
        ..Default::default()
    })
    .exec_without_returning(&txn)
    .await?;
    let mut update = webhook::Entity::update_many()
        .col_expr(webhook::Column::Status, Expr::value(status.as_str()))
        .col_expr(webhook::Column::DeliveryAttempts, Expr::value(number))
        .col_expr(webhook::Column::NextRunAt, Expr::value(next_at))
        .col_expr(webhook::Column::ClaimedBy, Expr::value(None::<String>))
        .col_expr(webhook::Column::UpdatedAt, Expr::value(now));
    if result.delivered() {
        update = update.col_expr(webhook::Column::DeliveredAt, Expr::value(Some(now)));
    }
    update.filter(lease::held_by(id, task)).exec(&txn).await?;
    txn.commit().await?;

    let outcome = result.status.map_or_else(
        || result.error_kind.unwrap_or("error").to_owned(),
        |s| s.to_string(),
    );
    match (status, next_at) {
        (WebhookStatus::Delivered, _) => {
            metrics::delivery_attempt("delivered", result.duration);
            tracing::info!(webhook = %id, attempt = number, %outcome, "callback delivered");
        }
        (_, Some(at)) => {
            metrics::delivery_attempt("retrying", result.duration);
            tracing::warn!(webhook = %id, attempt = number, %outcome, error = ?result.error_message, next = %at, "callback attempt failed; retrying later");
            ctx.queue
                .push_at(
                    Deliver {
                        webhook_id: id.to_owned(),
                    },
                    at,
                )
                .await?;
        }
        _ => {
            metrics::delivery_attempt("parked", result.duration);
            tracing::warn!(webhook = %id, attempt = number, %outcome, error = ?result.error_message, "callback parked; redeliver it once the receiver is fixed");
        }
    }
    Ok(())
}

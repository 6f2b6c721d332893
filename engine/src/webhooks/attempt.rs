//! Delivery attempts as the history of record: each is written `in_flight` before its POST
//! (counted on the webhook in the same transaction) and completed after it, so the history
//! never shows fewer attempts than the receiver saw. One still `in_flight` when the next
//! job claims the webhook belonged to a worker that died during its POST: it becomes
//! `unknown`, and the next attempt is a new row.

use chrono::{DateTime, Utc};
use entity::delivery_attempt::{self, AttemptStatus};
use entity::webhook;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, TransactionTrait,
};

use super::lease;
use crate::delivery::AttemptResult;
use crate::lifecycle::transition;

/// Marks webhook `id`'s attempts left `in_flight` as `unknown`; how many. Called by the
/// lease holder only, so no live worker is still making them.
pub async fn settle_unknown(db: &DatabaseConnection, id: &str) -> Result<u64, DbErr> {
    let settled = transition(
        delivery_attempt::Entity::update_many(),
        delivery_attempt::Column::Status,
        &[AttemptStatus::InFlight],
        AttemptStatus::Unknown,
    )?
    .filter(delivery_attempt::Column::WebhookId.eq(id))
    .exec(db)
    .await?;
    Ok(settled.rows_affected)
}

/// Records attempt `number` of `webhook` as `in_flight` and counts it on the webhook, if
/// `task` still holds its lease and nobody counted that attempt yet; the attempt's row id,
/// or `None` when the lease is lost (nothing is written then).
pub async fn begin(
    db: &DatabaseConnection,
    webhook: &webhook::Model,
    number: i32,
    task: &str,
) -> Result<Option<i64>, DbErr> {
    let txn = db.begin().await?;
    let counted = webhook::Entity::update_many()
        .col_expr(webhook::Column::DeliveryAttempts, Expr::value(number))
        .col_expr(webhook::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(lease::held_by(&webhook.id, task))
        .filter(webhook::Column::DeliveryAttempts.eq(number - 1))
        .exec(&txn)
        .await?;
    if counted.rows_affected != 1 {
        return Ok(None);
    }
    let inserted = delivery_attempt::Entity::insert(delivery_attempt::ActiveModel {
        webhook_id: Set(webhook.id.clone()),
        number: Set(number),
        trigger: Set(webhook.delivery_trigger),
        url: Set(webhook.callback_url.clone()),
        started_at: Set(Utc::now()),
        duration_ms: Set(0),
        status: Set(AttemptStatus::InFlight),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(inserted.last_insert_id))
}

/// Records what attempt `id` came to (also when it was meanwhile marked `unknown`: the
/// answer arrived after all).
pub async fn complete<C: ConnectionTrait>(
    db: &C,
    id: i64,
    result: &AttemptResult,
    next_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let completed = transition(
        delivery_attempt::Entity::update_many(),
        delivery_attempt::Column::Status,
        &[AttemptStatus::InFlight, AttemptStatus::Unknown],
        AttemptStatus::Completed,
    )?;
    completed
        .col_expr(
            delivery_attempt::Column::StartedAt,
            Expr::value(result.started_at),
        )
        .col_expr(
            delivery_attempt::Column::DurationMs,
            Expr::value(result.duration.as_millis() as i64),
        )
        .col_expr(
            delivery_attempt::Column::StatusCode,
            Expr::value(result.status.map(i32::from)),
        )
        .col_expr(
            delivery_attempt::Column::ErrorKind,
            Expr::value(result.error_kind),
        )
        .col_expr(
            delivery_attempt::Column::ErrorMessage,
            Expr::value(result.error_message.clone()),
        )
        .col_expr(
            delivery_attempt::Column::ResponseBody,
            Expr::value(result.body.clone()),
        )
        .col_expr(
            delivery_attempt::Column::NextAttemptAt,
            Expr::value(next_at),
        )
        .filter(delivery_attempt::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

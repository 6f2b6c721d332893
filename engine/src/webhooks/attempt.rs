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
    ActiveEnum as _, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, QueryFilter, Statement, TransactionTrait, UpdateMany,
};

use super::lease;
use crate::delivery::AttemptResult;
use crate::lifecycle::transition;

/// Marks webhook `id`'s attempts left `in_flight` as `unknown`; how many. Called by the
/// lease holder only, so no live worker is still making them.
pub async fn settle_unknown<C: ConnectionTrait>(db: &C, id: &str) -> Result<u64, DbErr> {
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

/// Postgres: counts attempt $1 on webhook $3 if task $4 holds it and $5 attempts were
/// counted, marks its attempts in status $7 (`in_flight`) as $6 (`unknown`), and inserts
/// the new one `in_flight`: one statement. Returns the new row's id and how many it settled.
const BEGIN_POSTGRES: &str = r#"
WITH counted AS (
  UPDATE "webhooks" SET "delivery_attempts" = $1, "updated_at" = $2
  WHERE "id" = $3 AND "claimed_by" = $4 AND "delivery_attempts" = $5
  RETURNING "id"),
settled AS (
  UPDATE "delivery_attempts" SET "status" = $6
  WHERE "webhook_id" = $3 AND "status" = $7 AND EXISTS (SELECT 1 FROM counted)
  RETURNING "id")
INSERT INTO "delivery_attempts"
  ("webhook_id", "number", "trigger", "url", "started_at", "duration_ms", "status")
SELECT "id", $1, $8, $9, $2, 0, $7 FROM counted
RETURNING "id", (SELECT count(*) FROM settled) AS "unknown"
"#;

/// An attempt recorded `in_flight`.
#[derive(Debug, Clone, Copy)]
pub struct Begun {
    /// The attempt's row id.
    pub id: i64,
    /// How many earlier attempts, left `in_flight` by a worker that died during its POST,
    /// were marked `unknown` on the way.
    pub unknown: u64,
}

/// Records attempt `number` of `webhook` as `in_flight` and counts it on the webhook, if
/// `task` still holds its lease and nobody counted that attempt yet, marking attempts left
/// `in_flight` as `unknown`; `None` when the lease is lost (nothing is written then).
pub async fn begin(
    db: &DatabaseConnection,
    webhook: &webhook::Model,
    number: i32,
    task: &str,
) -> Result<Option<Begun>, DbErr> {
    let now = Utc::now();
    if db.get_database_backend() == DbBackend::Postgres {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            BEGIN_POSTGRES,
            [
                number.into(),
                now.into(),
                webhook.id.as_str().into(),
                task.into(),
                (number - 1).into(),
                AttemptStatus::Unknown.to_value().into(),
                AttemptStatus::InFlight.to_value().into(),
                webhook.delivery_trigger.to_value().into(),
                webhook.callback_url.as_str().into(),
            ],
        );
        let Some(row) = db.query_one_raw(statement).await? else {
            return Ok(None);
        };
        let unknown: i64 = row.try_get("", "unknown")?;
        return Ok(Some(Begun {
            id: row.try_get("", "id")?,
            unknown: u64::try_from(unknown).unwrap_or(0),
        }));
    }
    let txn = db.begin().await?;
    let counted = webhook::Entity::update_many()
        .col_expr(webhook::Column::DeliveryAttempts, Expr::value(number))
        .col_expr(webhook::Column::UpdatedAt, Expr::value(now))
        .filter(lease::held_by(&webhook.id, task))
        .filter(webhook::Column::DeliveryAttempts.eq(number - 1))
        .exec(&txn)
        .await?;
    if counted.rows_affected != 1 {
        return Ok(None);
    }
    let unknown = settle_unknown(&txn, &webhook.id).await?;
    let inserted = delivery_attempt::Entity::insert(delivery_attempt::ActiveModel {
        webhook_id: Set(webhook.id.clone()),
        number: Set(number),
        trigger: Set(webhook.delivery_trigger),
        url: Set(webhook.callback_url.clone()),
        started_at: Set(now),
        duration_ms: Set(0),
        status: Set(AttemptStatus::InFlight),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(Begun {
        id: inserted.last_insert_id,
        unknown,
    }))
}

/// The update recording what attempt `id` of webhook `webhook` came to (also when it was
/// meanwhile marked `unknown`: the answer arrived after all). The webhook's id finds the
/// attempt through its key (`webhook_id`, `id`) in its day's partition.
pub fn complete(
    webhook: &str,
    id: i64,
    result: &AttemptResult,
    next_at: Option<DateTime<Utc>>,
) -> Result<UpdateMany<delivery_attempt::Entity>, DbErr> {
    let completed = transition(
        delivery_attempt::Entity::update_many(),
        delivery_attempt::Column::Status,
        &[AttemptStatus::InFlight, AttemptStatus::Unknown],
        AttemptStatus::Completed,
    )?;
    Ok(completed
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
        .filter(delivery_attempt::Column::WebhookId.eq(webhook))
        .filter(delivery_attempt::Column::Id.eq(id)))
}

//! Which job may work on a webhook now. A job claims the webhook with one conditional
//! update: only while it is in the expected status and its next job is due (or this very
//! task held it before a crash). The claim pushes `next_run_at` to the end of a lease, so a
//! second copy of the job finds nothing to do, and the sweeper only steps in once the
//! lease is long over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::webhook;
use entity::webhook::WebhookStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// How early a job may run: apalis schedules to the whole second.
const EARLY: Duration = Duration::from_secs(1);

/// Claims webhook `id` in `status` for `task` during `lease`; the webhook if won.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    id: &str,
    status: WebhookStatus,
    task: &str,
    lease: Duration,
) -> Result<Option<webhook::Model>, DbErr> {
    let now = Utc::now();
    // One statement, with RETURNING: the claim and the read are one round trip.
    let mut claimed = webhook::Entity::update_many()
        .col_expr(webhook::Column::NextRunAt, Expr::value(Some(now + lease)))
        .col_expr(
            webhook::Column::ClaimedBy,
            Expr::value(Some(task.to_owned())),
        )
        .col_expr(webhook::Column::UpdatedAt, Expr::value(now))
        .filter(webhook::Column::Id.eq(id))
        .filter(webhook::Column::Status.eq(status))
        .filter(
            Condition::any()
                .add(webhook::Column::NextRunAt.is_null())
                .add(webhook::Column::NextRunAt.lte(now + EARLY))
                .add(webhook::Column::ClaimedBy.eq(task)),
        )
        .exec_with_returning(db)
        .await?;
    Ok(claimed.pop())
}

/// The condition that `task` still holds webhook `id`.
pub fn held_by(id: &str, task: &str) -> Condition {
    Condition::all()
        .add(webhook::Column::Id.eq(id))
        .add(webhook::Column::ClaimedBy.eq(task))
}

/// Hands webhook `id` back, its next job due at `at` as queue task `next`; false if `task`
/// no longer held it.
pub async fn release<C: ConnectionTrait>(
    db: &C,
    id: &str,
    task: &str,
    at: DateTime<Utc>,
    next: &str,
) -> Result<bool, DbErr> {
    let released = webhook::Entity::update_many()
        .col_expr(webhook::Column::NextRunAt, Expr::value(Some(at)))
        .col_expr(
            webhook::Column::QueuedTask,
            Expr::value(Some(next.to_owned())),
        )
        .col_expr(webhook::Column::ClaimedBy, Expr::value(None::<String>))
        .col_expr(webhook::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(held_by(id, task))
        .exec(db)
        .await?;
    Ok(released.rows_affected == 1)
}

/// Parks webhook `id` (its delivery schedule spent) and hands it back; false if `task` no
/// longer held it.
pub async fn park<C: ConnectionTrait>(db: &C, id: &str, task: &str) -> Result<bool, DbErr> {
    let park = crate::lifecycle::transition(
        webhook::Entity::update_many(),
        webhook::Column::Status,
        &[WebhookStatus::Delivering],
        WebhookStatus::Parked,
    )?;
    let parked = park
        .col_expr(
            webhook::Column::NextRunAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(webhook::Column::ClaimedBy, Expr::value(None::<String>))
        .col_expr(webhook::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(held_by(id, task))
        .exec(db)
        .await?;
    Ok(parked.rows_affected == 1)
}

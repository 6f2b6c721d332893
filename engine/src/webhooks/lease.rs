//! Which job may work on a webhook now. A job claims the webhook with one conditional
//! update: only while it is in the expected status and its next job is due (or this very
//! task held it before a crash). The claim pushes `next_run_at` to the end of a lease, so a
//! second copy of the job finds nothing to do, and the sweeper only steps in once the
//! lease is long over. Every way a lease ends is a `Move`, named here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::webhook;
use entity::webhook::WebhookStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, UpdateMany,
};

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

/// A move of a webhook's lease, the one place that sets `next_run_at`, `claimed_by` and
/// `queued_task` together: what the status becomes (when it changes), and when and as which
/// queue task the next job runs. Every move but `CollectedHeld` hands the lease back.
#[derive(Debug, Clone)]
pub enum Move {
    /// Wait without spending an attempt (a provider or receiver is down): the next job at
    /// `at`, as task `next`.
    Snooze {
        /// When the next job is due.
        at: DateTime<Utc>,
        /// The queue task it is pushed as.
        next: String,
    },
    /// A failed attempt: another one at `at`, as task `next`.
    Retry {
        /// When the next attempt is due.
        at: DateTime<Utc>,
        /// The queue task it is pushed as.
        next: String,
    },
    /// The receiver acknowledged the callback.
    Delivered,
    /// No attempt is left: parked until a redelivery.
    Park,
    /// The collection ended: the first attempt at `at`, as task `next`.
    Collected {
        /// When the first attempt is due.
        at: DateTime<Utc>,
        /// The queue task it is pushed as.
        next: String,
    },
    /// The collection ended and its job makes the first attempt at once: the lease stays
    /// with `task` until `until`, so the attempt needs no claim of its own.
    CollectedHeld {
        /// When the lease runs out.
        until: DateTime<Utc>,
        /// The task holding it, which stays the webhook's queued task.
        task: String,
    },
    /// A redelivery of a delivered or parked webhook: one more attempt now, as task `next`.
    Reopen {
        /// The queue task it is pushed as.
        next: String,
    },
    /// The sweeper found its job lost: queued again now, as task `next`.
    Requeue {
        /// The queue task it is pushed as.
        next: String,
    },
}

impl Move {
    /// The statuses this move is made from and the one it makes, when it changes the status.
    fn transition(&self) -> Option<(&'static [WebhookStatus], WebhookStatus)> {
        use WebhookStatus::{Collecting, Delivered, Delivering, Parked};
        match self {
            Move::Snooze { .. } | Move::Requeue { .. } => None,
            Move::Retry { .. } => Some((&[Delivering], Delivering)),
            Move::Delivered => Some((&[Delivering], Delivered)),
            Move::Park => Some((&[Delivering], Parked)),
            Move::Collected { .. } | Move::CollectedHeld { .. } => {
                Some((&[Collecting], Delivering))
            }
            Move::Reopen { .. } => Some((&[Delivered, Parked], Delivering)),
        }
    }

    /// The update making this move as of `now`; the caller says which row (and may set
    /// more columns).
    pub fn update(&self, now: DateTime<Utc>) -> Result<UpdateMany<webhook::Entity>, DbErr> {
        let update = match self.transition() {
            Some((from, to)) => crate::lifecycle::transition(
                webhook::Entity::update_many(),
                webhook::Column::Status,
                from,
                to,
            )?,
            None => webhook::Entity::update_many(),
        };
        // When the next job is due, as which task, and who holds the lease meanwhile.
        let (due, next, holder) = match self {
            Move::Snooze { at, next } | Move::Retry { at, next } | Move::Collected { at, next } => {
                (Some(*at), Some(next.clone()), None)
            }
            Move::CollectedHeld { until, task } => {
                (Some(*until), Some(task.clone()), Some(task.clone()))
            }
            Move::Reopen { next } | Move::Requeue { next } => (Some(now), Some(next.clone()), None),
            Move::Delivered | Move::Park => (None, None, None),
        };
        let mut update = update
            .col_expr(webhook::Column::NextRunAt, Expr::value(due))
            .col_expr(webhook::Column::ClaimedBy, Expr::value(holder))
            .col_expr(webhook::Column::QueuedTask, Expr::value(next))
            .col_expr(webhook::Column::UpdatedAt, Expr::value(now));
        if matches!(self, Move::Delivered) {
            update = update.col_expr(webhook::Column::DeliveredAt, Expr::value(Some(now)));
        }
        Ok(update)
    }

    /// Makes this move on webhook `id` if `task` still holds it; whether it did.
    pub async fn make<C: ConnectionTrait>(
        &self,
        db: &C,
        id: &str,
        task: &str,
    ) -> Result<bool, DbErr> {
        let update = self.update(Utc::now())?.filter(held_by(id, task));
        made(update, db).await
    }
}

/// Runs a move's `update` (already narrowed to its row); whether the row moved.
pub async fn made<C: ConnectionTrait>(
    update: UpdateMany<webhook::Entity>,
    db: &C,
) -> Result<bool, DbErr> {
    Ok(update.exec(db).await?.rows_affected == 1)
}

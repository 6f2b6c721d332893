//! Which job may work on a webhook now. A job claims the webhook with one conditional
//! update (shared with the other jobs claiming at that moment, `group_commit`): only while it is in the expected status and its next job is due (or this very
//! task held it before a crash). The claim pushes `next_run_at` to the end of a lease, so a
//! second copy of the job finds nothing to do, and the sweeper only steps in once the
//! lease is long over. Every way a lease ends is a `Move`, named here.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::webhook::{self, Waiting, WebhookStatus};
use entity::webhook_provider;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, Statement, UpdateMany, Value,
};

use crate::db::{placeholder, values_column, values_rows};

/// How early a job may run: apalis schedules to the whole second.
const EARLY: Duration = Duration::from_secs(1);

/// One claim: webhook `id` in `status`, for queue task `task`, during `lease`.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The webhook.
    pub id: String,
    /// The status it must be in.
    pub status: WebhookStatus,
    /// The queue task claiming it.
    pub task: String,
    /// How long the claim holds.
    pub lease: Duration,
    /// Whether the provider rows are read too (a collection needs them).
    pub with_providers: bool,
}

/// A claim won: the webhook as claimed and, when asked for, its provider rows in order.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The webhook.
    pub webhook: webhook::Model,
    /// Its provider rows, by position (empty unless asked for).
    pub providers: Vec<webhook_provider::Model>,
}

/// Claims every row of `claims` in one statement (and reads the provider rows asked for in
/// one more): a claim wins only while its webhook is in the expected status and its next
/// job is due, or this very task held it before a crash, or it is the task recorded as the
/// webhook's next job (a collection held for its tenant's turn is due whenever its job is
/// let in).
pub async fn claim_all<C: ConnectionTrait>(
    db: &C,
    claims: Vec<Claim>,
) -> Result<Vec<Option<Claimed>>, DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let mut values: Vec<Value> = vec![now.into(), (now + EARLY).into()];
    for claim in &claims {
        values.push(claim.id.clone().into());
        values.push(claim.task.clone().into());
        values.push((now + claim.lease).into());
        values.push(sea_orm::ActiveEnum::to_value(&claim.status).into());
    }
    let returning = match backend {
        // Postgres returns the FROM list's columns too unless told the table's.
        DbBackend::Postgres => "webhooks.*",
        _ => "*",
    };
    let sql = format!(
        "UPDATE webhooks SET next_run_at = v.column3, claimed_by = v.column2, updated_at = {now} \
         FROM (VALUES {rows}) AS v \
         WHERE webhooks.id = v.column1 AND webhooks.status = v.column4 AND webhooks.id IN ({ids}) \
           AND (webhooks.next_run_at IS NULL OR webhooks.next_run_at <= {early} \
                OR webhooks.claimed_by = v.column2 \
                OR (webhooks.claimed_by IS NULL AND webhooks.queued_task = v.column2)) \
         RETURNING {returning}",
        now = placeholder(backend, 1),
        early = placeholder(backend, 2),
        rows = values_rows(backend, claims.len(), 4, 3),
        ids = values_column(backend, claims.len(), 4, 3, 0),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut won: HashMap<String, webhook::Model> = HashMap::with_capacity(rows.len());
    for row in rows {
        let model = webhook::Model::from_query_result(&row, "")?;
        won.insert(model.id.clone(), model);
    }

    let wanted: Vec<&str> = claims
        .iter()
        .filter(|c| c.with_providers && won.contains_key(&c.id))
        .map(|c| c.id.as_str())
        .collect();
    let mut providers: HashMap<String, Vec<webhook_provider::Model>> = HashMap::new();
    if !wanted.is_empty() {
        let rows = webhook_provider::Entity::find()
            .filter(webhook_provider::Column::WebhookId.is_in(wanted))
            .order_by_asc(webhook_provider::Column::WebhookId)
            .order_by_asc(webhook_provider::Column::Position)
            .all(db)
            .await?;
        for row in rows {
            providers
                .entry(row.webhook_id.clone())
                .or_default()
                .push(row);
        }
    }

    Ok(claims
        .iter()
        .map(|claim| {
            let webhook = won.get(&claim.id)?;
            // Two claims of one webhook in a batch: the row names the task that won.
            (webhook.claimed_by.as_deref() == Some(claim.task.as_str())).then(|| Claimed {
                webhook: webhook.clone(),
                providers: if claim.with_providers {
                    providers.get(&claim.id).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                },
            })
        })
        .collect())
}

/// The condition that `task` still holds webhook `id`.
pub fn held_by(id: &str, task: &str) -> Condition {
    Condition::all()
        .add(webhook::Column::Id.eq(id))
        .add(webhook::Column::ClaimedBy.eq(task))
}

/// Why a webhook waits without spending an attempt, and on what (a provider's name, a
/// receiver's host): kept on the row, so a resume wakes exactly these and the waiting can
/// be counted by reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Why.
    pub why: Waiting,
    /// On what.
    pub on: String,
}

/// A move of a webhook's lease, the one place that sets `next_run_at`, `claimed_by` and
/// `queued_task` together: what the status becomes (when it changes), and when and as which
/// queue task the next job runs. Every move but `CollectedHeld` hands the lease back.
#[derive(Debug, Clone)]
pub enum Move {
    /// Wait without spending an attempt (a provider or receiver is down, paused or at its
    /// limit): the next job at `at`, as task `next`.
    Snooze {
        /// When the next job is due.
        at: DateTime<Utc>,
        /// The queue task it is pushed as.
        next: String,
        /// Why, when it waits on something (a failed provider's retry does not).
        wait: Option<Wait>,
    },
    /// The receiver answered asking to wait: a snooze that also gives back the attempt it
    /// answered (counted as a snooze instead), the next one at `at`, as task `next`.
    SnoozeAnswered {
        /// When the next attempt is due.
        at: DateTime<Utc>,
        /// The queue task it is pushed as.
        next: String,
        /// The receiver's host.
        host: String,
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
        /// Why the first attempt waits, when its receiver held it.
        wait: Option<Wait>,
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
            Move::Retry { .. } | Move::SnoozeAnswered { .. } => Some((&[Delivering], Delivering)),
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
            Move::Snooze { at, next, .. }
            | Move::SnoozeAnswered { at, next, .. }
            | Move::Retry { at, next }
            | Move::Collected { at, next, .. } => (Some(*at), Some(next.clone()), None),
            Move::CollectedHeld { until, task } => {
                (Some(*until), Some(task.clone()), Some(task.clone()))
            }
            Move::Reopen { next } | Move::Requeue { next } => (Some(now), Some(next.clone()), None),
            Move::Delivered | Move::Park => (None, None, None),
        };
        let wait = match self {
            Move::Snooze { wait, .. } | Move::Collected { wait, .. } => wait.clone(),
            Move::SnoozeAnswered { host, .. } => Some(Wait {
                why: Waiting::ReceiverBusy,
                on: host.clone(),
            }),
            _ => None,
        };
        let (why, on) = wait.map(|w| (w.why, w.on)).unzip();
        let mut update = update
            .col_expr(webhook::Column::WaitingFor, Expr::value(why))
            .col_expr(webhook::Column::WaitingOn, Expr::value(on))
            .col_expr(webhook::Column::NextRunAt, Expr::value(due))
            .col_expr(webhook::Column::ClaimedBy, Expr::value(holder))
            .col_expr(webhook::Column::QueuedTask, Expr::value(next))
            .col_expr(webhook::Column::UpdatedAt, Expr::value(now));
        match self {
            Move::Delivered => {
                update = update.col_expr(webhook::Column::DeliveredAt, Expr::value(Some(now)));
            }
            Move::SnoozeAnswered { .. } => {
                update = update
                    .col_expr(
                        webhook::Column::DeliveryAttempts,
                        Expr::col(webhook::Column::DeliveryAttempts).sub(1),
                    )
                    .col_expr(
                        webhook::Column::DeliverySnoozes,
                        Expr::col(webhook::Column::DeliverySnoozes).add(1),
                    );
            }
            // A redelivery's receiver may ask to wait as often as a first delivery's.
            Move::Reopen { .. } => {
                update = update.col_expr(webhook::Column::DeliverySnoozes, Expr::value(0));
            }
            _ => {}
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

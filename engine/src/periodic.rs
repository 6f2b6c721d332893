//! Periodic jobs (the vacuum, the prune, the counter flush, the sweep): each runs once per
//! interval slot across every worker process, as one generic tick payload.
//!
//! Each process ticks on its own; at each tick it tries to claim the interval's slot with
//! an insert on the `maintenance_runs` primary key, and only the winner enqueues the job.
//! apalis-cron cannot do this: two processes each fire every tick.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use apalis::prelude::{AbortError, Data};
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};
use entity::maintenance_run;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TryInsertResult,
};
use tokio_util::sync::CancellationToken;

use crate::config::WorkerConfig;
use crate::context::JobContext;
use crate::dependencies::Dependencies;
use crate::error::JobError;
use crate::queue::Job;

/// A job that runs once per interval slot across every worker process.
pub trait Periodic: Send + Sync + 'static {
    /// Its name in `maintenance_runs`.
    const NAME: &'static str;

    /// The queue its ticks travel through, before the deployment's prefix.
    const QUEUE: &'static str;

    /// How often it runs.
    fn interval(config: &WorkerConfig) -> Duration;

    /// Does the work; returns how many items it handled (tasks removed, keys flushed).
    fn work(ctx: &JobContext) -> impl Future<Output = Result<u64, JobError>> + Send;
}

/// The payload of every periodic job: the slot (unix seconds) it was claimed for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Tick<P> {
    /// Start of the interval, in unix seconds.
    pub slot: i64,
    #[serde(skip)]
    kind: PhantomData<fn() -> P>,
}

impl<P> Tick<P> {
    /// The tick of the slot starting at `slot`.
    pub fn new(slot: i64) -> Self {
        Tick {
            slot,
            kind: PhantomData,
        }
    }
}

impl<P> Clone for Tick<P> {
    fn clone(&self) -> Self {
        Tick::new(self.slot)
    }
}

impl<P: Periodic> Job for Tick<P> {
    const QUEUE: &'static str = P::QUEUE;
}

/// The handler of every periodic job: does the work and records it on its slot. A failure
/// is logged and ends the task for good: the next slot does the same work from the
/// database's truth, while apalis would retry up to 25 times (immediately, on SQLite).
pub async fn run<P: Periodic>(tick: Tick<P>, ctx: Data<JobContext>) -> Result<u64, AbortError> {
    let done = async {
        let items = P::work(&ctx).await?;
        finish(&ctx.db, P::NAME, tick.slot, items).await?;
        Ok::<_, JobError>(items)
    };
    done.await.map_err(|error| {
        let (job, slot) = (P::NAME, tick.slot);
        tracing::error!(job, slot, %error, "periodic job failed; the next slot will do its work");
        AbortError::new(error)
    })
}

/// The slot (start of the interval, unix seconds) that `now` falls in.
pub fn slot_of(now: DateTime<Utc>, interval: Duration) -> i64 {
    let every = slot_seconds(interval);
    now.timestamp().div_euclid(every) * every
}

/// Slots are whole seconds, at least one.
fn slot_seconds(interval: Duration) -> i64 {
    interval.as_secs().max(1) as i64
}

/// Claims `slot` of `job` for `claimer`; true if this call won it.
pub async fn claim(
    db: &DatabaseConnection,
    job: &str,
    slot: i64,
    claimer: &str,
) -> Result<bool, DbErr> {
    let row = maintenance_run::ActiveModel {
        job: Set(job.to_owned()),
        slot: Set(slot),
        claimed_by: Set(claimer.to_owned()),
        claimed_at: Set(Utc::now()),
        finished_at: Set(None),
        executions: Set(0),
        items: Set(0),
    };
    let inserted = maintenance_run::Entity::insert(row)
        .on_conflict_do_nothing_on([maintenance_run::Column::Job, maintenance_run::Column::Slot])
        .exec_without_returning(db)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}

/// Records that `slot` of `job` ran and handled `items` (tasks removed, keys flushed);
/// `executions` counts runs, so a redelivered job shows.
pub async fn finish(
    db: &DatabaseConnection,
    job: &str,
    slot: i64,
    items: u64,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::ExprTrait;
    maintenance_run::Entity::update_many()
        .col_expr(maintenance_run::Column::FinishedAt, Expr::value(Utc::now()))
        .col_expr(
            maintenance_run::Column::Executions,
            Expr::col(maintenance_run::Column::Executions).add(1),
        )
        .col_expr(
            maintenance_run::Column::Items,
            Expr::col(maintenance_run::Column::Items).add(items as i64),
        )
        .filter(maintenance_run::Column::Job.eq(job))
        .filter(maintenance_run::Column::Slot.eq(slot))
        .exec(db)
        .await?;
    Ok(())
}

/// At each interval boundary, claims that slot of `job` and calls `enqueue` if this
/// process won it, until `cancel`. A failed claim or enqueue is logged; the next slot
/// tries again. While a dependency is down no slot is claimed (the outage is logged once,
/// by `Dependencies`); the first slot after it does the work.
pub async fn run_every<F, Fut, E>(
    db: DatabaseConnection,
    deps: Dependencies,
    job: &'static str,
    interval: Duration,
    claimer: String,
    cancel: CancellationToken,
    enqueue: F,
) where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let every = slot_seconds(interval);
    loop {
        let next = slot_of(Utc::now(), interval) + every;
        let at = DateTime::<Utc>::from_timestamp(next, 0).unwrap_or_else(Utc::now);
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        if !deps.all_up() {
            tracing::debug!(job, slot = next, "a dependency is down; slot skipped");
            continue;
        }
        match claim(&db, job, next, &claimer).await {
            Ok(true) => match enqueue(next).await {
                Ok(()) => tracing::debug!(job, slot = next, "claimed and enqueued interval job"),
                Err(error) => {
                    tracing::error!(job, slot = next, %error, "could not enqueue interval job")
                }
            },
            Ok(false) => {
                tracing::debug!(job, slot = next, "slot already claimed by another process")
            }
            Err(error) => tracing::error!(job, slot = next, %error, "could not claim slot"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_start_on_interval_boundaries() {
        let at = DateTime::<Utc>::from_timestamp(1_000_007, 0).unwrap();
        assert_eq!(slot_of(at, Duration::from_secs(10)), 1_000_000);
        assert_eq!(slot_of(at, Duration::from_secs(1)), 1_000_007);
        assert_eq!(slot_of(at, Duration::from_millis(300)), 1_000_007);
    }
}

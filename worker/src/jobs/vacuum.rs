//! The vacuum: apalis never expires finished tasks, so this removes old ones on a schedule.

use apalis::prelude::{AbortError, Data};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{JobContext, JobError, QUEUES, give_up};
use crate::backend::Job;
use crate::schedule;

/// The name of the vacuum in `maintenance_runs`.
pub const JOB: &str = "vacuum";

/// One scheduled vacuum: the interval slot (unix seconds) it was claimed for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VacuumTick {
    /// Start of the interval, in unix seconds.
    pub slot: i64,
}

impl Job for VacuumTick {
    const QUEUE: &'static str = "maintenance";
}

/// Removes finished and dead tasks older than `VACUUM_MAX_AGE` from every queue, and the
/// maintenance records older than `MAINTENANCE_RETENTION`; records the run on its slot.
pub async fn run(tick: VacuumTick, ctx: Data<JobContext>) -> Result<u64, AbortError> {
    vacuum(&tick, &ctx)
        .await
        .map_err(|e| give_up(JOB, tick.slot, e))
}

async fn vacuum(tick: &VacuumTick, ctx: &JobContext) -> Result<u64, JobError> {
    let removed = ctx.queue.vacuum(QUEUES, ctx.config.vacuum_max_age).await?;
    let cutoff = Utc::now() - ctx.config.maintenance_retention;
    let pruned = schedule::prune(&ctx.db, cutoff).await?;
    schedule::finish(&ctx.db, JOB, tick.slot, removed).await?;
    tracing::info!(
        slot = tick.slot,
        removed,
        pruned,
        "vacuumed finished queue tasks"
    );
    Ok(removed)
}

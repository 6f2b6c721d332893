//! The vacuum: apalis never expires finished tasks, so this removes old ones on a schedule.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{IntervalJob, JobContext, JobError, QUEUES};
use crate::backend::Job;
use crate::config::WorkerConfig;

/// One scheduled vacuum: the interval slot (unix seconds) it was claimed for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VacuumTick {
    /// Start of the interval, in unix seconds.
    pub slot: i64,
}

impl Job for VacuumTick {
    const QUEUE: &'static str = "maintenance";
}

impl IntervalJob for VacuumTick {
    const NAME: &'static str = "vacuum";

    fn for_slot(slot: i64) -> Self {
        VacuumTick { slot }
    }

    fn slot(&self) -> i64 {
        self.slot
    }

    fn interval(config: &WorkerConfig) -> Duration {
        config.vacuum_interval
    }

    /// Removes finished and dead tasks older than `VACUUM_MAX_AGE` from every queue (the
    /// prune job trims the database's tables).
    async fn work(ctx: &JobContext) -> Result<u64, JobError> {
        let removed = ctx.queue.vacuum(QUEUES, ctx.config.vacuum_max_age).await?;
        tracing::info!(removed, "vacuumed finished queue tasks");
        Ok(removed)
    }
}

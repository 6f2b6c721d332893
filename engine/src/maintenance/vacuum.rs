//! The vacuum: apalis never expires finished tasks, so this removes old ones on a schedule.

use std::time::Duration;

use crate::config::WorkerConfig;
use crate::context::JobContext;
use crate::error::JobError;
use crate::periodic::Periodic;
use crate::queue::QUEUES;

/// The vacuum of the queue: finished and dead tasks past their age removed.
pub struct Vacuum;

impl Periodic for Vacuum {
    const NAME: &'static str = "vacuum";
    const QUEUE: &'static str = "maintenance";

    fn interval(config: &WorkerConfig) -> Duration {
        config.maintenance.vacuum_interval
    }

    /// Removes finished and dead tasks older than `VACUUM_MAX_AGE` from every queue (the
    /// prune job trims the database's tables).
    async fn work(ctx: &JobContext) -> Result<u64, JobError> {
        let removed = ctx
            .queue
            .vacuum(QUEUES, ctx.config.maintenance.vacuum_max_age)
            .await?;
        tracing::info!(removed, "vacuumed finished queue tasks");
        Ok(removed)
    }
}

//! The counter flush, scheduled every `COUNTER_FLUSH_INTERVAL`.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::config::WorkerConfig;
use crate::context::JobContext;
use crate::counters::CounterBuffer;
use crate::counters::flush::{self, Applied, FlushError};
use crate::error::JobError;
use crate::periodic::Periodic;

/// The counter flush: buffered increments applied to the `counters` table.
pub struct FlushCounters;

impl Periodic for FlushCounters {
    const NAME: &'static str = "flush_counters";
    const QUEUE: &'static str = "counters";

    fn interval(config: &WorkerConfig) -> Duration {
        config.counter_flush_interval
    }

    async fn work(ctx: &JobContext) -> Result<u64, JobError> {
        Ok(flush_now(&ctx.db, &ctx.counters).await?)
    }
}

/// Flushes the buffer now, logging each batch; returns how many counters changed.
pub async fn flush_now(db: &DatabaseConnection, buffer: &CounterBuffer) -> Result<u64, FlushError> {
    let mut changed = 0;
    for batch in flush::flush(db, buffer).await? {
        let duration_ms = batch.duration.as_millis() as u64;
        match batch.applied {
            Applied::Now { keys, rejected } => {
                changed += keys as u64;
                tracing::info!(batch_id = %batch.batch_id, keys, rejected = rejected.len(), duration_ms, "flushed counters");
            }
            Applied::Before => {
                tracing::info!(batch_id = %batch.batch_id, duration_ms, "removed a batch an earlier flush had applied");
            }
        }
    }
    Ok(changed)
}

//! The counter flush, scheduled every `COUNTER_FLUSH_INTERVAL`.

use apalis::prelude::{AbortError, Data};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use super::{JobContext, JobError, give_up};
use crate::backend::Job;
use crate::counters::CounterBuffer;
use crate::counters::flush::{self, Applied, FlushError};
use crate::schedule;

/// The name of the flush in `maintenance_runs`.
pub const JOB: &str = "flush_counters";

/// One scheduled flush: the interval slot (unix seconds) it was claimed for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlushCounters {
    /// Start of the interval, in unix seconds.
    pub slot: i64,
}

impl Job for FlushCounters {
    const QUEUE: &'static str = "counters";
}

/// Flushes the buffer and records the run on its slot.
pub async fn run(job: FlushCounters, ctx: Data<JobContext>) -> Result<u64, AbortError> {
    let flushed = async {
        let keys = flush_now(&ctx.db, &ctx.counters).await?;
        schedule::finish(&ctx.db, JOB, job.slot, keys).await?;
        Ok::<_, JobError>(keys)
    };
    flushed.await.map_err(|e| give_up(JOB, job.slot, e))
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

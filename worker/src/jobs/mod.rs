//! Job kinds: one module each, with its payload and handler.

pub mod flush_counters;
pub mod vacuum;

use std::sync::Arc;

use std::future::Future;
use std::time::Duration;

use apalis::prelude::{AbortError, Data};
use sea_orm::{DatabaseConnection, DbErr};

use crate::backend::{Job, Queue, QueueError};
use crate::config::{StoreConfig, WorkerConfig};
use crate::counters::CounterBuffer;
use crate::counters::flush::FlushError;
use crate::schedule;

/// Every queue of the platform, so maintenance reaches them all.
pub const QUEUES: &[&str] = &[
    vacuum::VacuumTick::QUEUE,
    flush_counters::FlushCounters::QUEUE,
];

/// What every handler gets: the database of record, the queue and the configuration.
#[derive(Clone)]
pub struct JobContext {
    /// The database of record.
    pub db: DatabaseConnection,
    /// The job queue.
    pub queue: Queue,
    /// The counter increment buffer.
    pub counters: CounterBuffer,
    /// The worker settings.
    pub config: Arc<WorkerConfig>,
}

impl JobContext {
    /// Opens the queue and the counter buffer that `store` selects, around `db`.
    pub async fn connect(
        db: DatabaseConnection,
        store: &StoreConfig,
        config: WorkerConfig,
    ) -> Result<Self, QueueError> {
        let queue = Queue::connect(store, &config).await?;
        // The buffer shares the queue's Redis connection (embedded: the database).
        let redis = match &queue {
            Queue::Redis(q) => Some(q.connection()),
            Queue::Sqlite(_) => None,
        };
        Ok(JobContext {
            counters: CounterBuffer::new(redis, &store.redis_prefix, &db),
            queue,
            db,
            config: Arc::new(config),
        })
    }
}

/// A job that runs once per interval slot across every worker process (see `schedule`).
pub trait IntervalJob: Job {
    /// Its name in `maintenance_runs`.
    const NAME: &'static str;

    /// The job of the slot starting at `slot` (unix seconds).
    fn for_slot(slot: i64) -> Self;

    /// The slot it was claimed for.
    fn slot(&self) -> i64;

    /// How often it runs.
    fn interval(config: &WorkerConfig) -> Duration;

    /// Does the work; returns how many items it handled (tasks removed, keys flushed).
    fn work(ctx: &JobContext) -> impl Future<Output = Result<u64, JobError>> + Send;
}

/// The handler of every interval job: does the work and records it on its slot. A failure
/// is logged and ends the task for good: the next slot does the same work from the
/// database's truth, while apalis would retry up to 25 times (immediately, on SQLite).
pub async fn run_interval<J: IntervalJob>(
    job: J,
    ctx: Data<JobContext>,
) -> Result<u64, AbortError> {
    let done = async {
        let items = J::work(&ctx).await?;
        schedule::finish(&ctx.db, J::NAME, job.slot(), items).await?;
        Ok::<_, JobError>(items)
    };
    done.await.map_err(|error| {
        let (job, slot) = (J::NAME, job.slot());
        tracing::error!(job, slot, %error, "interval job failed; the next slot will do its work");
        AbortError::new(error)
    })
}

/// Why a job failed; apalis records it as the task's result.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database refused or did not answer.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The queue refused or did not answer.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A counter flush failed; its batch waits for the next one.
    #[error(transparent)]
    Flush(#[from] FlushError),
}

//! Job kinds: one module each, with its payload and handler.

pub mod flush_counters;
pub mod vacuum;

use std::sync::Arc;

use apalis::prelude::AbortError;
use sea_orm::{DatabaseConnection, DbErr};

use crate::backend::{Job, Queue, QueueError};
use crate::config::{StoreConfig, WorkerConfig};
use crate::counters::CounterBuffer;
use crate::counters::flush::FlushError;

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
        let redis = match &store.redis_url {
            Some(url) => Some(crate::backend::redis::connection(url, store.redis_timeout)?),
            None => None,
        };
        Ok(JobContext {
            queue: Queue::connect(store, &config).await?,
            counters: CounterBuffer::new(redis, &store.redis_prefix, &db),
            db,
            config: Arc::new(config),
        })
    }
}

/// Ends an interval job that failed: logged, and never retried by apalis, since the next
/// slot does the same work from the database's truth (apalis would retry up to 25 times,
/// and immediately on SQLite).
pub(crate) fn give_up(job: &'static str, slot: i64, error: JobError) -> AbortError {
    tracing::error!(job, slot, %error, "interval job failed; the next slot will do its work");
    AbortError::new(error)
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

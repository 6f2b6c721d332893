//! Job kinds: one module each, with its payload and handler.

pub mod vacuum;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};

use crate::backend::{Job, Queue, QueueError};
use crate::config::WorkerConfig;

/// Every queue of the platform, so maintenance reaches them all.
pub const QUEUES: &[&str] = &[vacuum::VacuumTick::QUEUE];

/// What every handler gets: the database of record, the queue and the configuration.
#[derive(Clone)]
pub struct JobContext {
    /// The database of record.
    pub db: DatabaseConnection,
    /// The job queue.
    pub queue: Queue,
    /// The worker settings.
    pub config: Arc<WorkerConfig>,
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
}

//! The queue, behind one type for both modes: apalis on Redis (production) or on the
//! SQLite database file (embedded); the poll strategy its workers wake with, and the one
//! list of job kinds.

pub mod kinds;
pub mod poll;
pub mod redis;
pub mod sqlite;

use secrecy::ExposeSecret;
use std::time::Duration;

use std::str::FromStr;

use apalis::prelude::{Status, TaskBuilder, TaskId};
use serde::{Serialize, de::DeserializeOwned};

use crate::config::{StoreConfig, WorkerConfig};

pub use self::kinds::QUEUES;
pub use self::redis::RedisQueue;
pub use self::sqlite::SqliteQueue;

/// A job payload and the queue it travels through. Payloads carry ids, not data.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The queue's name, before the deployment's prefix.
    const QUEUE: &'static str;

    /// How many of these one worker process runs at once.
    fn concurrency(config: &WorkerConfig) -> usize {
        config.worker_concurrency as usize
    }
}

/// One queue's backlog, as the queue layer can tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    /// The queue's name, before the deployment's prefix.
    pub name: &'static str,
    /// Jobs due now, waiting for a worker.
    pub ready: u64,
    /// Jobs due later.
    pub scheduled: u64,
    /// Jobs fetched by a worker and not yet finished.
    pub running: u64,
    /// Since when the oldest job due has waited: its due time, or, for a job already moved
    /// to Redis's ready list, when it was queued (Redis keeps no due time there; for a job
    /// queued to run later, this is before it became due).
    pub oldest_ready: Option<chrono::DateTime<chrono::Utc>>,
}

/// A worker registered with a queue, and its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerBeat {
    /// The worker's name.
    pub name: String,
    /// The queue it serves.
    pub queue: String,
    /// Its last heartbeat.
    pub last_seen: chrono::DateTime<chrono::Utc>,
    /// Whether that heartbeat is within the time after which its jobs count as orphaned.
    pub alive: bool,
}

/// Why the queue could not be reached or written.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis refused or did not answer.
    #[error("redis queue: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// The SQLite queue failed.
    #[error("sqlite queue: {0}")]
    Sqlite(#[from] apalis_sqlite::Error),
    /// apalis refused the task.
    #[error("could not push to queue `{queue}`: {message}")]
    Push {
        /// The queue.
        queue: &'static str,
        /// apalis's reason.
        message: String,
    },
}

/// The job queue of this deployment.
#[derive(Clone)]
pub enum Queue {
    /// Production: apalis-redis.
    Redis(RedisQueue),
    /// Embedded: apalis-sqlite, in the same file as the data.
    Sqlite(SqliteQueue),
}

impl Queue {
    /// Connects the queue that `store` selects (Redis when `REDIS_URL` is set).
    pub async fn connect(store: &StoreConfig, worker: &WorkerConfig) -> Result<Self, QueueError> {
        match &store.redis_url {
            Some(url) => Ok(Queue::Redis(
                RedisQueue::connect(url.expose_secret(), store, worker).await?,
            )),
            None => Ok(Queue::Sqlite(
                SqliteQueue::connect(store.database_url.expose_secret(), worker).await?,
            )),
        }
    }

    /// The queue's Redis connection (production), for other Redis users to share.
    pub fn redis(&self) -> Option<::redis::aio::ConnectionManager> {
        match self {
            Queue::Redis(q) => Some(q.connection()),
            Queue::Sqlite(_) => None,
        }
    }

    /// A new task id, for a push whose id is recorded before the push.
    pub fn task_id() -> TaskId {
        TaskId::from(ulid::Ulid::generate())
    }

    /// Queues `job` to run now; returns the task's id.
    pub async fn push<J: Job>(&self, job: J) -> Result<TaskId, QueueError> {
        let id = Self::task_id();
        self.push_as(job, id.clone(), None).await.map(|()| id)
    }

    /// Queues `job` to run at `at` (to the second; apalis rounds down); returns the task's id.
    pub async fn push_at<J: Job>(
        &self,
        job: J,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<TaskId, QueueError> {
        let id = Self::task_id();
        self.push_as(job, id.clone(), Some(at)).await.map(|()| id)
    }

    /// Queues `job` as task `id`, now or at `at`.
    pub async fn push_as<J: Job>(
        &self,
        job: J,
        id: TaskId,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), QueueError> {
        let builder = TaskBuilder::new(job).task_id(id);
        let task = match at {
            Some(at) => builder.run_at_time(at.into()).build(),
            None => builder.build(),
        };
        self.send(task).await
    }

    /// Whether task `id` of job kind `J` is still to run or running: neither finished,
    /// killed nor gone.
    pub async fn is_live<J: Job>(&self, id: &str) -> Result<bool, QueueError> {
        let id = TaskId::from_str(id).map_err(|e| QueueError::Push {
            queue: J::QUEUE,
            message: format!("task id `{id}`: {e}"),
        })?;
        let status = match self {
            Queue::Redis(q) => q.status::<J>(&id).await?,
            Queue::Sqlite(q) => q.status(&id).await?,
        };
        Ok(matches!(
            status,
            Some(Status::Pending | Status::Queued | Status::Running)
        ))
    }

    async fn send<J: Job>(&self, task: apalis::prelude::Task<J>) -> Result<(), QueueError> {
        let pushed = match self {
            Queue::Redis(q) => q.push_task(task).await,
            Queue::Sqlite(q) => q.push_task(task).await,
        };
        pushed.map_err(|message| QueueError::Push {
            queue: J::QUEUE,
            message,
        })
    }

    /// The backlog of each of `queues`, in that order.
    pub async fn depths(&self, queues: &[&'static str]) -> Result<Vec<QueueDepth>, QueueError> {
        match self {
            Queue::Redis(q) => q.depths(queues).await,
            Queue::Sqlite(q) => q.depths(queues).await,
        }
    }

    /// The workers registered with `queues`, by queue then name.
    pub async fn workers(&self, queues: &[&'static str]) -> Result<Vec<WorkerBeat>, QueueError> {
        match self {
            Queue::Redis(q) => q.workers(queues).await,
            Queue::Sqlite(q) => q.workers(queues).await,
        }
    }

    /// Removes finished and dead tasks older than `max_age` from `queues`; returns how many.
    pub async fn vacuum(&self, queues: &[&str], max_age: Duration) -> Result<u64, QueueError> {
        match self {
            Queue::Redis(q) => q.vacuum(queues, max_age).await,
            Queue::Sqlite(q) => q.vacuum(max_age).await,
        }
    }
}

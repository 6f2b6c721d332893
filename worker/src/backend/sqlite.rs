//! Embedded queue: apalis-sqlite, in the same file as the platform's data.

use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::{FetchById, Status, Task, TaskId, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_sqlite::SqliteStorage;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{Job, QueueError};
use crate::config::WorkerConfig;

/// The SQLite side of the queue.
#[derive(Clone)]
pub struct SqliteQueue {
    pool: SqlitePool,
    worker: WorkerConfig,
}

impl SqliteQueue {
    /// Opens the queue's own pool on the database file and applies apalis's schema.
    pub async fn connect(database_url: &str, worker: &WorkerConfig) -> Result<Self, QueueError> {
        let options = SqliteConnectOptions::from_str(database_url)
            .map_err(apalis_sqlite::Error::from)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(apalis_sqlite::Error::from)?;
        SqliteStorage::setup(&pool).await?;
        Ok(Self {
            pool,
            worker: worker.clone(),
        })
    }

    /// The apalis storage of job kind `J`, configured from the worker settings.
    pub fn storage<J: Job>(&self) -> SqliteStorage<J> {
        let w = &self.worker;
        SqliteStorage::new(&self.pool).with_config(
            apalis_sqlite::Config::default()
                .queue(J::QUEUE)
                .batch_size(J::concurrency(w))
                .heartbeat_interval(w.worker_heartbeat_interval)
                .missed_heartbeats(w.worker_missed_heartbeats as usize),
        )
    }

    pub(super) async fn push_task<J: Job>(&self, task: Task<J>) -> Result<(), String> {
        self.storage::<J>()
            .push_task(task)
            .await
            .map_err(|e| e.to_string())
    }

    /// One table holds every queue, so the id alone finds the task.
    pub(super) async fn status(&self, id: &TaskId) -> Result<Option<Status>, QueueError> {
        let task = SqliteStorage::<serde_json::Value>::new(&self.pool)
            .fetch_by_id(id)
            .await?;
        Ok(task.map(|t| t.status()))
    }

    /// One table holds every queue, so one statement vacuums them all.
    pub(super) async fn vacuum(&self, max_age: Duration) -> Result<u64, QueueError> {
        let removed = SqliteStorage::<serde_json::Value>::new(&self.pool)
            .vacuum_before(max_age)
            .await?;
        Ok(removed as u64)
    }
}

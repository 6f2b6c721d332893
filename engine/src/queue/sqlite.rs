//! Embedded queue: apalis-sqlite, in the same file as the platform's data.

use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::{FetchById, Status, Task, TaskId, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_sqlite::SqliteStorage;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{Job, QueueDepth, QueueError, WorkerBeat};
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

    /// The storages of job kind `J` the workers fetch from, each with how many of its jobs
    /// a worker runs at once: the one storage (SQLite has no shards).
    pub fn storages<J: Job>(&self) -> Vec<(SqliteStorage<J>, usize)> {
        vec![(self.storage::<J>(), J::concurrency(&self.worker))]
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

    /// One statement over apalis's `Jobs` table for every queue.
    pub(super) async fn depths(
        &self,
        queues: &[&'static str],
    ) -> Result<Vec<QueueDepth>, QueueError> {
        let now = chrono::Utc::now().timestamp();
        let rows: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT job_type, \
                    COALESCE(SUM(status = 'Pending' AND run_at <= ?1), 0), \
                    COALESCE(SUM(status = 'Pending' AND run_at > ?1), 0), \
                    COALESCE(SUM(status IN ('Queued', 'Running')), 0), \
                    MIN(CASE WHEN status = 'Pending' AND run_at <= ?1 THEN run_at END) \
             FROM Jobs WHERE status IN ('Pending', 'Queued', 'Running') GROUP BY job_type",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(apalis_sqlite::Error::from)?;
        Ok(queues
            .iter()
            .map(|&name| {
                let row = rows.iter().find(|r| r.0 == name);
                QueueDepth {
                    name,
                    ready: row.map_or(0, |r| r.1.max(0) as u64),
                    scheduled: row.map_or(0, |r| r.2.max(0) as u64),
                    running: row.map_or(0, |r| r.3.max(0) as u64),
                    oldest_ready: row
                        .and_then(|r| r.4)
                        .and_then(|at| chrono::DateTime::from_timestamp(at, 0)),
                }
            })
            .collect())
    }

    /// apalis's `Workers` table, for `queues`.
    pub(super) async fn workers(
        &self,
        queues: &[&'static str],
    ) -> Result<Vec<WorkerBeat>, QueueError> {
        let now = chrono::Utc::now();
        let w = &self.worker;
        let orphaned =
            chrono::Duration::from_std(w.worker_heartbeat_interval * w.worker_missed_heartbeats)
                .unwrap_or(chrono::Duration::MAX);
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, worker_type, last_seen FROM Workers ORDER BY worker_type, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(apalis_sqlite::Error::from)?;
        Ok(rows
            .into_iter()
            .filter(|(_, queue, _)| queues.contains(&queue.as_str()))
            .filter_map(|(name, queue, at)| {
                let last_seen = chrono::DateTime::from_timestamp(at, 0)?;
                Some(WorkerBeat {
                    name,
                    queue,
                    last_seen,
                    alive: now - last_seen < orphaned,
                })
            })
            .collect())
    }
}

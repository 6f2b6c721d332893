//! Production queue: apalis-redis, one queue per job kind under the deployment's prefix.

use std::time::Duration;

use apalis::prelude::{FetchById, Status, Task, TaskId, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Job, QueueError};
use crate::config::{StoreConfig, WorkerConfig};

/// Removes done/dead set members whose task data is gone. apalis's own vacuum deletes the
/// data and meta of old tasks but leaves their ids in these sets, which then grow forever.
const PRUNE_TERMINAL_SETS: &str = r#"
local removed = 0
for i = 2, #KEYS do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if redis.call('HEXISTS', KEYS[1], id) == 0 then
      redis.call('SREM', KEYS[i], id)
      removed = removed + 1
    end
  end
end
return removed
"#;

/// The Redis side of the queue.
#[derive(Clone)]
pub struct RedisQueue {
    conn: ConnectionManager,
    prefix: String,
    worker: WorkerConfig,
}

/// Opens a Redis connection manager whose commands fail after `timeout` instead of
/// redis-rs's 500 ms default, and which connects lazily so a process can start while
/// Redis is still down.
pub fn connection(url: &str, timeout: Duration) -> Result<ConnectionManager, redis::RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)
}

impl RedisQueue {
    /// Connects to Redis for the queue.
    pub async fn connect(
        url: &str,
        store: &StoreConfig,
        worker: &WorkerConfig,
    ) -> Result<Self, QueueError> {
        Ok(Self {
            conn: connection(url, store.redis_timeout)?,
            prefix: store.redis_prefix.clone(),
            worker: worker.clone(),
        })
    }

    /// The queue's Redis connection, for other Redis users of the process to share.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The full name of a queue: prefix, then the job kind's queue.
    fn queue_name(&self, queue: &str) -> String {
        format!("{}:{queue}", self.prefix)
    }

    /// The apalis storage of job kind `J`, configured from the worker settings.
    pub fn storage<J: Job>(&self) -> RedisStorage<J> {
        self.storage_named(J::QUEUE, J::concurrency(&self.worker))
    }

    fn storage_named<J>(&self, queue: &str, batch: usize) -> RedisStorage<J> {
        let w = &self.worker;
        RedisStorage::new(self.conn.clone()).with_config(
            apalis_redis::Config::default()
                .queue(self.queue_name(queue))
                // Prefetch no more than can run: prefetched tasks are stuck behind running
                // ones during a graceful shutdown.
                .batch_size(batch)
                .heartbeat_interval(w.worker_heartbeat_interval)
                .missed_heartbeats(w.worker_missed_heartbeats as usize)
                .idempotency_ttl(Some(Duration::from_secs(24 * 3600))),
        )
    }

    pub(super) async fn push_task<J: Job>(&self, task: Task<J>) -> Result<(), String> {
        self.storage::<J>()
            .push_task(task)
            .await
            .map_err(|e| e.to_string())
    }

    pub(super) async fn status<J: Job>(&self, id: &TaskId) -> Result<Option<Status>, QueueError> {
        let task = self
            .storage::<J>()
            .fetch_by_id(id)
            .await
            .map_err(|e| QueueError::Push {
                queue: J::QUEUE,
                message: e.to_string(),
            })?;
        Ok(task.map(|t| t.status()))
    }

    pub(super) async fn vacuum(
        &self,
        queues: &[&str],
        max_age: Duration,
    ) -> Result<u64, QueueError> {
        let mut removed = 0;
        for queue in queues {
            let mut storage = self.storage_named::<serde_json::Value>(queue, 1);
            removed += storage
                .vacuum_before(max_age)
                .await
                .map_err(|e| QueueError::Push {
                    queue: "vacuum",
                    message: e.to_string(),
                })? as u64;
            let config = storage.get_config();
            let _: u64 = redis::Script::new(PRUNE_TERMINAL_SETS)
                .key(config.job_data_hash())
                .key(config.done_jobs_set())
                .key(config.dead_jobs_set())
                .invoke_async(&mut self.conn.clone())
                .await?;
        }
        Ok(removed)
    }
}

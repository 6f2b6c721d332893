//! Production queue: apalis-redis, one queue per job kind under the deployment's prefix.

use std::time::Duration;

use apalis::prelude::{FetchById, Status, Task, TaskId, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion};

use super::promote::backlog_key;
use super::{Job, QueueDepth, QueueError, WorkerBeat};
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

/// One queue read in one round trip: the ready list's length and head, the schedule's
/// due and later counts and its first entry, the backlog's size and first entry, the
/// registered workers.
type QueueSnapshot = (
    u64,
    Option<String>,
    u64,
    u64,
    Vec<(String, f64)>,
    u64,
    Vec<(String, f64)>,
    Vec<String>,
);

/// The Redis side of the queue.
#[derive(Clone)]
pub struct RedisQueue {
    pub(super) conn: ConnectionManager,
    prefix: String,
    worker: WorkerConfig,
}

/// Opens a Redis connection manager whose commands fail after `timeout` instead of
/// redis-rs's 500 ms default, and which connects lazily so a process can start while
/// Redis is still down. It speaks RESP3, with which the manager hears its connection close
/// (a Redis restart) and reconnects at once: over RESP2 it learns only when a command fails
/// on the dead connection, and that command is a request's.
pub fn connection(url: &str, timeout: Duration) -> Result<ConnectionManager, redis::RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))?;
    ConnectionManager::new_lazy_with_config(client, config)
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
                .idempotency_ttl(Some(Duration::from_secs(24 * 3600)))
                // A fetch already moves a task into the worker's in-flight set, which is
                // what orphan recovery reads. The lock after it only adds a "Running"
                // status, and its script removes each task from the ready list with an
                // LREM that scans the whole list: with a backlog of 10,000 ready, 58 µs of
                // Redis per job, growing with the backlog.
                .lock_tasks(false)
                // Nothing subscribes: workers wake on their poll interval.
                .emit_events(false),
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

    /// The apalis configuration of `queue` (its key names), without a storage to run.
    pub(super) fn queue_config(&self, queue: &str) -> apalis_redis::Config {
        self.storage_named::<serde_json::Value>(queue, 1)
            .get_config()
            .clone()
    }

    /// Per queue: the ready list, the due and later parts of the schedule, the held jobs
    /// of each registered worker, and the oldest job due.
    pub(super) async fn depths(
        &self,
        queues: &[&'static str],
    ) -> Result<Vec<QueueDepth>, QueueError> {
        let now = chrono::Utc::now();
        let mut conn = self.conn.clone();
        let mut depths = Vec::with_capacity(queues.len());
        for &name in queues {
            let config = self.queue_config(name);
            let (listed, head, due, later, first, backlog, oldest, workers): QueueSnapshot =
                redis::pipe()
                    .llen(config.active_jobs_list())
                    .lindex(config.active_jobs_list(), 0)
                    .zcount(config.scheduled_jobs_set(), "-inf", now.timestamp())
                    .zcount(
                        config.scheduled_jobs_set(),
                        format!("({}", now.timestamp()),
                        "+inf",
                    )
                    .zrange_withscores(config.scheduled_jobs_set(), 0, 0)
                    .zcount(backlog_key(&config), "-inf", now.timestamp())
                    .zrange_withscores(backlog_key(&config), 0, 0)
                    .zrange(config.workers_set(), 0, -1)
                    .query_async(&mut conn)
                    .await?;
            let mut running = 0;
            if !workers.is_empty() {
                let mut pipe = redis::pipe();
                for worker in &workers {
                    pipe.scard(format!("{}:{worker}", config.inflight_jobs_set()));
                }
                let held: Vec<u64> = pipe.query_async(&mut conn).await?;
                running = held.iter().sum();
            }
            // Ready-list ids are ULIDs whose time is when the job became due (`task_id_due`).
            let listed_since = head
                .and_then(|id| ulid::Ulid::from_string(&id).ok())
                .map(|id| chrono::DateTime::<chrono::Utc>::from(id.datetime()));
            let due_since = first
                .first()
                .map(|(_, at)| *at as i64)
                .filter(|at| *at <= now.timestamp())
                .and_then(|at| chrono::DateTime::from_timestamp(at, 0));
            // The backlog's due tasks wait for room in the ready list (the rest is due within
            // `LOOKAHEAD_SECONDS`).
            let backlog_since = oldest
                .first()
                .map(|(_, at)| *at as i64)
                .filter(|at| *at <= now.timestamp())
                .and_then(|at| chrono::DateTime::from_timestamp(at, 0));
            depths.push(QueueDepth {
                name,
                ready: listed + due + backlog,
                scheduled: later,
                running,
                oldest_ready: [listed_since, due_since, backlog_since]
                    .into_iter()
                    .flatten()
                    .min(),
            });
        }
        Ok(depths)
    }

    /// The workers of each queue's registry, with their last heartbeat.
    pub(super) async fn workers(
        &self,
        queues: &[&'static str],
    ) -> Result<Vec<WorkerBeat>, QueueError> {
        let now = chrono::Utc::now();
        let mut conn = self.conn.clone();
        let mut beats = Vec::new();
        for &name in queues {
            let config = self.queue_config(name);
            let orphaned = chrono::Duration::from_std(config.orphaned_duration())
                .unwrap_or(chrono::Duration::MAX);
            let seen: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(config.workers_set())
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await?;
            for (worker, at) in seen {
                let Some(last_seen) = chrono::DateTime::from_timestamp(at as i64, 0) else {
                    continue;
                };
                beats.push(WorkerBeat {
                    name: worker,
                    queue: name.to_owned(),
                    last_seen,
                    alive: now - last_seen < orphaned,
                });
            }
        }
        Ok(beats)
    }
}

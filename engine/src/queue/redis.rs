//! Production queue: apalis-redis, one queue per job kind under the deployment's prefix.

use std::time::Duration;

use apalis::prelude::{FetchById, Status, Task, TaskId, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;

use super::connection::{self, RedisConnection};

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
    pub(super) conn: RedisConnection,
    prefix: String,
    shards: u16,
    worker: WorkerConfig,
}

/// Opens a connection to the Redis server at `url`, or to the cluster a
/// `redis+cluster://` URL names (`connection::connect`).
pub fn connection(url: &str, timeout: Duration) -> Result<RedisConnection, redis::RedisError> {
    connection::connect(url, timeout, false)
}

impl RedisQueue {
    /// Connects to Redis for the queue.
    pub async fn connect(
        url: &str,
        store: &StoreConfig,
        worker: &WorkerConfig,
    ) -> Result<Self, QueueError> {
        Ok(Self {
            conn: connection::connect(url, store.redis_timeout, store.redis_cluster)?,
            prefix: store.redis_prefix.clone(),
            shards: store.queue_shards.max(1),
            worker: worker.clone(),
        })
    }

    /// The queue's Redis connection, for other Redis users of the process to share.
    pub fn connection(&self) -> RedisConnection {
        self.conn.clone()
    }

    /// The full name of shard `shard` of `queue`: prefix, queue and (past the first) shard
    /// in one hash tag, so that every key apalis derives from it lies in one cluster
    /// slot and each shard in a slot of its own.
    fn shard_name(&self, queue: &str, shard: u16) -> String {
        // Shard 0 keeps the unsharded name, so going from one shard to more (or back)
        // leaves what waits there in place.
        if shard == 0 {
            format!("{{{}:{queue}}}", self.prefix)
        } else {
            format!("{{{}:{queue}:{shard}}}", self.prefix)
        }
    }

    /// The shard a job goes to: a hash of what it is for (`Job::shard_key`), else of its
    /// task's id.
    fn shard_for<J: Job>(&self, task: &Task<J>) -> u16 {
        if self.shards == 1 {
            return 0;
        }
        let key = match task.args.shard_key() {
            Some(key) => key.to_owned(),
            None => task.task_id().map(ToString::to_string).unwrap_or_default(),
        };
        (fnv1a(key.as_bytes()) % u64::from(self.shards)) as u16
    }

    /// The apalis storages of job kind `J`, one per shard, configured from the worker
    /// settings, each with how many of its jobs one worker process runs at once: `J`'s
    /// concurrency split between the shards (at least one each, so with more shards than
    /// that concurrency a process runs one job per shard).
    pub fn storages<J: Job>(&self) -> Vec<(RedisStorage<J, RedisConnection>, usize)> {
        let total = J::concurrency(&self.worker);
        let shards = usize::from(self.shards);
        (0..self.shards)
            .map(|shard| {
                let share = total / shards + usize::from(usize::from(shard) < total % shards);
                let share = share.max(1);
                let name = self.shard_name(J::QUEUE, shard);
                (self.storage_named(&name, share), share)
            })
            .collect()
    }

    fn storage_named<J>(&self, name: &str, batch: usize) -> RedisStorage<J, RedisConnection> {
        let w = &self.worker;
        RedisStorage::new(self.conn.clone()).with_config(
            apalis_redis::Config::default()
                .queue(name)
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
        let name = self.shard_name(J::QUEUE, self.shard_for(&task));
        self.storage_named::<J>(&name, 1)
            .push_task(task)
            .await
            .map_err(|e| e.to_string())
    }

    pub(super) async fn status<J: Job>(&self, id: &TaskId) -> Result<Option<Status>, QueueError> {
        // The id alone does not say which shard holds it: ask every one at once.
        let asked = self.storages::<J>().into_iter().map(|(mut storage, _)| {
            let id = id.clone();
            async move { storage.fetch_by_id(&id).await }
        });
        let found = futures::future::try_join_all(asked)
            .await
            .map_err(|e| QueueError::Push {
                queue: J::QUEUE,
                message: e.to_string(),
            })?;
        Ok(found.into_iter().flatten().next().map(|task| task.status()))
    }

    pub(super) async fn vacuum(
        &self,
        queues: &[&str],
        max_age: Duration,
    ) -> Result<u64, QueueError> {
        let mut removed = 0;
        for config in self.shard_configs(queues) {
            let mut storage = self.storage_named::<serde_json::Value>(config.queue.as_ref(), 1);
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

    /// The apalis configuration (the key names) of every shard of every one of `queues`,
    /// queue by queue, without a storage to run.
    pub(super) fn shard_configs(&self, queues: &[&str]) -> Vec<apalis_redis::Config> {
        queues
            .iter()
            .flat_map(|queue| (0..self.shards).map(move |shard| self.shard_name(queue, shard)))
            .map(|name| {
                self.storage_named::<serde_json::Value>(&name, 1)
                    .get_config()
                    .clone()
            })
            .collect()
    }

    /// Per queue, over its shards: the ready list, the due and later parts of the
    /// schedule, the held jobs of each registered worker, and the oldest job due.
    pub(super) async fn depths(
        &self,
        queues: &[&'static str],
    ) -> Result<Vec<QueueDepth>, QueueError> {
        let mut depths = Vec::with_capacity(queues.len());
        for &name in queues {
            let mut depth = QueueDepth {
                name,
                ready: 0,
                scheduled: 0,
                running: 0,
                oldest_ready: None,
            };
            for config in self.shard_configs(&[name]) {
                let shard = self.shard_depth(name, &config).await?;
                depth.ready += shard.ready;
                depth.scheduled += shard.scheduled;
                depth.running += shard.running;
                depth.oldest_ready = [depth.oldest_ready, shard.oldest_ready]
                    .into_iter()
                    .flatten()
                    .min();
            }
            depths.push(depth);
        }
        Ok(depths)
    }

    /// One shard's depth, read in one round trip (all its keys share a slot) and one more
    /// for its workers' held jobs.
    async fn shard_depth(
        &self,
        name: &'static str,
        config: &apalis_redis::Config,
    ) -> Result<QueueDepth, QueueError> {
        let now = chrono::Utc::now();
        let mut conn = self.conn.clone();
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
                .zcount(backlog_key(config), "-inf", now.timestamp())
                .zrange_withscores(backlog_key(config), 0, 0)
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
        Ok(QueueDepth {
            name,
            ready: listed + due + backlog,
            scheduled: later,
            running,
            oldest_ready: [listed_since, due_since, backlog_since]
                .into_iter()
                .flatten()
                .min(),
        })
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
            for config in self.shard_configs(&[name]) {
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
        }
        Ok(beats)
    }
}

/// FNV-1a: a hash that every process computes alike, to pick a job's shard.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

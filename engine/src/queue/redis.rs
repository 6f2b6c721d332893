//! Production queue: apalis-redis, one queue per job kind under the deployment's prefix.

use std::sync::LazyLock;
use std::time::Duration;

use apalis::prelude::{FetchById, Status, Task, TaskId, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

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

/// Most due tasks moved from a queue's schedule to its ready list by one script call. Lua's
/// `unpack` fails above ~8,000 values, and apalis-redis's fetch script unpacks every due id
/// of the schedule at once: this keeps each move far below that.
pub const PROMOTE_CHUNK: usize = 1000;

/// Most chunks one promotion pass moves per queue, so a pass over a huge backlog yields to
/// the next queue (and to the next pass) instead of holding Redis.
const PROMOTE_ROUNDS: usize = 50;

/// The most tasks a queue's ready list holds; what else is due waits in the queue's backlog
/// (a sorted set of our own, by due time), from which the ready list is refilled as it
/// drains, half from what just fell due. A fresh job thus waits behind at most this many, not behind a
/// whole outage's backlog.
pub const READY_HIGH_WATER: usize = 1000;

/// Seconds within which a due task counts as fresh: refills take the fresh half first.
const FRESH_SECONDS: i64 = 2;

/// Seconds ahead of now that tasks leave the schedule for the backlog: apalis-redis's fetch
/// promotes every due task of the schedule to the ready list itself, so what becomes due
/// (an outage's collections, all at the probe time) must already be in the backlog then.
const LOOKAHEAD_SECONDS: i64 = 2;

/// For one queue: moves up to `ARGV[2]` tasks due by `ARGV[5]` (unix seconds, as apalis
/// scores them; `ARGV[1]` is now) out of the schedule (`KEYS[1]`): those due now straight
/// to the ready list (`KEYS[2]`) while it has room below `ARGV[3]` and no due task waits in
/// the backlog (`KEYS[4]`), the others into the backlog; then refills the ready list's room
/// from the backlog's due tasks, half from those due since `ARGV[4]` (in due order), the
/// rest oldest first; signals (`KEYS[3]`) as apalis's own fetch does. Returns {taken from
/// the schedule, pushed to the ready list}.
static PROMOTE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local now = tonumber(ARGV[1])
local room = tonumber(ARGV[3]) - redis.call('LLEN', KEYS[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[5], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local taken = #due / 2
local pushed = 0
if taken > 0 then
  local ids = {}
  for i = 1, #due, 2 do ids[#ids + 1] = due[i] end
  redis.call('ZREM', KEYS[1], unpack(ids))
  local direct = room > 0 and redis.call('ZCOUNT', KEYS[4], 0, now) == 0
  local ready = {}
  local later = {}
  for i = 1, #due, 2 do
    if direct and #ready < room and tonumber(due[i + 1]) <= now then
      ready[#ready + 1] = due[i]
    else
      later[#later + 1] = due[i + 1]
      later[#later + 1] = due[i]
    end
  end
  if #ready > 0 then
    redis.call('RPUSH', KEYS[2], unpack(ready))
    pushed = #ready
    room = room - #ready
  end
  if #later > 0 then
    redis.call('ZADD', KEYS[4], unpack(later))
  end
end
if room > 0 and redis.call('ZCOUNT', KEYS[4], 0, now) > 0 then
  local fresh = redis.call('ZRANGEBYSCORE', KEYS[4], ARGV[4], ARGV[1], 'LIMIT', 0, math.ceil(room / 2))
  if #fresh > 0 then
    redis.call('RPUSH', KEYS[2], unpack(fresh))
    redis.call('ZREM', KEYS[4], unpack(fresh))
    pushed = pushed + #fresh
    room = room - #fresh
  end
  if room > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[4], 0, ARGV[1], 'LIMIT', 0, room)
    if #oldest > 0 then
      redis.call('RPUSH', KEYS[2], unpack(oldest))
      redis.call('ZREM', KEYS[4], unpack(oldest))
      pushed = pushed + #oldest
    end
  end
end
if pushed > 0 then
  redis.call('DEL', KEYS[3])
  redis.call('LPUSH', KEYS[3], 1)
end
return {taken, pushed}
"#,
    )
});

/// The key of `queue`'s backlog: due tasks waiting for room in its ready list.
fn backlog_key(config: &apalis_redis::Config) -> String {
    format!("{}:backlog", config.scheduled_jobs_set())
}

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

    /// Moves the due tasks of `queues` to their ready lists in chunks of `PROMOTE_CHUNK`;
    /// returns how many moved. apalis-redis's fetch script promotes every due task in one
    /// `unpack`, which fails once a backlog (an outage's waiting collections, all due at
    /// the probe time) passes ~8,000, and then no task of that queue is fetched again.
    /// Every worker process runs this often enough that the fetch finds few due ones.
    pub async fn promote_due(&self, queues: &[&str]) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let mut pending: Vec<apalis_redis::Config> =
            queues.iter().map(|q| self.queue_config(q)).collect();
        let mut moved = 0;
        // One round trip per round for every queue; only queues that filled a chunk go on.
        for _ in 0..PROMOTE_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let now = chrono::Utc::now().timestamp();
            let invocations: Vec<_> = pending
                .iter()
                .map(|config| {
                    let mut invocation = PROMOTE_SCRIPT.prepare_invoke();
                    invocation
                        .key(config.scheduled_jobs_set())
                        .key(config.active_jobs_list())
                        .key(config.signal_list())
                        .key(backlog_key(config))
                        .arg(now)
                        .arg(PROMOTE_CHUNK)
                        .arg(READY_HIGH_WATER)
                        .arg(now - FRESH_SECONDS)
                        .arg(now + LOOKAHEAD_SECONDS);
                    invocation
                })
                .collect();
            // Pipelined scripts run by hash: load it first, so a restarted Redis has it.
            let mut pipe = redis::pipe();
            pipe.load_script(&PROMOTE_SCRIPT).ignore();
            for invocation in &invocations {
                pipe.invoke_script(invocation);
            }
            let counts: Vec<(u64, u64)> = pipe.query_async(&mut conn).await?;
            moved += counts.iter().map(|(_, pushed)| pushed).sum::<u64>();
            let mut counts = counts.into_iter();
            // A full chunk taken from the schedule: more may be due there.
            pending.retain(|_| {
                counts
                    .next()
                    .is_some_and(|(taken, _)| taken as usize >= PROMOTE_CHUNK)
            });
        }
        Ok(moved)
    }

    /// The apalis configuration of `queue` (its key names), without a storage to run.
    fn queue_config(&self, queue: &str) -> apalis_redis::Config {
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

//! Moving due tasks from a queue's schedule to its ready list ourselves, in bounded chunks
//! and with a bounded ready list: apalis-redis's own fetch would move every due task at
//! once (and fails above ~8,000), and a fresh task would wait behind a whole backlog.

use std::sync::LazyLock;

use super::QueueError;
use super::redis::RedisQueue;

/// Most due tasks moved from a queue's schedule to its ready list by one script call. Lua's
/// `unpack` fails above ~8,000 values, and apalis-redis's fetch script unpacks every due id
/// of the schedule at once: this keeps each move far below that.
pub const PROMOTE_CHUNK: usize = 1000;

/// Most chunks one promotion pass moves per queue, so a pass over a huge backlog yields to
/// the next queue (and to the next pass) instead of holding Redis.
const PROMOTE_ROUNDS: usize = 50;

/// The most tasks a queue's ready list holds; what else is due waits in the queue's backlog
/// (a sorted set of our own, by due time), from which the ready list is refilled as it
/// drains, half latest due first. A fresh job thus waits behind at most this many, not
/// behind a whole outage's backlog, however long it has itself waited for room.
pub const READY_HIGH_WATER: usize = 1000;

/// Seconds ahead of now that tasks leave the schedule for the backlog: apalis-redis's fetch
/// promotes every due task of the schedule to the ready list itself, so what becomes due
/// (an outage's collections, all at the probe time) must already be in the backlog then.
const LOOKAHEAD_SECONDS: i64 = 2;

/// For one queue: moves up to `ARGV[2]` tasks due by `ARGV[4]` (unix seconds, as apalis
/// scores them; `ARGV[1]` is now) out of the schedule (`KEYS[1]`): those due now straight
/// to the ready list (`KEYS[2]`) while it has room below `ARGV[3]` and no due task waits in
/// the backlog (`KEYS[4]`), the others into the backlog; then refills the ready list's room
/// from the backlog's due tasks, half earliest due first (among tasks due in one second,
/// in id order: `Queue::task_id_waiting`), then the rest latest due first;
/// signals (`KEYS[3]`) as apalis's own fetch does. Returns {taken from the schedule,
/// pushed to the ready list}.
static PROMOTE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local now = tonumber(ARGV[1])
local room = tonumber(ARGV[3]) - redis.call('LLEN', KEYS[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[4], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
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
  local earliest = redis.call('ZRANGEBYSCORE', KEYS[4], 0, ARGV[1], 'LIMIT', 0, math.ceil(room / 2))
  if #earliest > 0 then
    redis.call('RPUSH', KEYS[2], unpack(earliest))
    redis.call('ZREM', KEYS[4], unpack(earliest))
    pushed = pushed + #earliest
    room = room - #earliest
  end
  if room > 0 then
    local latest = redis.call('ZREVRANGEBYSCORE', KEYS[4], ARGV[1], 0, 'LIMIT', 0, room)
    if #latest > 0 then
      redis.call('RPUSH', KEYS[2], unpack(latest))
      redis.call('ZREM', KEYS[4], unpack(latest))
      pushed = pushed + #latest
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
pub(super) fn backlog_key(config: &apalis_redis::Config) -> String {
    format!("{}:backlog", config.scheduled_jobs_set())
}

impl RedisQueue {
    /// Moves the due tasks of `queues` to their ready lists in chunks of `PROMOTE_CHUNK`;
    /// returns how many moved. apalis-redis's fetch script promotes every due task in one
    /// `unpack`, which fails once a backlog (an outage's waiting collections, all due at
    /// the probe time) passes ~8,000, and then no task of that queue is fetched again.
    /// Every worker process runs this often enough that the fetch finds few due ones.
    pub async fn promote_due(&self, queues: &[&str]) -> Result<u64, QueueError> {
        let mut pending = self.shard_configs(queues);
        let mut moved = 0;
        // One round trip per round for every shard, all at once (on a cluster each shard
        // is a slot of its own, so they cannot share a pipeline); only shards that filled
        // a chunk go on.
        for _ in 0..PROMOTE_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let now = chrono::Utc::now().timestamp();
            let counts = futures::future::try_join_all(
                pending.iter().map(|config| self.promote_shard(config, now)),
            )
            .await?;
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

    /// One chunk of one shard; returns {taken from the schedule, pushed to the ready list}.
    async fn promote_shard(
        &self,
        config: &apalis_redis::Config,
        now: i64,
    ) -> Result<(u64, u64), QueueError> {
        let mut invocation = PROMOTE_SCRIPT.prepare_invoke();
        invocation
            .key(config.scheduled_jobs_set())
            .key(config.active_jobs_list())
            .key(config.signal_list())
            .key(backlog_key(config))
            .arg(now)
            .arg(PROMOTE_CHUNK)
            .arg(READY_HIGH_WATER)
            .arg(now + LOOKAHEAD_SECONDS);
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }
}

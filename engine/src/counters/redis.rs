//! The production buffer: `HINCRBY` into one Redis hash, renamed aside as a snapshot at
//! each flush and cut into batches of at most `BATCH_KEYS` keys, so that no flush reads more
//! than that at once however many keys are pending.

use std::sync::Arc;

use crate::queue::RedisConnection;
use chrono::{DateTime, Utc};

use super::{BATCH_KEYS, Batch, BufferError, Buffered, MOVE_KEYS};

/// Returns the batch in flight (marked leftover), or else makes a new batch ARGV[1] of the
/// snapshot: all of what is left of it when that is at most ARGV[5] fields, else ARGV[3] of
/// them (moved one by one, which holds Redis for as long). When there is no snapshot and ARGV[4] is `1`, the
/// pending hash is first renamed into a new snapshot, and `synced_at` records when
/// (ARGV[2]): every increment buffered before then is in a snapshot, so the oldest pending
/// one is younger than that; the snapshot and its batches keep the previous `synced_at` as
/// their own bound. What is left of the snapshot becomes the batch by a rename when it fits;
/// otherwise fields are moved with `HSCAN` and removed from the snapshot as they go, so none
/// is moved twice; at most 500 at a time, within Lua's stack.
const TAKE_BATCH: &str = r#"
local id = redis.call('HGET', KEYS[6], 'id')
if id then
  return {id, redis.call('HGET', KEYS[6], 'since') or '', 1, 0}
end
local started = 0
local limit = tonumber(ARGV[3])
for round = 1, 2 do
  if redis.call('EXISTS', KEYS[4]) == 0 then
    if ARGV[4] ~= '1' or started == 1 then
      return false
    end
    local previous = redis.call('GET', KEYS[2]) or ''
    redis.call('SET', KEYS[2], ARGV[2])
    if redis.call('EXISTS', KEYS[1]) == 0 then
      return false
    end
    redis.call('RENAME', KEYS[1], KEYS[3])
    redis.call('HSET', KEYS[4], 'since', previous, 'cursor', '0')
    started = 1
  end
  local since = redis.call('HGET', KEYS[4], 'since') or ''
  -- What is left of the snapshot fits in one batch: it becomes the batch as it is.
  local left = redis.call('HLEN', KEYS[3])
  if left > 0 and left <= tonumber(ARGV[5]) and redis.call('EXISTS', KEYS[5]) == 0 then
    redis.call('RENAME', KEYS[3], KEYS[5])
    redis.call('DEL', KEYS[4])
    redis.call('HSET', KEYS[6], 'id', ARGV[1], 'since', since)
    return {ARGV[1], since, 0, started}
  end
  local cursor = redis.call('HGET', KEYS[4], 'cursor') or '0'
  local moved = 0
  repeat
    local page = redis.call('HSCAN', KEYS[3], cursor, 'COUNT', 500)
    cursor = page[1]
    local fields = page[2]
    for i = 1, #fields, 1000 do
      local kv, names = {}, {}
      for j = i, math.min(i + 998, #fields - 1), 2 do
        kv[#kv + 1] = fields[j]
        kv[#kv + 1] = fields[j + 1]
        names[#names + 1] = fields[j]
      end
      redis.call('HSET', KEYS[5], unpack(kv))
      redis.call('HDEL', KEYS[3], unpack(names))
      moved = moved + #names
    end
  until cursor == '0' or moved >= limit
  if cursor == '0' then
    redis.call('DEL', KEYS[3], KEYS[4])
  else
    redis.call('HSET', KEYS[4], 'cursor', cursor)
  end
  if moved > 0 then
    redis.call('HSET', KEYS[6], 'id', ARGV[1], 'since', since)
    return {ARGV[1], since, 0, started}
  end
end
return false
"#;

/// How many of a batch's fields one read asks for.
const READ_CHUNK: usize = 5_000;

/// Removes the batch, only if it is still the one named.
const FINISH_BATCH: &str = r#"
if redis.call('HGET', KEYS[2], 'id') == ARGV[1] then
  redis.call('UNLINK', KEYS[1], KEYS[2])
end
return 0
"#;

/// The Redis keys of the buffer, written out once.
struct Keys {
    pending: String,
    synced_at: String,
    snapshot: String,
    snapshot_meta: String,
    batch: String,
    batch_meta: String,
}

/// The Redis side of the counter buffer.
#[derive(Clone)]
pub struct RedisBuffer {
    conn: RedisConnection,
    keys: Arc<Keys>,
    /// The most keys in one batch (what a rename of the snapshot may take).
    batch_keys: usize,
    /// The most keys one script moves into a batch field by field.
    move_keys: usize,
}

impl RedisBuffer {
    /// A buffer on `conn` under `prefix`.
    pub fn new(conn: RedisConnection, prefix: &str) -> Self {
        // One hash tag: the batch scripts rename and move between these keys, so on a
        // cluster they share a slot.
        let keys = Keys {
            pending: format!("{{{prefix}:counters}}:pending"),
            synced_at: format!("{{{prefix}:counters}}:synced_at"),
            snapshot: format!("{{{prefix}:counters}}:snapshot"),
            snapshot_meta: format!("{{{prefix}:counters}}:snapshot_meta"),
            batch: format!("{{{prefix}:counters}}:batch"),
            batch_meta: format!("{{{prefix}:counters}}:batch_meta"),
        };
        Self {
            conn,
            keys: Arc::new(keys),
            batch_keys: BATCH_KEYS,
            move_keys: MOVE_KEYS,
        }
    }

    pub(super) fn with_batch_keys(mut self, keys: usize) -> Self {
        self.batch_keys = keys.max(1);
        self.move_keys = self.move_keys.min(self.batch_keys);
        self
    }

    /// One command, one round trip: `HINCRBY`, which refuses a total outside 64 bits.
    pub(super) async fn increment(&self, key: &str, delta: i64) -> Result<(), BufferError> {
        let mut conn = self.conn.clone();
        let mut command = redis::cmd("HINCRBY");
        command.arg(&self.keys.pending).arg(key).arg(delta);
        let result: Result<i64, redis::RedisError> = command.query_async(&mut conn).await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.to_string().contains("overflow") => Err(BufferError::Overflow),
            Err(error) => Err(BufferError::Redis(error)),
        }
    }

    pub(super) async fn buffered(&self, key: &str) -> Result<Buffered, BufferError> {
        let mut conn = self.conn.clone();
        // One transaction: a flush moving the key between the hashes is seen before or after.
        let (pending, in_snapshot, batch_id, in_batch): (
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
        ) = redis::pipe()
            .atomic()
            .hget(&self.keys.pending, key)
            .hget(&self.keys.snapshot, key)
            .hget(&self.keys.batch_meta, "id")
            .hget(&self.keys.batch, key)
            .query_async(&mut conn)
            .await?;
        Ok(Buffered {
            // A snapshot's increments are in no batch yet, so not applied.
            pending: pending
                .unwrap_or(0)
                .saturating_add(in_snapshot.unwrap_or(0)),
            in_batch: batch_id.zip(in_batch),
        })
    }

    pub(super) async fn take_batch(
        &self,
        id: String,
        may_start: bool,
    ) -> Result<Option<Batch>, BufferError> {
        let mut conn = self.conn.clone();
        let taken: Option<(String, String, i32, i32)> = redis::Script::new(TAKE_BATCH)
            .key(&self.keys.pending)
            .key(&self.keys.synced_at)
            .key(&self.keys.snapshot)
            .key(&self.keys.snapshot_meta)
            .key(&self.keys.batch)
            .key(&self.keys.batch_meta)
            .arg(&id)
            .arg(Utc::now().timestamp_millis())
            .arg(self.move_keys)
            .arg(if may_start { "1" } else { "0" })
            .arg(self.batch_keys)
            .invoke_async(&mut conn)
            .await?;
        let Some((id, since, leftover, started)) = taken else {
            return Ok(None);
        };
        let deltas = self.read_batch(&mut conn).await?;
        Ok(Some(Batch {
            id,
            deltas,
            oldest: parse_millis(&since),
            leftover: leftover == 1,
            started: started == 1,
        }))
    }

    /// The batch's fields, read `READ_CHUNK` at a time: one answer for a whole batch would
    /// hold every field twice over in memory while it is parsed. `HSCAN` returns a field at
    /// least once (twice, should the hash be resized meanwhile), so repeats are dropped:
    /// nothing changes a batch while its id is unrecorded, so a repeat is the same value.
    /// Should a concurrent flush finish the batch and start another meanwhile, what is read is
    /// applied under the finished batch's id, which is recorded as applied: nothing is.
    async fn read_batch(
        &self,
        conn: &mut RedisConnection,
    ) -> Result<Vec<(String, i64)>, BufferError> {
        let mut deltas = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, page): (u64, Vec<(String, i64)>) = redis::cmd("HSCAN")
                .arg(&self.keys.batch)
                .arg(cursor)
                .arg("COUNT")
                .arg(READ_CHUNK)
                .query_async(conn)
                .await?;
            deltas.extend(page);
            if next == 0 {
                deltas.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                deltas.dedup_by(|a, b| a.0 == b.0);
                return Ok(deltas);
            }
            cursor = next;
        }
    }

    pub(super) async fn finish_batch(&self, id: &str) -> Result<(), BufferError> {
        let mut conn = self.conn.clone();
        let _: i32 = redis::Script::new(FINISH_BATCH)
            .key(&self.keys.batch)
            .key(&self.keys.batch_meta)
            .arg(id)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// An upper bound: increments in a batch or snapshot are younger than its `since`,
    /// pending ones younger than `synced_at`; a batch is never younger than the snapshot.
    pub(super) async fn oldest_unflushed(&self) -> Result<Option<DateTime<Utc>>, BufferError> {
        let mut conn = self.conn.clone();
        let (in_batch, in_snapshot, has_pending, synced_at): (
            Option<String>,
            Option<String>,
            bool,
            Option<String>,
        ) = redis::pipe()
            .hget(&self.keys.batch_meta, "since")
            .hget(&self.keys.snapshot_meta, "since")
            .exists(&self.keys.pending)
            .get(&self.keys.synced_at)
            .query_async(&mut conn)
            .await?;
        let batch = in_batch.as_deref().and_then(parse_millis);
        let snapshot = in_snapshot.as_deref().and_then(parse_millis);
        let pending = synced_at
            .as_deref()
            .filter(|_| has_pending)
            .and_then(parse_millis);
        Ok(batch.or(snapshot).or(pending))
    }
}

fn parse_millis(raw: &str) -> Option<DateTime<Utc>> {
    raw.parse().ok().and_then(DateTime::from_timestamp_millis)
}

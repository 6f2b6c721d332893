//! The production buffer: `HINCRBY` into one Redis hash, renamed aside for each batch.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use super::{Batch, BufferError, Buffered};

/// Moves the pending hash aside as the batch, unless a batch is still in flight (then
/// that one is returned, marked leftover). Records when it looked (`synced_at`, ARGV[2]):
/// every increment buffered before then is in a batch, so the oldest pending increment is
/// younger than that; the batch keeps the previous `synced_at` as its own bound.
const TAKE_BATCH: &str = r#"
local id = redis.call('HGET', KEYS[4], 'id')
if id then
  return {id, redis.call('HGET', KEYS[4], 'since') or '', 1}
end
local since = redis.call('GET', KEYS[2]) or ''
redis.call('SET', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('HSET', KEYS[4], 'id', ARGV[1], 'since', since)
return {ARGV[1], since, 0}
"#;

/// Removes the batch, only if it is still the one named.
const FINISH_BATCH: &str = r#"
if redis.call('HGET', KEYS[2], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
end
return 0
"#;

/// The Redis keys of the buffer, written out once.
struct Keys {
    pending: String,
    synced_at: String,
    batch: String,
    batch_meta: String,
}

/// The Redis side of the counter buffer.
#[derive(Clone)]
pub struct RedisBuffer {
    conn: ConnectionManager,
    keys: Arc<Keys>,
}

impl RedisBuffer {
    /// A buffer on `conn` under `prefix`.
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        let keys = Keys {
            pending: format!("{prefix}:counters:pending"),
            synced_at: format!("{prefix}:counters:synced_at"),
            batch: format!("{prefix}:counters:batch"),
            batch_meta: format!("{prefix}:counters:batch_meta"),
        };
        Self {
            conn,
            keys: Arc::new(keys),
        }
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
        let (pending, batch_id, in_batch): (Option<i64>, Option<String>, Option<i64>) =
            redis::pipe()
                .hget(&self.keys.pending, key)
                .hget(&self.keys.batch_meta, "id")
                .hget(&self.keys.batch, key)
                .query_async(&mut conn)
                .await?;
        Ok(Buffered {
            pending: pending.unwrap_or(0),
            in_batch: batch_id.zip(in_batch),
        })
    }

    pub(super) async fn take_batch(&self, id: String) -> Result<Option<Batch>, BufferError> {
        let mut conn = self.conn.clone();
        let taken: Option<(String, String, i32)> = redis::Script::new(TAKE_BATCH)
            .key(&self.keys.pending)
            .key(&self.keys.synced_at)
            .key(&self.keys.batch)
            .key(&self.keys.batch_meta)
            .arg(&id)
            .arg(Utc::now().timestamp_millis())
            .invoke_async(&mut conn)
            .await?;
        let Some((id, since, leftover)) = taken else {
            return Ok(None);
        };
        let deltas: Vec<(String, i64)> = redis::cmd("HGETALL")
            .arg(&self.keys.batch)
            .query_async(&mut conn)
            .await?;
        Ok(Some(Batch {
            id,
            deltas,
            oldest: parse_millis(&since),
            leftover: leftover == 1,
        }))
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

    /// An upper bound: increments in a batch are younger than the batch's `since`, pending
    /// ones younger than `synced_at`.
    pub(super) async fn oldest_unflushed(&self) -> Result<Option<DateTime<Utc>>, BufferError> {
        let mut conn = self.conn.clone();
        let (in_batch, has_pending, synced_at): (Option<String>, bool, Option<String>) =
            redis::pipe()
                .hget(&self.keys.batch_meta, "since")
                .exists(&self.keys.pending)
                .get(&self.keys.synced_at)
                .query_async(&mut conn)
                .await?;
        let batch = in_batch.as_deref().and_then(parse_millis);
        let pending = synced_at
            .as_deref()
            .filter(|_| has_pending)
            .and_then(parse_millis);
        Ok(batch.or(pending))
    }
}

fn parse_millis(raw: &str) -> Option<DateTime<Utc>> {
    raw.parse().ok().and_then(DateTime::from_timestamp_millis)
}

//! The production buffer: `HINCRBY` into one Redis hash, renamed aside for each batch.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use super::{Batch, BufferError, Buffered};

/// Moves the pending hash aside as the batch, unless a batch is still in flight (then
/// that one is returned, marked leftover). Also drops a stale `pending_since` left by an
/// increment that landed after the previous move.
const TAKE_BATCH: &str = r#"
local id = redis.call('HGET', KEYS[4], 'id')
if id then
  return {id, redis.call('HGET', KEYS[4], 'since') or '', 1}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return false
end
local since = redis.call('GET', KEYS[2]) or ''
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('DEL', KEYS[2])
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
    pending_since: String,
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
            pending_since: format!("{prefix}:counters:pending_since"),
            batch: format!("{prefix}:counters:batch"),
            batch_meta: format!("{prefix}:counters:batch_meta"),
        };
        Self {
            conn,
            keys: Arc::new(keys),
        }
    }

    /// One round trip: the increment and, if none is set, the time of the oldest pending
    /// increment, in one transaction.
    pub(super) async fn increment(&self, key: &str, delta: i64) -> Result<(), BufferError> {
        let mut conn = self.conn.clone();
        let result: Result<(), redis::RedisError> = redis::pipe()
            .atomic()
            .hincr(&self.keys.pending, key, delta)
            .ignore()
            .set_options(
                &self.keys.pending_since,
                Utc::now().timestamp_millis(),
                redis::SetOptions::default().conditional_set(redis::ExistenceCheck::NX),
            )
            .ignore()
            .query_async(&mut conn)
            .await;
        result.map_err(|error| {
            // HINCRBY refuses, inside the transaction, a total outside 64 bits.
            if error.to_string().contains("overflow") {
                BufferError::Overflow
            } else {
                BufferError::Redis(error)
            }
        })
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
            .key(&self.keys.pending_since)
            .key(&self.keys.batch)
            .key(&self.keys.batch_meta)
            .arg(&id)
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

    pub(super) async fn oldest_unflushed(&self) -> Result<Option<DateTime<Utc>>, BufferError> {
        let mut conn = self.conn.clone();
        let (in_batch, pending): (Option<String>, Option<String>) = redis::pipe()
            .hget(&self.keys.batch_meta, "since")
            .get(&self.keys.pending_since)
            .query_async(&mut conn)
            .await?;
        // A batch in flight is older than anything pending.
        Ok(in_batch
            .as_deref()
            .and_then(parse_millis)
            .or_else(|| pending.as_deref().and_then(parse_millis)))
    }
}

fn parse_millis(raw: &str) -> Option<DateTime<Utc>> {
    raw.parse().ok().and_then(DateTime::from_timestamp_millis)
}

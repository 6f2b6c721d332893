//! Counters: increments are buffered (Redis in production, SQLite embedded) and flushed to
//! the `counters` table in batches, each applied exactly once.
//!
//! A flush moves every pending increment aside as a snapshot (atomically, so increments
//! arriving meanwhile start a new pending buffer), then cuts the snapshot into batches of at
//! most [`BATCH_KEYS`] keys, each with its own id, moved out of the snapshot atomically. It
//! applies each batch in one transaction that also records the batch's id, then removes
//! it. A crash anywhere leaves either the batch (the next flush finds and finishes it) or
//! the recorded id (the next flush sees the batch was applied and only removes it), and the
//! rest of the snapshot for the next flush to cut: nothing lost, nothing counted twice, and
//! no flush holds more than one batch in memory however many keys are pending.

pub mod flush;
pub mod job;
mod redis;
mod sqlite;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

pub use self::redis::RedisBuffer;
pub use self::sqlite::SqliteBuffer;

/// Most keys in one batch: what a flush holds in memory at once (about 40 MB). A snapshot
/// of up to this many keys is one batch: one statement, one commit, and in Redis the
/// snapshot renamed rather than moved field by field.
pub const BATCH_KEYS: usize = 100_000;
/// Most keys moved field by field into one batch, from a snapshot larger than `BATCH_KEYS`:
/// one script holds Redis for about 30 ms per 10,000 of them.
pub const MOVE_KEYS: usize = 10_000;
/// Separates a counter's tenant from its key in the buffer: keys hold no control
/// characters, tenant ids none at all.
const FIELD_SEPARATOR: char = '\u{1f}';

/// The buffer's name for `tenant`'s counter `key`.
pub fn buffer_field(tenant: &str, key: &str) -> String {
    let mut field = String::with_capacity(tenant.len() + 1 + key.len());
    field.push_str(tenant);
    field.push(FIELD_SEPARATOR);
    field.push_str(key);
    field
}

/// The tenant and key of a buffer field; a field buffered before tenants existed is the
/// `default` tenant's.
pub fn split_field(field: &str) -> (&str, &str) {
    field
        .split_once(FIELD_SEPARATOR)
        .unwrap_or((crate::tenants::DEFAULT_TENANT, field))
}

/// Increments moved out of the pending buffer, to be applied as one.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The batch's id, recorded in `counter_flushes` when applied.
    pub id: String,
    /// The summed increment of each buffer field (see `buffer_field`).
    pub deltas: Vec<(String, i64)>,
    /// When the oldest increment in it was buffered, if known.
    pub oldest: Option<DateTime<Utc>>,
    /// Whether it was left over by an earlier flush that did not finish.
    pub leftover: bool,
    /// Whether taking it moved the pending increments aside as a new snapshot.
    pub started: bool,
}

/// What the buffer holds for one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buffered {
    /// Increments not yet in a batch.
    pub pending: i64,
    /// The key's part of the batch being applied, with that batch's id (its part of a
    /// snapshot not yet cut into batches counts as pending).
    pub in_batch: Option<(String, i64)>,
}

/// Why the buffer refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// The key's buffered total would leave the signed 64-bit range.
    #[error("the counter's total would overflow a signed 64-bit integer")]
    Overflow,
    /// Redis refused or did not answer.
    #[error("counter buffer (redis): {0}")]
    Redis(#[from] ::redis::RedisError),
    /// The database refused or did not answer.
    #[error("counter buffer (database): {0}")]
    Database(#[from] DbErr),
}

/// The increment buffer of this deployment.
#[derive(Clone)]
pub enum CounterBuffer {
    /// Production: one Redis hash, moved aside per batch.
    Redis(RedisBuffer),
    /// Embedded: the `counter_buffer` table.
    Sqlite(SqliteBuffer),
}

impl CounterBuffer {
    /// The buffer for this mode: Redis when there is a connection, else the database.
    pub fn new(
        redis: Option<crate::queue::RedisConnection>,
        prefix: &str,
        db: &DatabaseConnection,
    ) -> Self {
        match redis {
            Some(conn) => CounterBuffer::Redis(RedisBuffer::new(conn, prefix)),
            None => CounterBuffer::Sqlite(SqliteBuffer::new(db.clone())),
        }
    }

    /// The same buffer, cut into batches of at most `keys` keys (`BATCH_KEYS` otherwise).
    pub fn with_batch_keys(self, keys: usize) -> Self {
        match self {
            CounterBuffer::Redis(b) => CounterBuffer::Redis(b.with_batch_keys(keys)),
            CounterBuffer::Sqlite(b) => CounterBuffer::Sqlite(b.with_batch_keys(keys)),
        }
    }

    /// Adds `delta` to `tenant`'s counter `key`; durable in the buffer on return.
    pub async fn increment(&self, tenant: &str, key: &str, delta: i64) -> Result<(), BufferError> {
        let field = buffer_field(tenant, key);
        match self {
            CounterBuffer::Redis(b) => b.increment(&field, delta).await,
            CounterBuffer::Sqlite(b) => b.increment(&field, tenant, key, delta).await,
        }
    }

    /// What is buffered for `tenant`'s counter `key`.
    pub async fn buffered(&self, tenant: &str, key: &str) -> Result<Buffered, BufferError> {
        let field = buffer_field(tenant, key);
        match self {
            CounterBuffer::Redis(b) => b.buffered(&field).await,
            CounterBuffer::Sqlite(b) => b.buffered(&field).await,
        }
    }

    /// The batch left over by an unfinished flush, or else the next batch of the snapshot;
    /// when there is no snapshot and `may_start`, the pending increments are first moved
    /// aside as a new one. `None` when there is nothing to flush.
    pub async fn take_batch(&self, may_start: bool) -> Result<Option<Batch>, BufferError> {
        let id = ulid::Ulid::generate().to_string();
        match self {
            CounterBuffer::Redis(b) => b.take_batch(id, may_start).await,
            CounterBuffer::Sqlite(b) => b.take_batch(id, may_start).await,
        }
    }

    /// Removes batch `id` once it is applied; a no-op if it is already gone.
    pub async fn finish_batch(&self, id: &str) -> Result<(), BufferError> {
        match self {
            CounterBuffer::Redis(b) => b.finish_batch(id).await,
            CounterBuffer::Sqlite(b) => b.finish_batch(id).await,
        }
    }

    /// When the oldest increment not yet flushed was buffered (in production an upper
    /// bound on its age: the time the flush last emptied the buffer).
    pub async fn oldest_unflushed(&self) -> Result<Option<DateTime<Utc>>, BufferError> {
        match self {
            CounterBuffer::Redis(b) => b.oldest_unflushed().await,
            CounterBuffer::Sqlite(b) => b.oldest_unflushed().await,
        }
    }
}

/// A counter as the API shows it: persisted total and what is still buffered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterState {
    /// The persisted total and when it was last flushed, if ever.
    pub persisted: Option<(i64, DateTime<Utc>)>,
    /// Buffered increments not yet in `counters`.
    pub pending: i64,
}

/// Reads `tenant`'s counter `key`: its persisted total and its buffered increments. A batch applied but not yet
/// removed from the buffer is not counted twice: the buffer is read first, then the total
/// and the batch's record from one database snapshot.
pub async fn read(
    db: &DatabaseConnection,
    buffer: &CounterBuffer,
    tenant: &str,
    key: &str,
) -> Result<CounterState, BufferError> {
    use sea_orm::{DbBackend, EntityTrait, IsolationLevel, TransactionTrait};

    let buffered = buffer.buffered(tenant, key).await?;
    // SQLite's read transactions are snapshots already (and it warns when told a level).
    let isolation = (db.get_database_backend() == DbBackend::Postgres)
        .then_some(IsolationLevel::RepeatableRead);
    let snapshot = db.begin_with_config(isolation, None).await?;
    let persisted = entity::counter::Entity::find_by_id((tenant.to_owned(), key.to_owned()))
        .one(&snapshot)
        .await?
        .map(|c| (c.value, c.updated_at));
    let mut pending = buffered.pending;
    if let Some((batch_id, delta)) = buffered.in_batch {
        let applied = entity::counter_flush::Entity::find_by_id(batch_id)
            .one(&snapshot)
            .await?;
        if applied.is_none() {
            pending = pending.saturating_add(delta);
        }
    }
    snapshot.commit().await?;
    Ok(CounterState { persisted, pending })
}

//! The embedded buffer: the `counter_buffer` table, beside `counters` in the SQLite file.

use chrono::{DateTime, Utc};
use entity::counter_buffer;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

use super::{BATCH_KEYS, Batch, BufferError, Buffered};

/// Adds to the pending row of buffer field ?1 (tenant ?4, key ?5), unless the counter's
/// total (persisted + buffered + delta) or the pending row itself would leave 64 bits:
/// SQLite turns an overflowing integer sum into a REAL, which `typeof` catches, and then
/// nothing is written. The pending row needs its own check because a negative persisted
/// value lets the total fit while the row's own sum does not.
const INCREMENT: &str = r#"
INSERT INTO counter_buffer (batch_id, key, delta, first_at)
SELECT '', ?1, ?2, ?3
WHERE typeof(
    coalesce((SELECT value FROM counters WHERE tenant_id = ?4 AND key = ?5), 0)
  + coalesce((SELECT sum(delta) FROM counter_buffer WHERE key = ?1), 0)
  + ?2) = 'integer'
AND typeof(
    coalesce((SELECT delta FROM counter_buffer WHERE batch_id = '' AND key = ?1), 0)
  + ?2) = 'integer'
ON CONFLICT (batch_id, key) DO UPDATE SET delta = delta + excluded.delta
"#;

/// Rows of a snapshot have `batch_id` `SNAPSHOT || <id>`; pending rows `''`; the rows of
/// a batch being applied have the batch's id.
const SNAPSHOT: &str = "snapshot:";

/// Moves the pending rows into snapshot ?1, unless anything is still in flight.
const TAKE_SNAPSHOT: &str = r#"
UPDATE counter_buffer SET batch_id = ?1
WHERE batch_id = '' AND NOT EXISTS (SELECT 1 FROM counter_buffer WHERE batch_id <> '')
"#;

/// Moves the first ?3 keys of snapshot ?1 into batch ?2 (the primary key orders them).
const CUT_BATCH: &str = r#"
UPDATE counter_buffer SET batch_id = ?2
WHERE batch_id = ?1 AND key IN (
  SELECT key FROM counter_buffer WHERE batch_id = ?1 ORDER BY key LIMIT ?3)
"#;

/// The SQLite side of the counter buffer.
#[derive(Clone)]
pub struct SqliteBuffer {
    db: DatabaseConnection,
    batch_keys: usize,
}

impl SqliteBuffer {
    /// A buffer in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            batch_keys: BATCH_KEYS,
        }
    }

    pub(super) fn with_batch_keys(mut self, keys: usize) -> Self {
        self.batch_keys = keys.max(1);
        self
    }

    pub(super) async fn increment(
        &self,
        field: &str,
        tenant: &str,
        key: &str,
        delta: i64,
    ) -> Result<(), BufferError> {
        let statement = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            INCREMENT,
            [
                field.into(),
                delta.into(),
                Utc::now().into(),
                tenant.into(),
                key.into(),
            ],
        );
        match self.db.execute_raw(statement).await {
            Ok(written) if written.rows_affected() > 0 => Ok(()),
            Ok(_) => Err(BufferError::Overflow),
            // sum() raises instead of turning REAL when the buffered parts alone overflow.
            Err(error) if error.to_string().contains("integer overflow") => {
                Err(BufferError::Overflow)
            }
            Err(error) => Err(BufferError::Database(error)),
        }
    }

    pub(super) async fn buffered(&self, key: &str) -> Result<Buffered, BufferError> {
        let rows = counter_buffer::Entity::find()
            .filter(counter_buffer::Column::Key.eq(key))
            .all(&self.db)
            .await?;
        let mut buffered = Buffered::default();
        for row in rows {
            // A snapshot's increments are in no batch yet, so not applied.
            if row.batch_id.is_empty() || row.batch_id.starts_with(SNAPSHOT) {
                buffered.pending = buffered.pending.saturating_add(row.delta);
            } else {
                buffered.in_batch = Some((row.batch_id, row.delta));
            }
        }
        Ok(buffered)
    }

    /// In one write transaction, taken at its start: two flushes at once see each other's
    /// moves whole, and a read followed by a write cannot find its snapshot stale.
    pub(super) async fn take_batch(
        &self,
        id: String,
        may_start: bool,
    ) -> Result<Option<Batch>, BufferError> {
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let taken = take_batch_in(&txn, id, may_start, self.batch_keys).await?;
        txn.commit().await?;
        Ok(taken)
    }

    pub(super) async fn finish_batch(&self, id: &str) -> Result<(), BufferError> {
        counter_buffer::Entity::delete_many()
            .filter(counter_buffer::Column::BatchId.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub(super) async fn oldest_unflushed(&self) -> Result<Option<DateTime<Utc>>, BufferError> {
        let oldest = counter_buffer::Entity::find()
            .order_by_asc(counter_buffer::Column::FirstAt)
            .one(&self.db)
            .await?;
        Ok(oldest.map(|row| row.first_at))
    }
}

async fn take_batch_in(
    txn: &DatabaseTransaction,
    id: String,
    may_start: bool,
    batch_keys: usize,
) -> Result<Option<Batch>, BufferError> {
    let in_flight = |prefix: bool| {
        let rows = counter_buffer::Entity::find().filter(counter_buffer::Column::BatchId.ne(""));
        let rows = if prefix {
            rows.filter(counter_buffer::Column::BatchId.starts_with(SNAPSHOT))
        } else {
            rows.filter(counter_buffer::Column::BatchId.not_like(format!("{SNAPSHOT}%")))
        };
        rows.order_by_asc(counter_buffer::Column::BatchId)
    };
    // A batch left by an unfinished flush comes first.
    if let Some(row) = in_flight(false).one(txn).await? {
        return Ok(Some(read_batch(txn, row.batch_id, true, false).await?));
    }
    let mut started = false;
    let snapshot = match in_flight(true).one(txn).await? {
        Some(row) => row.batch_id,
        None if may_start => {
            let snapshot = format!("{SNAPSHOT}{}", ulid::Ulid::generate());
            let statement = Statement::from_sql_and_values(
                DbBackend::Sqlite,
                TAKE_SNAPSHOT,
                [snapshot.clone().into()],
            );
            if txn.execute_raw(statement).await?.rows_affected() == 0 {
                return Ok(None);
            }
            started = true;
            snapshot
        }
        None => return Ok(None),
    };
    let statement = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        CUT_BATCH,
        [
            snapshot.into(),
            id.clone().into(),
            (batch_keys as i64).into(),
        ],
    );
    txn.execute_raw(statement).await?;
    Ok(Some(read_batch(txn, id, false, started).await?))
}

async fn read_batch(
    txn: &DatabaseTransaction,
    id: String,
    leftover: bool,
    started: bool,
) -> Result<Batch, BufferError> {
    let rows = counter_buffer::Entity::find()
        .filter(counter_buffer::Column::BatchId.eq(&id))
        .all(txn)
        .await?;
    Ok(Batch {
        oldest: rows.iter().map(|r| r.first_at).min(),
        deltas: rows.into_iter().map(|r| (r.key, r.delta)).collect(),
        id,
        leftover,
        started,
    })
}

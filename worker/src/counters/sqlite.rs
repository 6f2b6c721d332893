//! The embedded buffer: the `counter_buffer` table, beside `counters` in the SQLite file.

use chrono::{DateTime, Utc};
use entity::counter_buffer;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};

use super::{Batch, BufferError, Buffered};

/// Adds to the pending row of buffer field ?1 (tenant ?4, key ?5), unless the counter's
/// total (persisted + buffered + delta) would
/// leave 64 bits: SQLite turns an overflowing integer sum into a REAL, which `typeof`
/// catches, and then nothing is written.
const INCREMENT: &str = r#"
INSERT INTO counter_buffer (batch_id, key, delta, first_at)
SELECT '', ?1, ?2, ?3
WHERE typeof(
    coalesce((SELECT value FROM counters WHERE tenant_id = ?4 AND key = ?5), 0)
  + coalesce((SELECT sum(delta) FROM counter_buffer WHERE key = ?1), 0)
  + ?2) = 'integer'
ON CONFLICT (batch_id, key) DO UPDATE SET delta = delta + excluded.delta
"#;

/// Moves the pending rows into batch ?1, unless a batch is still in flight.
const TAKE_BATCH: &str = r#"
UPDATE counter_buffer SET batch_id = ?1
WHERE batch_id = '' AND NOT EXISTS (SELECT 1 FROM counter_buffer WHERE batch_id <> '')
"#;

/// The SQLite side of the counter buffer.
#[derive(Clone)]
pub struct SqliteBuffer {
    db: DatabaseConnection,
}

impl SqliteBuffer {
    /// A buffer in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
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
            if row.batch_id.is_empty() {
                buffered.pending = row.delta;
            } else {
                buffered.in_batch = Some((row.batch_id, row.delta));
            }
        }
        Ok(buffered)
    }

    pub(super) async fn take_batch(&self, id: String) -> Result<Option<Batch>, BufferError> {
        let statement =
            Statement::from_sql_and_values(DbBackend::Sqlite, TAKE_BATCH, [id.clone().into()]);
        self.db.execute_raw(statement).await?;
        // Whatever is not pending now is one batch: the new one, or a leftover.
        let rows = counter_buffer::Entity::find()
            .filter(counter_buffer::Column::BatchId.ne(""))
            .all(&self.db)
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let batch_id = first.batch_id.clone();
        let oldest = rows.iter().map(|r| r.first_at).min();
        Ok(Some(Batch {
            leftover: batch_id != id,
            id: batch_id,
            deltas: rows.into_iter().map(|r| (r.key, r.delta)).collect(),
            oldest,
        }))
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

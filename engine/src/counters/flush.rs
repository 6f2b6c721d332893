//! The flush: apply one batch to `counters` exactly once, then remove it from the buffer.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use entity::{counter_flush, counter_rejection};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, Statement, TransactionTrait, TryInsertResult,
};

use super::{Batch, BufferError, CounterBuffer, FIELD_SEPARATOR, split_field};

/// Adds every delta of a JSON array `[[tenant, key, delta], ...]` to `counters` in one
/// statement, and stamps each changed row with this flush's time; a counter whose total
/// would leave 64 bits is skipped. Both bounds are written so that checking them cannot
/// overflow.
const UPSERT_POSTGRES: &str = r#"
INSERT INTO counters (tenant_id, key, value, updated_at)
SELECT d->>0, d->>1, (d->>2)::bigint, $2 FROM jsonb_array_elements($1::jsonb) AS d
ON CONFLICT (tenant_id, key) DO UPDATE SET value = counters.value + excluded.value, updated_at = excluded.updated_at
WHERE (excluded.value >= 0 AND counters.value <= 9223372036854775807 - excluded.value)
   OR (excluded.value < 0 AND counters.value >= (-9223372036854775807 - 1) - excluded.value)
"#;

/// The counters of a batch that an upsert skipped: their rows do not carry its time.
const SKIPPED_POSTGRES: &str = r#"
SELECT c.tenant_id, c.key FROM jsonb_array_elements($1::jsonb) AS d
JOIN counters c ON c.tenant_id = d->>0 AND c.key = d->>1 WHERE c.updated_at <> $2
"#;

/// The same for SQLite (`WHERE true` lets the parser tell the upsert from a join).
const UPSERT_SQLITE: &str = r#"
INSERT INTO counters (tenant_id, key, value, updated_at)
SELECT d.value ->> 0, d.value ->> 1, d.value ->> 2, ?2 FROM json_each(?1) AS d WHERE true
ON CONFLICT (tenant_id, key) DO UPDATE SET value = counters.value + excluded.value, updated_at = excluded.updated_at
WHERE (excluded.value >= 0 AND counters.value <= 9223372036854775807 - excluded.value)
   OR (excluded.value < 0 AND counters.value >= (-9223372036854775807 - 1) - excluded.value)
"#;

/// The same for SQLite.
const SKIPPED_SQLITE: &str = r#"
SELECT c.tenant_id, c.key FROM json_each(?1) AS d
JOIN counters c ON c.tenant_id = d.value ->> 0 AND c.key = d.value ->> 1 WHERE c.updated_at <> ?2
"#;

/// Why a flush failed; the batch stays in the buffer for the next one.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// The buffer failed.
    #[error(transparent)]
    Buffer(#[from] BufferError),
    /// The database failed.
    #[error("counter flush (database): {0}")]
    Database(#[from] DbErr),
}

/// What applying one batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied now: `keys` counters changed, `rejected` set aside.
    Now {
        /// Counters changed.
        keys: usize,
        /// Keys set aside, with their deltas.
        rejected: Vec<(String, i64)>,
    },
    /// An earlier flush had applied it already.
    Before,
}

/// What one flush did.
#[derive(Debug, Clone)]
pub struct Flushed {
    /// The batch flushed.
    pub batch_id: String,
    /// What applying it did.
    pub applied: Applied,
    /// How long it took, from taking the batch to removing it.
    pub duration: Duration,
}

/// Flushes the buffer: what an unfinished flush left (a batch, the rest of its snapshot)
/// first, then the pending increments, one batch at a time. Returns what was flushed
/// (empty when nothing was buffered). Increments arriving meanwhile wait for the next
/// flush: one flush takes at most one new snapshot.
pub async fn flush(
    db: &DatabaseConnection,
    buffer: &CounterBuffer,
) -> Result<Vec<Flushed>, FlushError> {
    let mut flushed = Vec::new();
    let mut may_start = true;
    loop {
        let started = Instant::now();
        let Some(batch) = buffer.take_batch(may_start).await? else {
            break;
        };
        may_start &= !batch.started;
        let applied = apply(db, &batch).await?;
        buffer.finish_batch(&batch.id).await?;
        flushed.push(Flushed {
            batch_id: batch.id,
            applied,
            duration: started.elapsed(),
        });
    }
    Ok(flushed)
}

/// Applies `batch` to `counters` in one transaction that also records its id, so a batch
/// applied before (a flush that stopped before removing it, or a concurrent flush) is
/// recognised and left alone.
pub async fn apply(db: &DatabaseConnection, batch: &Batch) -> Result<Applied, DbErr> {
    let started = Instant::now();
    let txn = db.begin().await?;
    let record = counter_flush::ActiveModel {
        batch_id: Set(batch.id.clone()),
        keys: Set(0),
        applied_at: Set(Utc::now()),
        duration_ms: Set(0),
    };
    // A concurrent flush of the same batch waits here for ours to commit, then conflicts.
    let claimed = counter_flush::Entity::insert(record)
        .on_conflict_do_nothing_on([counter_flush::Column::BatchId])
        .exec_without_returning(&txn)
        .await?;
    if !matches!(claimed, TryInsertResult::Inserted(n) if n > 0) {
        txn.rollback().await?;
        return Ok(Applied::Before);
    }

    let changes: Vec<&(String, i64)> = batch.deltas.iter().filter(|(_, d)| *d != 0).collect();
    let rejected = upsert(&txn, &changes).await?;
    set_aside(&txn, &batch.id, &rejected).await?;
    let keys = changes.len() - rejected.len();

    counter_flush::Entity::update(counter_flush::ActiveModel {
        batch_id: Set(batch.id.clone()),
        keys: Set(keys as i64),
        duration_ms: Set(started.elapsed().as_millis() as i64),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    txn.commit().await?;
    Ok(Applied::Now { keys, rejected })
}

/// One statement for the whole batch; returns the changes it had to skip. Returning the
/// changed counters instead would cost more than the upsert's own work on large batches,
/// so the rare skipped ones are looked up only when the row count says there are some.
async fn upsert(
    txn: &DatabaseTransaction,
    changes: &[&(String, i64)],
) -> Result<Vec<(String, i64)>, DbErr> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let (json, rows) = rows_json(changes)?;
    // Postgres keeps microseconds: a finer stamp would never compare equal.
    let stamp = Utc::now().trunc_subsecs(6);
    let backend = txn.get_database_backend();
    let (upsert, skipped) = match backend {
        DbBackend::Postgres => (UPSERT_POSTGRES, SKIPPED_POSTGRES),
        _ => (UPSERT_SQLITE, SKIPPED_SQLITE),
    };
    let values = [json.into(), stamp.into()];
    let changed = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            upsert,
            values.clone(),
        ))
        .await?
        .rows_affected();
    if changed as usize == rows {
        return Ok(Vec::new());
    }
    let found = txn
        .query_all_raw(Statement::from_sql_and_values(backend, skipped, values))
        .await?;
    let skipped: HashSet<(String, String)> = found
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "tenant_id")?,
                row.try_get::<String>("", "key")?,
            ))
        })
        .collect::<Result<_, DbErr>>()?;
    Ok(changes
        .iter()
        .filter(|(field, _)| {
            let (tenant, key) = split_field(field);
            skipped.contains(&(tenant.to_owned(), key.to_owned()))
        })
        .map(|&(field, delta)| (field.clone(), *delta))
        .collect())
}

/// The JSON array `[[tenant, key, delta], ...]` of `changes`, one element per counter in
/// the primary key's order (the index is then written page after page rather than at
/// random, which a large batch of new counters feels), and its length. Two buffer fields
/// name one counter only when one was written before tenants existed (no separator): only
/// then are they summed first; otherwise each field is written straight out, without a
/// second copy of the batch in memory.
fn rows_json(changes: &[&(String, i64)]) -> Result<(String, usize), DbErr> {
    let legacy = changes
        .iter()
        .any(|(field, _)| !field.contains(FIELD_SEPARATOR));
    let rows: Vec<(&str, &str, i64)> = if legacy {
        let mut merged: HashMap<(&str, &str), i64> = HashMap::with_capacity(changes.len());
        for (field, delta) in changes {
            let entry = merged.entry(split_field(field)).or_insert(0);
            *entry = entry.saturating_add(*delta);
        }
        let mut rows: Vec<_> = merged.into_iter().map(|((t, k), d)| (t, k, d)).collect();
        rows.sort_unstable();
        rows
    } else {
        let mut sorted = changes.to_vec();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sorted
            .into_iter()
            .map(|(field, delta)| {
                let (tenant, key) = split_field(field);
                (tenant, key, *delta)
            })
            .collect()
    };
    let json = serde_json::to_string(&rows).map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok((json, rows.len()))
}

/// Keeps the refused increments in `counter_rejections`: logged, counted, not retried.
async fn set_aside(
    txn: &DatabaseTransaction,
    batch_id: &str,
    rejected: &[(String, i64)],
) -> Result<(), DbErr> {
    if rejected.is_empty() {
        return Ok(());
    }
    for (field, delta) in rejected {
        let (tenant, key) = split_field(field);
        tracing::error!(
            batch_id,
            tenant,
            key,
            delta,
            "counter total would overflow 64 bits; increment set aside"
        );
    }
    let rows = rejected.iter().map(|(field, delta)| {
        let (tenant, key) = split_field(field);
        counter_rejection::ActiveModel {
            batch_id: Set(batch_id.to_owned()),
            tenant_id: Set(tenant.to_owned()),
            key: Set(key.to_owned()),
            delta: Set(*delta),
            reason: Set("the total would overflow a signed 64-bit integer".to_owned()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
    });
    counter_rejection::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::buffer_field;

    #[test]
    fn rows_are_one_per_counter_in_key_order() {
        let fields = [
            (buffer_field("t2", "a"), 1),
            (buffer_field("t1", "b"), 2),
            (buffer_field("t1", "a"), 3),
        ];
        let changes: Vec<&(String, i64)> = fields.iter().collect();
        let (json, rows) = rows_json(&changes).unwrap();
        assert_eq!(json, r#"[["t1","a",3],["t1","b",2],["t2","a",1]]"#);
        assert_eq!(rows, 3);

        // A field buffered before tenants existed names the default tenant's counter: the
        // two are summed into one row.
        let fields = [
            ("a".to_owned(), 4),
            (buffer_field(crate::tenants::DEFAULT_TENANT, "a"), 5),
            (buffer_field("t1", "a"), 1),
        ];
        let changes: Vec<&(String, i64)> = fields.iter().collect();
        let (json, rows) = rows_json(&changes).unwrap();
        assert_eq!(rows, 2);
        assert_eq!(
            json,
            format!(
                r#"[["{}","a",9],["t1","a",1]]"#,
                crate::tenants::DEFAULT_TENANT
            )
        );
    }
}

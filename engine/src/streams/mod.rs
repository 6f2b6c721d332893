//! Streams: a provider fetched on fixed slots (anchor + k × interval) until stopped.
//! Creating, stopping and starting are here; the run itself is `tick`.

pub mod tick;

use chrono::{DateTime, Utc};
use entity::stream::{self, StreamStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use crate::lifecycle::transition;
use crate::queue::{Job, Queue, QueueError};

/// Run stream `stream_id` for the slot starting at `slot` (unix seconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamTick {
    /// The stream.
    pub stream_id: String,
    /// The slot this run is for.
    pub slot: i64,
}

impl Job for StreamTick {
    const QUEUE: &'static str = "stream_tick";

    fn shard_key(&self) -> Option<&str> {
        Some(&self.stream_id)
    }
}

/// The first slot of the grid `anchor + k × interval` strictly after `now`.
pub fn slot_after(anchor: i64, interval: i64, now: i64) -> i64 {
    let interval = interval.max(1);
    if now < anchor {
        return anchor;
    }
    anchor + ((now - anchor) / interval + 1) * interval
}

/// The latest slot of the grid at or before `now`.
pub fn slot_at(anchor: i64, interval: i64, now: i64) -> i64 {
    let interval = interval.max(1);
    if now < anchor {
        return anchor;
    }
    anchor + (now - anchor) / interval * interval
}

/// A slot as a time.
pub fn slot_time(slot: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(slot, 0).unwrap_or_default()
}

/// Why a stream operation failed; nothing half-done is left.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// No such stream.
    #[error("no stream `{0}`")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Records a new active stream and queues its first run, now.
pub async fn create(
    db: &DatabaseConnection,
    queue: &Queue,
    tenant_id: &str,
    provider: &str,
    interval_seconds: i64,
) -> Result<stream::Model, StreamError> {
    let now = Utc::now();
    let anchor = now.timestamp();
    let created = stream::Model {
        id: ulid::Ulid::generate().to_string(),
        tenant_id: tenant_id.to_owned(),
        provider: provider.to_owned(),
        interval_seconds,
        status: StreamStatus::Active,
        anchor_at: anchor,
        next_run_at: Some(anchor),
        created_at: now,
        updated_at: now,
        stopped_at: None,
    };
    stream::Entity::insert(stream::ActiveModel::from(created.clone()))
        .exec_without_returning(db)
        .await?;
    let first = StreamTick {
        stream_id: created.id.clone(),
        slot: anchor,
    };
    if let Err(error) = queue.push(first).await {
        tracing::error!(stream = %created.id, %error, "could not queue the first run; removing the stream");
        if let Err(cleanup) = stream::Entity::delete_by_id(&created.id).exec(db).await {
            tracing::error!(stream = %created.id, %cleanup, "could not remove the unqueued stream; the sweeper will run it");
        }
        return Err(error.into());
    }
    Ok(created)
}

/// Stops a stream (stopping a stopped one changes nothing); returns its final state.
/// With `tenant`, only that tenant's stream (another's is `NotFound`).
pub async fn stop(
    db: &DatabaseConnection,
    id: &str,
    tenant: Option<&str>,
) -> Result<stream::Model, StreamError> {
    let now = Utc::now();
    // Another tenant's stream is left alone; the read below then says it does not exist.
    transition(
        stream::Entity::update_many(),
        stream::Column::Status,
        &[StreamStatus::Active],
        StreamStatus::Stopped,
    )?
    .col_expr(stream::Column::NextRunAt, Expr::value(None::<i64>))
    .col_expr(stream::Column::StoppedAt, Expr::value(Some(now)))
    .col_expr(stream::Column::UpdatedAt, Expr::value(now))
    .filter(stream::Column::Id.eq(id))
    .filter(owned_by(tenant))
    .exec(db)
    .await?;
    find(db, id, tenant).await
}

/// Streams of `tenant` only, or of every tenant when `None` (the operator).
fn owned_by(tenant: Option<&str>) -> Condition {
    match tenant {
        Some(tenant) => Condition::all().add(stream::Column::TenantId.eq(tenant)),
        None => Condition::all(),
    }
}

/// Resumes a stopped stream on its slot grid (starting an active one changes nothing).
/// With `tenant`, only that tenant's stream.
pub async fn start(
    db: &DatabaseConnection,
    queue: &Queue,
    id: &str,
    tenant: Option<&str>,
) -> Result<stream::Model, StreamError> {
    let current = find(db, id, tenant).await?;
    if current.status == StreamStatus::Active {
        return Ok(current);
    }
    let now = Utc::now();
    let next = slot_after(current.anchor_at, current.interval_seconds, now.timestamp());
    let resumed = transition(
        stream::Entity::update_many(),
        stream::Column::Status,
        &[StreamStatus::Stopped],
        StreamStatus::Active,
    )?
    .col_expr(stream::Column::NextRunAt, Expr::value(Some(next)))
    .col_expr(stream::Column::UpdatedAt, Expr::value(now))
    .filter(stream::Column::Id.eq(id))
    .exec(db)
    .await?;
    if resumed.rows_affected == 1 {
        let tick = StreamTick {
            stream_id: id.to_owned(),
            slot: next,
        };
        // Not queued: the sweeper queues it once it is overdue.
        queue.push_at(tick, slot_time(next)).await?;
    }
    find(db, id, tenant).await
}

/// The stream called `id`, of `tenant` when one is given.
pub async fn find(
    db: &DatabaseConnection,
    id: &str,
    tenant: Option<&str>,
) -> Result<stream::Model, StreamError> {
    stream::Entity::find_by_id(id)
        .filter(owned_by(tenant))
        .one(db)
        .await?
        .ok_or_else(|| StreamError::NotFound(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_on_the_grid() {
        assert_eq!(slot_after(100, 10, 100), 110);
        assert_eq!(slot_after(100, 10, 109), 110);
        assert_eq!(slot_after(100, 10, 110), 120);
        assert_eq!(
            slot_after(100, 10, 155),
            160,
            "missed slots are skipped, not replayed"
        );
        assert_eq!(slot_after(100, 10, 50), 100);
        assert_eq!(slot_at(100, 10, 155), 150);
        assert_eq!(slot_at(100, 10, 100), 100);
    }
}

//! Waking what a pause held: every webhook waiting on a provider or receiver that resumed
//! is queued again now, a chunk at a time. Each one's next job was scheduled for
//! `PAUSE_RECHECK` later; that job finds nothing due when it comes and ends.

use chrono::{DateTime, Utc};
use entity::webhook::{self, Waiting, WebhookStatus};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};

use crate::db::{placeholder, values_column, values_rows};
use crate::queue::{Queue, QueueError};
use crate::webhooks::{Deliver, Recollect};

/// The most webhooks woken by one statement.
const CHUNK: u64 = 500;

/// Why waking failed part way; what was woken before stays woken.
#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The queue failed; the webhooks not pushed wake at their recheck.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The tenants' turns could not be counted.
    #[error(transparent)]
    Limit(#[from] super::limiter::LimitError),
}

/// A webhook to wake.
#[derive(Debug, FromQueryResult)]
struct Woken {
    id: String,
    created_at: DateTime<Utc>,
    status: WebhookStatus,
}

/// Queues again now every webhook waiting `why` on `on` (of `tenant` only, if given) that
/// no job holds; how many.
pub async fn wake(
    db: &DatabaseConnection,
    queue: &Queue,
    why: Waiting,
    on: &str,
    tenant: Option<&str>,
) -> Result<u64, WakeError> {
    let mut woken = 0;
    // Each row once per call: one woken here may wait for the same reason again at once
    // (a limit), and must not be taken up again by the next chunk.
    let mut after = String::new();
    loop {
        let mut find = webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .column(webhook::Column::CreatedAt)
            .column(webhook::Column::Status)
            .filter(webhook::Column::WaitingFor.eq(why))
            .filter(webhook::Column::WaitingOn.eq(on))
            .filter(webhook::Column::ClaimedBy.is_null())
            .filter(webhook::Column::Id.gt(after.as_str()))
            .order_by_asc(webhook::Column::Id)
            .limit(CHUNK);
        if let Some(tenant) = tenant {
            find = find.filter(webhook::Column::TenantId.eq(tenant));
        }
        let rows = find.into_model::<Woken>().all(db).await?;
        let last = (rows.len() as u64) < CHUNK;
        let Some(last_row) = rows.last() else {
            return Ok(woken);
        };
        after = last_row.id.clone();
        woken += queue_again(db, queue, why, &rows).await?;
        if last {
            return Ok(woken);
        }
    }
}

/// Queues again now webhook `id`, if it waits `why` and no job holds it; whether it did.
pub async fn wake_one(
    db: &DatabaseConnection,
    queue: &Queue,
    why: Waiting,
    id: &str,
) -> Result<bool, WakeError> {
    let row = webhook::Entity::find_by_id(id)
        .select_only()
        .column(webhook::Column::Id)
        .column(webhook::Column::CreatedAt)
        .column(webhook::Column::Status)
        .into_model::<Woken>()
        .one(db)
        .await?;
    match row {
        Some(row) => Ok(queue_again(db, queue, why, &[row]).await? == 1),
        None => Ok(false),
    }
}

/// Makes each of `rows` that still waits `why` due now and pushes its job; how many: a
/// collection to the recollect queue's schedule, a delivery to the deliver queue's.
async fn queue_again(
    db: &DatabaseConnection,
    queue: &Queue,
    why: Waiting,
    rows: &[Woken],
) -> Result<u64, WakeError> {
    let now = Utc::now();
    let tasks: Vec<_> = rows
        .iter()
        .map(|row| Queue::task_id_waiting(now, row.created_at))
        .collect();
    let moved = requeue(db, why, rows, &tasks, now).await?;
    let mut woken = 0;
    for (row, task) in rows.iter().zip(tasks) {
        if !moved.contains(&row.id) {
            continue;
        }
        let webhook_id = row.id.clone();
        match row.status {
            WebhookStatus::Collecting => {
                let job = Recollect { webhook_id };
                queue.push_as(job, task, Some(now)).await?
            }
            _ => {
                let job = Deliver { webhook_id };
                queue.push_as(job, task, Some(now)).await?
            }
        }
        woken += 1;
    }
    Ok(woken)
}

/// Makes each of `rows` due now as its task of `tasks`, if it still waits `why` and no
/// job took it meanwhile; the ids moved.
async fn requeue(
    db: &DatabaseConnection,
    why: Waiting,
    rows: &[Woken],
    tasks: &[apalis::prelude::TaskId],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<String>, DbErr> {
    let backend = db.get_database_backend();
    let mut values: Vec<Value> = vec![now.into(), why.to_value().into()];
    for (row, task) in rows.iter().zip(tasks) {
        values.push(row.id.clone().into());
        values.push(task.to_string().into());
    }
    let sql = format!(
        "UPDATE webhooks SET next_run_at = {now}, queued_task = v.column2, updated_at = {now}, \
           waiting_for = NULL, waiting_on = NULL \
         FROM (VALUES {rows}) AS v \
         WHERE webhooks.id = v.column1 AND webhooks.waiting_for = {why} \
           AND webhooks.claimed_by IS NULL AND webhooks.id IN ({ids}) \
         RETURNING id",
        now = placeholder(backend, 1),
        why = placeholder(backend, 2),
        rows = values_rows(backend, rows.len(), 2, 3),
        ids = values_column(backend, rows.len(), 2, 3, 0),
    );
    let moved = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    moved
        .iter()
        .map(|row| row.try_get::<String>("", "id"))
        .collect()
}

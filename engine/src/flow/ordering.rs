//! Ordered delivery: a tenant's webhooks submitted with the same ordering key are
//! delivered one at a time, in submission order (ids are ULIDs, ordered by submission). Of
//! the key's unfinished webhooks (collecting or delivering) only the earliest may make an
//! attempt; the others wait without spending one. When a keyed webhook finishes (delivered
//! or parked) the earliest unfinished one is woken if it waits, and a webhook that just
//! started waiting checks again, so a finish that lands between its check and its wait is
//! not missed.

use entity::webhook::{self, Waiting};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::wake::{WakeError, wake_one};
use crate::queue::Queue;

#[derive(Debug, FromQueryResult)]
struct First {
    id: String,
    waiting_for: Option<Waiting>,
}

async fn first_unfinished(
    db: &DatabaseConnection,
    tenant: &str,
    key: &str,
) -> Result<Option<First>, DbErr> {
    webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Id)
        .column(webhook::Column::WaitingFor)
        .filter(webhook::Column::TenantId.eq(tenant))
        .filter(webhook::Column::OrderingKey.eq(key))
        // Written out, not bound, so the planner matches the partial index's own condition.
        .filter(Expr::cust("status IN ('collecting', 'delivering')"))
        .order_by_asc(webhook::Column::Id)
        .limit(1)
        .into_model::<First>()
        .one(db)
        .await
}

/// Whether webhook `id` of `tenant` must wait for an earlier one with ordering key `key`.
pub async fn must_wait(
    db: &DatabaseConnection,
    tenant: &str,
    key: &str,
    id: &str,
) -> Result<bool, DbErr> {
    Ok(first_unfinished(db, tenant, key)
        .await?
        .is_some_and(|first| first.id.as_str() < id))
}

/// Lets the next webhook of `tenant` with ordering key `key` go: the earliest unfinished
/// one, if it waits for its turn.
pub async fn release(
    db: &DatabaseConnection,
    queue: &Queue,
    tenant: &str,
    key: &str,
) -> Result<(), WakeError> {
    if let Some(first) = first_unfinished(db, tenant, key).await?
        && first.waiting_for == Some(Waiting::Ordering)
        && wake_one(db, queue, Waiting::Ordering, &first.id).await?
    {
        tracing::debug!(webhook = %first.id, %key, "its turn in the ordering key; queued");
    }
    Ok(())
}

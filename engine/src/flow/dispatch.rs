//! The dispatcher: in every worker process, every `TICK`, lets each tenant's collections
//! held for their turn into the collect queue, oldest first, as far as the tenant's share
//! has room. Several processes may dispatch at once: the shares are counted in one place
//! and each held row moves once.

use std::collections::HashMap;
use std::time::Duration;

use entity::webhook::{self, Waiting, WebhookStatus};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::sync::CancellationToken;

use super::Turns;
use super::wake::{WakeError, Woken, queue_again};
use crate::queue::Queue;

/// How often held collections are let in.
pub const TICK: Duration = Duration::from_millis(100);

/// The most of one tenant's collections let in by one tick.
const MOST: u64 = 1000;

/// How often a full share is checked against the database for ids no longer queued.
const AUDIT: Duration = Duration::from_secs(2);

/// When each tenant's full share was last checked.
pub type Audits = HashMap<String, tokio::time::Instant>;

/// Lets in what each tenant's share has room for; how many.
pub async fn dispatch(
    db: &DatabaseConnection,
    queue: &Queue,
    turns: &Turns,
    audits: &mut Audits,
) -> Result<u64, WakeError> {
    let tenants: Vec<(String, i64)> = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::WaitingOn)
        .column_as(
            Expr::expr(Func::count(Expr::col(webhook::Column::Id))),
            "held",
        )
        .filter(webhook::Column::WaitingFor.eq(Waiting::Turn))
        .group_by(webhook::Column::WaitingOn)
        .into_tuple()
        .all(db)
        .await?;
    let mut let_in = 0;
    for (tenant, held) in tenants {
        let mut room = turns.room(&tenant).await?.min(MOST);
        let audit_due = audits.get(&tenant).is_none_or(|at| at.elapsed() >= AUDIT);
        if room == 0 && audit_due {
            audits.insert(tenant.clone(), tokio::time::Instant::now());
            audit(db, turns, &tenant).await?;
            room = turns.room(&tenant).await?.min(MOST);
        }
        if room == 0 {
            turns.mark_held(&tenant, true).await?;
            continue;
        }
        let rows: Vec<Woken> = webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .column(webhook::Column::TenantId)
            .column(webhook::Column::CreatedAt)
            .column(webhook::Column::Status)
            .filter(webhook::Column::WaitingFor.eq(Waiting::Turn))
            .filter(webhook::Column::WaitingOn.eq(&tenant))
            .filter(webhook::Column::TenantId.eq(&tenant))
            .filter(webhook::Column::ClaimedBy.is_null())
            .order_by_asc(webhook::Column::Id)
            .limit(room)
            .into_model()
            .all(db)
            .await?;
        let ids: Vec<&str> = rows.iter().map(|w| w.id.as_str()).collect();
        let taken = turns.let_in(&tenant, &ids).await?;
        turns.mark_held(&tenant, (taken as i64) < held).await?;
        let_in += queue_again(db, queue, Waiting::Turn, &rows[..taken]).await?;
    }
    Ok(let_in)
}

/// Drops from `tenant`'s share the ids whose webhooks no longer wait to start: removed,
/// finished, or started without being counted out (the count failed). A share full of
/// such ids would otherwise hold the tenant's held collections until they went stale.
async fn audit(db: &DatabaseConnection, turns: &Turns, tenant: &str) -> Result<(), WakeError> {
    let members = turns.members(tenant).await?;
    if members.is_empty() {
        return Ok(());
    }
    let mut gone = Vec::new();
    for chunk in members.chunks(500) {
        let waiting: Vec<String> = webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .filter(webhook::Column::Id.is_in(chunk.iter().cloned()))
            .filter(webhook::Column::Status.eq(WebhookStatus::Collecting))
            .filter(webhook::Column::ClaimedBy.is_null())
            .filter(webhook::Column::WaitingFor.is_null())
            .into_tuple()
            .all(db)
            .await?;
        gone.extend(chunk.iter().filter(|id| !waiting.contains(id)).cloned());
    }
    if !gone.is_empty() {
        tracing::info!(%tenant, dropped = gone.len(), "ids no longer queued dropped from the tenant's share");
    }
    Ok(turns.forget(tenant, &gone).await?)
}

/// Dispatches every `TICK` until `cancel`; a failure is logged and retried next tick.
pub async fn run(db: DatabaseConnection, queue: Queue, turns: Turns, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut audits = Audits::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match dispatch(&db, &queue, &turns, &mut audits).await {
            Ok(let_in) => {
                if failing {
                    tracing::info!("letting held collections in works again");
                }
                failing = false;
                if let_in > 0 {
                    tracing::debug!(let_in, "held collections let into the collect queue");
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "could not let held collections in; retrying every tick");
                }
                failing = true;
            }
        }
    }
}

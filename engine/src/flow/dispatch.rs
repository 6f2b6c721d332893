//! The dispatcher: in every worker process, every `TICK`, lets each tenant's collections
//! held for their turn into the collect queue, oldest first, as far as the tenant's share
//! has room. Several processes may dispatch at once: the shares are counted in one place
//! and each held row moves once.

use std::time::Duration;

use entity::webhook::{self, Waiting};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::sync::CancellationToken;

use super::Turns;
use super::wake::{WakeError, Woken, queue_again};
use crate::queue::Queue;

/// How often held collections are let in.
pub const TICK: Duration = Duration::from_millis(100);

/// The most of one tenant's collections let in by one tick.
const MOST: u64 = 1000;

/// Lets in what each tenant's share has room for; how many.
pub async fn dispatch(
    db: &DatabaseConnection,
    queue: &Queue,
    turns: &Turns,
) -> Result<u64, WakeError> {
    let tenants: Vec<String> = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::WaitingOn)
        .filter(webhook::Column::WaitingFor.eq(Waiting::Turn))
        .group_by(webhook::Column::WaitingOn)
        .into_tuple()
        .all(db)
        .await?;
    let mut let_in = 0;
    for tenant in tenants {
        let room = turns.room(&tenant).await?.min(MOST);
        if room == 0 {
            continue;
        }
        let held: Vec<Woken> = webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .column(webhook::Column::TenantId)
            .column(webhook::Column::CreatedAt)
            .column(webhook::Column::Status)
            .filter(webhook::Column::WaitingFor.eq(Waiting::Turn))
            .filter(webhook::Column::WaitingOn.eq(&tenant))
            .filter(webhook::Column::ClaimedBy.is_null())
            .order_by_asc(webhook::Column::Id)
            .limit(room)
            .into_model()
            .all(db)
            .await?;
        let ids: Vec<&str> = held.iter().map(|w| w.id.as_str()).collect();
        let taken = turns.enter(&tenant, &ids).await?;
        let_in += queue_again(db, queue, Waiting::Turn, &held[..taken]).await?;
    }
    Ok(let_in)
}

/// Dispatches every `TICK` until `cancel`; a failure is logged and retried next tick.
pub async fn run(db: DatabaseConnection, queue: Queue, turns: Turns, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match dispatch(&db, &queue, &turns).await {
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

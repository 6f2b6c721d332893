//! The dispatcher: in every worker process, every `TICK`, lets each tenant's held
//! collections into the collect queue, oldest first, as far as the tenant's share has
//! room. Several processes may dispatch at once: the held lists are popped and the shares
//! counted in one script, so each held collection is let in once.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::TaskId;
use entity::webhook::{self, Waiting, WebhookStatus};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio_util::sync::CancellationToken;

use super::Turns;
use super::limiter::LimitError;
use super::turns::Held;
use crate::queue::{Queue, QueueError};
use crate::webhooks::Collect;

/// How often held collections are let in.
pub const TICK: Duration = Duration::from_millis(100);

/// The most of one tenant's collections let in by one tick.
const MOST: u64 = 1000;

/// How often a full share is checked against the database for ids no longer queued.
const AUDIT: Duration = Duration::from_secs(2);

/// When each tenant's full share was last checked.
pub type Audits = HashMap<String, tokio::time::Instant>;

/// Why a dispatch stopped part way; what was let in before stays let in.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The shares or held lists could not be read or changed.
    #[error(transparent)]
    Turns(#[from] LimitError),
    /// The database failed (checking a full share).
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A job could not be pushed: its collection waits for the sweeper.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Lets in what each holding tenant's share has room for; how many.
pub async fn dispatch(
    db: &DatabaseConnection,
    queue: &Queue,
    turns: &Turns,
    audits: &mut Audits,
) -> Result<u64, DispatchError> {
    let mut let_in = 0;
    for tenant in turns.holding().await? {
        let room = turns.room(&tenant).await?;
        let audit_due = audits.get(&tenant).is_none_or(|at| at.elapsed() >= AUDIT);
        if room == 0 && audit_due {
            audits.insert(tenant.clone(), tokio::time::Instant::now());
            audit(db, turns, &tenant).await?;
        }
        // Pushed together: one connection carries them all at once.
        let pushes = turns
            .let_in(&tenant, MOST)
            .await?
            .into_iter()
            .map(|held| push(queue, &tenant, held));
        for pushed in futures::future::join_all(pushes).await {
            pushed?;
            let_in += 1;
        }
    }
    Ok(let_in)
}

/// Queues the collection of `held`, let in for `tenant`.
async fn push(queue: &Queue, tenant: &str, held: Held) -> Result<(), QueueError> {
    let task = TaskId::from_str(&held.task).map_err(|e| QueueError::Push {
        queue: "collect",
        message: format!("task id `{}`: {e}", held.task),
    })?;
    let job = Collect {
        webhook_id: held.id,
        tenant_id: Some(tenant.to_owned()),
    };
    queue.push_as(job, task, None).await
}

/// Drops from `tenant`'s share the ids whose webhooks no longer wait to start: removed,
/// finished, or started without being counted out (the count failed). A share full of
/// such ids would otherwise hold the tenant's held collections until they went stale.
async fn audit(db: &DatabaseConnection, turns: &Turns, tenant: &str) -> Result<(), DispatchError> {
    let members = turns.members(tenant).await?;
    let mut gone = Vec::new();
    for chunk in members.chunks(500) {
        let waiting: Vec<String> = webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .filter(webhook::Column::Id.is_in(chunk.iter().cloned()))
            .filter(webhook::Column::Status.eq(WebhookStatus::Collecting))
            .filter(webhook::Column::ClaimedBy.is_null())
            // Let in but not started yet: still marked as having waited for its turn.
            .filter(
                Condition::any()
                    .add(webhook::Column::WaitingFor.is_null())
                    .add(webhook::Column::WaitingFor.eq(Waiting::Turn)),
            )
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

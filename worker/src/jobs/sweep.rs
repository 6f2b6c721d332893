//! The sweeper: queues again every unfinished webhook and every active stream whose job
//! went missing (a crash between the database write and the push, a worker killed mid-job,
//! a lost queue).

use std::time::Duration;

use chrono::Utc;
use entity::{stream, webhook};
use openapi::webhooks::WebhookStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::{IntervalJob, JobContext, JobError};
use crate::backend::Job;
use crate::config::WorkerConfig;
use crate::metrics;
use crate::streams;
use crate::webhooks::{Collect, Deliver};

/// Most webhooks (and streams) re-queued by one sweep; the next sweep takes the rest.
const BATCH: u64 = 1000;

/// The sweep of one interval slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// The slot (unix seconds) it was claimed for.
    pub slot: i64,
}

impl Job for Sweep {
    const QUEUE: &'static str = "sweep";
}

impl IntervalJob for Sweep {
    const NAME: &'static str = "sweep";

    fn for_slot(slot: i64) -> Self {
        Sweep { slot }
    }

    fn slot(&self) -> i64 {
        self.slot
    }

    fn interval(config: &WorkerConfig) -> Duration {
        config.webhooks.sweep_interval
    }

    async fn work(ctx: &JobContext) -> Result<u64, JobError> {
        let webhooks = webhooks(ctx).await?;
        metrics::swept("webhook", webhooks);
        let streams = streams(ctx).await?;
        metrics::swept("stream", streams);
        Ok(webhooks + streams)
    }
}

/// Re-queues unfinished webhooks whose job is overdue.
async fn webhooks(ctx: &JobContext) -> Result<u64, JobError> {
    let now = Utc::now();
    let overdue = now - ctx.config.webhooks.sweep_grace;
    let stranded = webhook::Entity::find()
        .filter(webhook::Column::Status.is_in([
            WebhookStatus::Collecting.as_str(),
            WebhookStatus::Delivering.as_str(),
        ]))
        .filter(
            Condition::any()
                .add(webhook::Column::NextRunAt.is_null())
                .add(webhook::Column::NextRunAt.lt(overdue)),
        )
        .order_by_asc(webhook::Column::NextRunAt)
        .limit(BATCH)
        .all(&ctx.db)
        .await?;
    let mut requeued = 0;
    for stray in stranded {
        // Only if nothing touched it since it was read: a job may have just claimed it.
        let unchanged = webhook::Column::NextRunAt.eq(stray.next_run_at);
        let unchanged = match stray.next_run_at {
            Some(_) => Condition::all().add(unchanged),
            None => Condition::all().add(webhook::Column::NextRunAt.is_null()),
        };
        let taken = webhook::Entity::update_many()
            .col_expr(webhook::Column::NextRunAt, Expr::value(Some(now)))
            .col_expr(webhook::Column::ClaimedBy, Expr::value(None::<String>))
            .filter(webhook::Column::Id.eq(&stray.id))
            .filter(webhook::Column::Status.eq(&stray.status))
            .filter(unchanged)
            .exec(&ctx.db)
            .await?;
        if taken.rows_affected == 0 {
            continue;
        }
        let webhook_id = stray.id.clone();
        if stray.status == WebhookStatus::Collecting.as_str() {
            ctx.queue.push(Collect { webhook_id }).await?;
        } else {
            ctx.queue.push(Deliver { webhook_id }).await?;
        }
        tracing::warn!(webhook = %stray.id, status = %stray.status, "webhook's job went missing; queued again");
        requeued += 1;
    }
    Ok(requeued)
}

/// Re-arms active streams whose next run is overdue: one run now, for the latest due slot.
async fn streams(ctx: &JobContext) -> Result<u64, JobError> {
    let now = Utc::now().timestamp();
    let overdue = now - ctx.config.webhooks.sweep_grace.as_secs() as i64;
    let stranded = stream::Entity::find()
        .filter(stream::Column::Status.eq(streams::ACTIVE))
        .filter(
            Condition::any()
                .add(stream::Column::NextRunAt.is_null())
                .add(stream::Column::NextRunAt.lt(overdue)),
        )
        .order_by_asc(stream::Column::NextRunAt)
        .limit(BATCH)
        .all(&ctx.db)
        .await?;
    let mut rearmed = 0;
    for stray in stranded {
        let slot = streams::slot_at(stray.anchor_at, stray.interval_seconds, now);
        let unchanged = match stray.next_run_at {
            Some(at) => stream::Column::NextRunAt.eq(at),
            None => stream::Column::NextRunAt.is_null(),
        };
        let taken = stream::Entity::update_many()
            .col_expr(stream::Column::NextRunAt, Expr::value(Some(slot)))
            .filter(stream::Column::Id.eq(&stray.id))
            .filter(stream::Column::Status.eq(streams::ACTIVE))
            .filter(unchanged)
            .exec(&ctx.db)
            .await?;
        if taken.rows_affected == 0 {
            continue;
        }
        let tick = streams::StreamTick {
            stream_id: stray.id.clone(),
            slot,
        };
        ctx.queue.push(tick).await?;
        tracing::warn!(stream = %stray.id, slot, "stream's next run went missing; re-armed");
        rearmed += 1;
    }
    Ok(rearmed)
}

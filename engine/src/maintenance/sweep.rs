//! The sweeper: queues again every unfinished webhook and every active stream whose job
//! went missing (a crash between the database write and the push, a worker killed mid-job,
//! a lost queue). A webhook records the task its next job was pushed as; one whose task is
//! still queued is a backlog, not a loss, and is left alone, so a backlog is never pushed
//! twice.

use std::time::Duration;

use chrono::Utc;
use entity::stream::StreamStatus;
use entity::stream_batch::BatchStatus;
use entity::webhook::WebhookStatus;
use entity::{stream, stream_batch, webhook};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::config::WorkerConfig;
use crate::context::JobContext;
use crate::error::JobError;
use crate::lifecycle::transition;
use crate::metrics;
use crate::periodic::Periodic;
use crate::queue::Queue;
use crate::streams;
use crate::webhooks::lease::{self, Move};
use crate::webhooks::{Collect, Deliver, Recollect};

/// The error of a stream run whose worker died before it finished.
const ABANDONED: &str = "the run stopped before it finished (its worker died)";

/// Most webhooks (and streams) re-queued by one sweep; the next sweep takes the rest.
const BATCH: u64 = 1000;

/// The sweep: webhooks and streams whose job went missing queued again.
pub struct Sweep;

impl Periodic for Sweep {
    const NAME: &'static str = "sweep";
    const QUEUE: &'static str = "sweep";

    fn interval(config: &WorkerConfig) -> Duration {
        config.maintenance.sweep_interval
    }

    async fn work(ctx: &JobContext) -> Result<u64, JobError> {
        let webhooks = webhooks(ctx).await?;
        metrics::swept("webhook", webhooks);
        let streams = streams(ctx).await?;
        metrics::swept("stream", streams);
        let runs = abandoned_runs(ctx).await?;
        metrics::swept("stream_run", runs);
        Ok(webhooks + streams + runs)
    }
}

/// Re-queues unfinished webhooks whose job is overdue.
async fn webhooks(ctx: &JobContext) -> Result<u64, JobError> {
    let now = Utc::now();
    let overdue = now - ctx.config.maintenance.sweep_grace;
    let stranded = webhook::Entity::find()
        .filter(
            webhook::Column::Status.is_in([WebhookStatus::Collecting, WebhookStatus::Delivering]),
        )
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
        let collecting = stray.status == WebhookStatus::Collecting;
        if let Some(task) = &stray.queued_task {
            // A backlog, not a loss: its job is still queued (or running, or held by a
            // dead worker, which apalis hands to a live one).
            let live = if collecting {
                ctx.queue.is_live::<Collect>(task).await?
                    || ctx.queue.is_live::<Recollect>(task).await?
            } else {
                ctx.queue.is_live::<Deliver>(task).await?
            };
            if live {
                tracing::debug!(webhook = %stray.id, task, "overdue but its job is still queued");
                continue;
            }
        }
        // Only if nothing touched it since it was read: a job may have just claimed it.
        let unchanged = match stray.next_run_at {
            Some(at) => webhook::Column::NextRunAt.eq(at),
            None => webhook::Column::NextRunAt.is_null(),
        };
        let next = Queue::task_id();
        let requeue = Move::Requeue {
            next: next.to_string(),
        };
        let update = requeue
            .update(now)?
            .filter(webhook::Column::Id.eq(&stray.id))
            .filter(webhook::Column::Status.eq(stray.status))
            .filter(unchanged);
        if !lease::made(update, &ctx.db).await? {
            continue;
        }
        let webhook_id = stray.id.clone();
        if collecting {
            let tenant_id = Some(stray.tenant_id.clone());
            let job = Collect {
                webhook_id,
                tenant_id,
            };
            ctx.queue.push_as(job, next, None).await?;
        } else {
            ctx.queue
                .push_as(Deliver { webhook_id }, next, None)
                .await?;
        }
        tracing::warn!(webhook = %stray.id, status = ?stray.status, "webhook's job went missing; queued again");
        requeued += 1;
    }
    Ok(requeued)
}

/// Re-arms active streams whose next run is overdue: one run now, for the latest due slot.
async fn streams(ctx: &JobContext) -> Result<u64, JobError> {
    let now = Utc::now().timestamp();
    let overdue = now - ctx.config.maintenance.sweep_grace.as_secs() as i64;
    let stranded = stream::Entity::find()
        .filter(stream::Column::Status.eq(StreamStatus::Active))
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
            .filter(stream::Column::Status.eq(StreamStatus::Active))
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

/// Finishes as `failed` every stream run still `running` long after any run could have
/// ended (its worker died mid-way), so its batch does not stay `running` forever. The
/// stream's next run was queued before the provider was called, or the sweep above re-arms
/// it.
async fn abandoned_runs(ctx: &JobContext) -> Result<u64, JobError> {
    let now = Utc::now();
    let longest = ctx.config.worker_job_timeout + ctx.config.maintenance.sweep_grace;
    let finished = transition(
        stream_batch::Entity::update_many(),
        stream_batch::Column::Status,
        &[BatchStatus::Running],
        BatchStatus::Failed,
    )?
    .col_expr(
        stream_batch::Column::Error,
        Expr::value(Some(ABANDONED.to_owned())),
    )
    .col_expr(stream_batch::Column::FinishedAt, Expr::value(Some(now)))
    .filter(stream_batch::Column::StartedAt.lt(now - longest))
    .exec(&ctx.db)
    .await?;
    if finished.rows_affected > 0 {
        tracing::warn!(
            runs = finished.rows_affected,
            "stream runs abandoned by their worker finished as failed"
        );
    }
    Ok(finished.rows_affected)
}

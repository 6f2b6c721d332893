//! The stream run: one per slot (the batch row's unique key decides), the next slot queued
//! before the provider is called, and the provider skipped while it is down.

use apalis::prelude::{AbortError, Data};
use chrono::{DateTime, Utc};
use entity::stream::{self, StreamStatus};
use entity::stream_batch::{self, BatchStatus};
use opentelemetry::KeyValue;
use sea_orm::ActiveEnum;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TryInsertResult};

use crate::context::JobContext;
use crate::error::{JobError, retry_transient};
use crate::lifecycle::transition;
use crate::metrics;
use crate::providers::{Admission, FetchError, client};
use crate::streams::{StreamTick, slot_after, slot_time};

/// The handler of `StreamTick`. A failure ends the task; the sweeper re-arms the stream.
pub async fn run(job: StreamTick, ctx: Data<JobContext>) -> Result<(), AbortError> {
    retry_transient("stream_tick", || tick(&ctx, &job))
        .await
        .map_err(|error| {
        tracing::error!(stream = %job.stream_id, slot = job.slot, %error, "stream run failed; the sweeper will re-arm it");
        AbortError::new(error)
    })
}

async fn tick(ctx: &JobContext, job: &StreamTick) -> Result<(), JobError> {
    let Some(stream) = stream::Entity::find_by_id(&job.stream_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    if stream.status != StreamStatus::Active {
        tracing::debug!(stream = %stream.id, "stream stopped; its queued run does nothing");
        return Ok(());
    }
    let now = Utc::now();
    if !claim(ctx, &stream.id, job.slot, now).await? {
        tracing::debug!(stream = %stream.id, slot = job.slot, "slot already ran");
        return Ok(());
    }
    // The next run is queued first, so a crash below cannot end the stream.
    if !arm_next(ctx, &stream, job.slot, now).await? {
        return finish(
            ctx,
            &stream.id,
            job.slot,
            BatchStatus::Skipped,
            None,
            Some("the stream was stopped"),
        )
        .await;
    }
    fetch_slot(ctx, &stream, job.slot).await
}

/// Claims `slot` by inserting its batch: a second run of the slot gets `false`.
async fn claim(
    ctx: &JobContext,
    stream_id: &str,
    slot: i64,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    let claimed = stream_batch::Entity::insert(stream_batch::ActiveModel {
        stream_id: Set(stream_id.to_owned()),
        slot: Set(slot),
        status: Set(BatchStatus::Running),
        started_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([stream_batch::Column::StreamId, stream_batch::Column::Slot])
    .exec_without_returning(&ctx.db)
    .await?;
    Ok(matches!(claimed, TryInsertResult::Inserted(n) if n > 0))
}

/// Queues the run of the slot after `slot`, unless the stream was stopped meanwhile
/// (`false`). Missed slots (workers down) are not replayed: the next one is after now.
async fn arm_next(
    ctx: &JobContext,
    stream: &stream::Model,
    slot: i64,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    let next = slot_after(
        stream.anchor_at,
        stream.interval_seconds,
        now.timestamp().max(slot),
    );
    let armed = stream::Entity::update_many()
        .col_expr(stream::Column::NextRunAt, Expr::value(Some(next)))
        .col_expr(stream::Column::UpdatedAt, Expr::value(now))
        .filter(stream::Column::Id.eq(&stream.id))
        .filter(stream::Column::Status.eq(StreamStatus::Active))
        .exec(&ctx.db)
        .await?;
    if armed.rows_affected == 0 {
        return Ok(false);
    }
    let tick = StreamTick {
        stream_id: stream.id.clone(),
        slot: next,
    };
    ctx.queue.push_at(tick, slot_time(next)).await?;
    Ok(true)
}

/// Fetches the stream's provider for `slot` (unless it is down) and stores what came.
async fn fetch_slot(ctx: &JobContext, stream: &stream::Model, slot: i64) -> Result<(), JobError> {
    let Some(provider) = ctx.providers.get(&stream.provider) else {
        let reason = format!("provider `{}` is no longer configured", stream.provider);
        return finish(
            ctx,
            &stream.id,
            slot,
            BatchStatus::Failed,
            None,
            Some(&reason),
        )
        .await;
    };
    let admission = ctx.health.admit(provider).await?;
    if let Admission::Wait(until) = admission {
        let reason = format!(
            "provider `{}` is down; next probe at {until}",
            provider.name
        );
        finish(
            ctx,
            &stream.id,
            slot,
            BatchStatus::Skipped,
            None,
            Some(&reason),
        )
        .await?;
        return prune(ctx, &stream.id).await;
    }
    // A trace of its own per tick.
    let about = KeyValue::new("datahog.stream.id", stream.id.clone());
    let result = ctx.client.fetch(provider, &ctx.traces, None, about).await;
    match &result {
        Ok(data) => {
            finish(
                ctx,
                &stream.id,
                slot,
                BatchStatus::Complete,
                Some(data),
                None,
            )
            .await?
        }
        Err(error) => {
            // A provider asking to be called later is up: this run is skipped, not failed.
            let status = match error {
                FetchError::Busy { .. } => BatchStatus::Skipped,
                _ => BatchStatus::Failed,
            };
            let reason = error.to_string();
            finish(ctx, &stream.id, slot, status, None, Some(&reason)).await?;
        }
    }
    ctx.health
        .settle(provider, admission, client::answered(&result))
        .await?;
    prune(ctx, &stream.id).await
}

/// Ends the run of `slot`: the batch becomes visible in one update.
async fn finish(
    ctx: &JobContext,
    stream_id: &str,
    slot: i64,
    status: BatchStatus,
    data: Option<&str>,
    error: Option<&str>,
) -> Result<(), JobError> {
    let ended = transition(
        stream_batch::Entity::update_many(),
        stream_batch::Column::Status,
        &[BatchStatus::Running],
        status,
    )?
    .col_expr(
        stream_batch::Column::Data,
        Expr::value(data.map(str::to_owned)),
    )
    .col_expr(
        stream_batch::Column::Error,
        Expr::value(error.map(str::to_owned)),
    )
    .col_expr(
        stream_batch::Column::FinishedAt,
        Expr::value(Some(Utc::now())),
    )
    .filter(stream_batch::Column::StreamId.eq(stream_id))
    .filter(stream_batch::Column::Slot.eq(slot))
    .exec(&ctx.db)
    .await?;
    if ended.rows_affected == 0 {
        tracing::warn!(stream = %stream_id, slot, ?status, "the run was already finished as abandoned; its result is dropped");
        return Ok(());
    }
    let status = status.to_value();
    metrics::stream_run(status.clone());
    match error {
        Some(reason) => {
            tracing::warn!(stream = %stream_id, slot, %status, reason, "stream run ended")
        }
        None => tracing::info!(stream = %stream_id, slot, "stream batch stored"),
    }
    Ok(())
}

/// Keeps the newest `STREAM_RETENTION` batches of the stream, and its latest complete one.
async fn prune(ctx: &JobContext, stream_id: &str) -> Result<(), JobError> {
    let keep = ctx.config.streams.stream_retention;
    crate::maintenance::prune::prune_batches_of(&ctx.db, stream_id, keep).await?;
    Ok(())
}

//! The collect job: fetch every provider a webhook still lacks, keep each result the
//! moment it arrives, and come back when the providers it waits for are due.

use std::time::Duration;

use apalis::prelude::{AbortError, Data, TaskId};
use chrono::{DateTime, Utc};
use entity::webhook::{Waiting, WebhookOutcome, WebhookStatus};
use entity::webhook_provider::ProviderStatus;
use entity::{webhook, webhook_provider};
use openapi::webhooks::Outcome;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveEnum as _, ColumnTrait, DbBackend, EntityTrait, QueryFilter, TransactionTrait, UpdateMany,
};

use crate::context::JobContext;
use crate::error::JobError;
use crate::flow;
use crate::lifecycle::transition;
use crate::metrics;
use crate::providers::Admission;
use crate::providers::client::{self, FetchError};
use crate::queue::Queue;
use crate::webhooks::deliver::Gate;
use crate::webhooks::{self, Collect, Deliver, Recollect, group_commit, handler, lease};

/// Beyond the slowest provider's timeout, how long a collection holds its webhook.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// What came of one provider.
enum Fetch {
    /// Its data is stored.
    Stored,
    /// Not yet: try again at this time, waiting on the provider (or retrying a failure).
    Later(DateTime<Utc>, Option<lease::Wait>),
}

/// The handler of `Collect`: the webhook leaves its tenant's share of the queue as it
/// starts, so the next one waiting its turn may be let in.
pub async fn run(job: Collect, ctx: Data<JobContext>, task: TaskId) -> Result<(), AbortError> {
    if let Some(tenant) = &job.tenant_id {
        ctx.flow.turns.leave(tenant, &job.webhook_id);
    }
    run_for(job.webhook_id, ctx, task).await
}

/// The handler of `Recollect`: the same collection, from its own queue.
pub async fn run_again(
    job: Recollect,
    ctx: Data<JobContext>,
    task: TaskId,
) -> Result<(), AbortError> {
    run_for(job.webhook_id, ctx, task).await
}

async fn run_for(id: String, ctx: Data<JobContext>, task: TaskId) -> Result<(), AbortError> {
    let failed = "collection failed; the sweeper will queue it again";
    let step: handler::Step = |ctx, id, task| Box::pin(collect(ctx, id, task));
    handler::handle("collect", step, ctx, id, task, failed).await
}

async fn collect(ctx: &JobContext, id: &str, task: &str) -> Result<(), JobError> {
    let slowest = ctx.providers.iter().map(|p| p.timeout).max();
    let lease = slowest.unwrap_or_default() + LEASE_MARGIN;
    let claim = lease::Claim {
        id: id.to_owned(),
        status: WebhookStatus::Collecting,
        task: task.to_owned(),
        lease,
        with_providers: true,
    };
    let Some(lease::Claimed {
        webhook,
        providers: mut rows,
    }) = ctx.group_commit.claim(claim).await?
    else {
        // Collected already: by a run of this task that died before its delivery ended (it
        // goes on, under the same task), or by another job (then there is nothing to do).
        return super::deliver::deliver(ctx, id, task).await;
    };
    let span = ctx.traces.span(
        "collect",
        SpanKind::Internal,
        webhook.traceparent.as_deref(),
        || vec![KeyValue::new("datahog.webhook.id", id.to_owned())],
    );
    let traceparent = span.traceparent();
    let pending = rows
        .iter()
        .filter(|row| row.status == ProviderStatus::Pending)
        .count();

    // The soonest provider to try again, and what it waits on.
    let mut next: Option<(DateTime<Utc>, Option<lease::Wait>)> = None;
    let in_time = Utc::now() < webhook.deadline_at;
    if in_time {
        let fetches = rows
            .iter_mut()
            .filter(|row| row.status == ProviderStatus::Pending)
            .map(|row| fetch(ctx, row, traceparent.as_deref()));
        for fetched in futures::future::join_all(fetches).await {
            if let Fetch::Later(at, wait) = fetched?
                && next.as_ref().is_none_or(|(n, _)| at < *n)
            {
                next = Some((at, wait));
            }
        }
    }

    match next {
        None if in_time || pending == 0 => {
            finish(ctx, &webhook, &rows, task, Outcome::Completed).await
        }
        Some((at, wait)) if Utc::now() < webhook.deadline_at => {
            // Past the deadline it no longer waits on anything: it ends then.
            let (at, wait) = if at >= webhook.deadline_at {
                (webhook.deadline_at, None)
            } else {
                (at, wait)
            };
            let next = Queue::task_id_waiting(at, webhook.created_at);
            let paused = wait
                .as_ref()
                .filter(|w| w.why == Waiting::ProviderPaused)
                .map(|w| w.on.clone());
            let snooze = lease::Move::Snooze {
                at,
                next: next.to_string(),
                wait,
            };
            if snooze.make(&ctx.db, id, task).await? {
                tracing::info!(webhook = %id, next = %at, "providers missing; collection continues later");
                let job = Recollect {
                    webhook_id: id.to_owned(),
                };
                ctx.queue.push_as(job, next, Some(at)).await?;
                // Resumed between this job's look at the settings (up to a second old) and
                // its wait: the resume's wake missed it.
                if let Some(provider) = paused
                    && !flow::manage::provider_paused(&ctx.db, &provider).await?
                {
                    let why = Waiting::ProviderPaused;
                    flow::wake::wake_one(&ctx.db, &ctx.queue, why, id).await?;
                }
            } else {
                tracing::warn!(webhook = %id, "lease lost before the collection was handed back; leaving it to its holder");
            }
            Ok(())
        }
        _ => finish(ctx, &webhook, &rows, task, Outcome::Failed).await,
    }
}

/// Fetches one provider for one webhook, unless its health says to wait; `row` follows
/// what is stored. The request is a span of the collection's (`traceparent`).
async fn fetch(
    ctx: &JobContext,
    row: &mut webhook_provider::Model,
    traceparent: Option<&str>,
) -> Result<Fetch, JobError> {
    let Some(provider) = ctx.providers.get(&row.provider) else {
        let error = format!("provider `{}` is no longer configured", row.provider);
        store_failure(ctx, row, &error).await?;
        let retry = ctx.config.providers.provider_cooldown_max;
        return Ok(Fetch::Later(Utc::now() + retry, None));
    };
    let waits = |why: Waiting, at: DateTime<Utc>| {
        metrics::collection_deferred(why);
        let on = provider.name.clone();
        Ok(Fetch::Later(at, Some(lease::Wait { why, on })))
    };
    let control = ctx.flow.controls.provider(&provider.name).await;
    if control.is_some_and(|c| c.paused) {
        tracing::debug!(webhook = %row.webhook_id, provider = %provider.name, "provider paused; waiting");
        let at = flow::recheck_at();
        return waits(Waiting::ProviderPaused, at);
    }
    let mut limited = None;
    if let Some(limits) = control.map(|c| c.limits).filter(|l| !l.is_none()) {
        let key = flow::provider_key(&provider.name);
        match ctx
            .flow
            .limiter
            .acquire(&key, limits, provider.timeout + LEASE_MARGIN)
            .await?
        {
            flow::Grant::Go { after, slot } => {
                tokio::time::sleep(after).await;
                limited = slot;
            }
            flow::Grant::Wait(wait) => {
                tracing::debug!(webhook = %row.webhook_id, provider = %provider.name, ?wait, "provider at its limit; waiting");
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                return waits(Waiting::ProviderLimit, at);
            }
        }
    }
    let admission = ctx.health.admit(provider).await?;
    if let Admission::Wait(until) = admission {
        tracing::debug!(webhook = %row.webhook_id, provider = %provider.name, %until, "provider down; waiting");
        return waits(Waiting::ProviderDown, until);
    }
    let probe = admission == Admission::Probe;
    let about = KeyValue::new("datahog.webhook.id", row.webhook_id.clone());
    let result = ctx
        .client
        .fetch(provider, &ctx.traces, traceparent, about)
        .await;
    drop(limited);
    // The result is stored before anything else can fail.
    match &result {
        Ok(data) => store_data(ctx, row, data).await?,
        Err(error) => store_failure(ctx, row, &error.to_string()).await?,
    }
    ctx.health
        .settle(provider, admission, client::answered(&result))
        .await?;
    match result {
        Ok(data) => {
            tracing::info!(webhook = %row.webhook_id, provider = %provider.name, probe, "provider data stored");
            row.status = ProviderStatus::Fetched;
            row.data = Some(data);
            Ok(Fetch::Stored)
        }
        // It asked to be called later: a wait, as for a probe, not a failure.
        Err(error @ FetchError::Busy { retry_after, .. }) => {
            let wait = Ord::min(retry_after, ctx.config.providers.provider_cooldown_max);
            row.last_error = Some(error.to_string());
            tracing::info!(webhook = %row.webhook_id, provider = %provider.name, ?wait, "provider asked to be called later; waiting without a failure");
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            waits(Waiting::ProviderBusy, at)
        }
        Err(error) => {
            row.last_error = Some(error.to_string());
            tracing::warn!(webhook = %row.webhook_id, provider = %provider.name, probe, %error, "provider fetch failed");
            Ok(Fetch::Later(ctx.health.retry_at(provider).await?, None))
        }
    }
}

/// Keeps a provider's data (with other jobs' results arriving meanwhile); a row that
/// already has data is never overwritten.
async fn store_data(
    ctx: &JobContext,
    row: &webhook_provider::Model,
    data: &str,
) -> Result<(), JobError> {
    let fetched = group_commit::Fetched {
        webhook_id: row.webhook_id.clone(),
        provider: row.provider.clone(),
        data: data.to_owned(),
    };
    Ok(ctx.group_commit.store(fetched).await?)
}

async fn store_failure(
    ctx: &JobContext,
    row: &webhook_provider::Model,
    error: &str,
) -> Result<(), JobError> {
    webhook_provider::Entity::update_many()
        .col_expr(
            webhook_provider::Column::LastError,
            Expr::value(Some(error.to_owned())),
        )
        .col_expr(
            webhook_provider::Column::Attempts,
            Expr::col(webhook_provider::Column::Attempts).add(1),
        )
        .col_expr(webhook_provider::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(webhook_provider::Column::WebhookId.eq(&row.webhook_id))
        .filter(webhook_provider::Column::Provider.eq(&row.provider))
        .filter(webhook_provider::Column::Status.eq(ProviderStatus::Pending))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Ends the collection: freezes the callback body and queues its delivery. `rows` are the
/// provider rows as stored: under the lease, only this job changes them.
async fn finish(
    ctx: &JobContext,
    webhook: &webhook::Model,
    rows: &[webhook_provider::Model],
    task: &str,
    outcome: Outcome,
) -> Result<(), JobError> {
    let now = Utc::now();
    let body = webhooks::callback_body(webhook, rows, outcome, now);
    let payload = serde_json::to_string(&body).map_err(|e| JobError::Payload(e.to_string()))?;
    let end = End {
        outcome,
        now,
        payload,
        attempts: ctx.config.webhooks.delivery_schedule.len() as i32,
    };
    let first = ctx.config.webhooks.delivery_schedule[0];
    // A first attempt due now is made by this job, under its own task and lease: one queue
    // hop and one claim fewer.
    let inline = first.is_zero();
    if inline
        && outcome == Outcome::Completed
        && ctx.db.get_database_backend() == DbBackend::Postgres
    {
        return finish_delivering(ctx, webhook, task, end).await;
    }
    let next = (!inline).then(|| Queue::task_id_due(now + first));
    let collected = match &next {
        Some(next) => lease::Move::Collected {
            at: now + first,
            next: next.to_string(),
            wait: None,
        },
        None => lease::Move::CollectedHeld {
            until: now + super::deliver::lease(ctx),
            task: task.to_owned(),
        },
    };
    let move_on = end
        .columns(collected.update(now)?)
        .filter(lease::held_by(&webhook.id, task));
    // One statement when every provider is in; a transaction only to mark the missing ones.
    let moved = if outcome == Outcome::Failed {
        let txn = ctx.db.begin().await?;
        let moved = move_on.exec_with_returning(&txn).await?.pop();
        if moved.is_some() {
            transition(
                webhook_provider::Entity::update_many(),
                webhook_provider::Column::Status,
                &[ProviderStatus::Pending],
                ProviderStatus::Failed,
            )?
            .col_expr(webhook_provider::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_provider::Column::WebhookId.eq(&webhook.id))
            .exec(&txn)
            .await?;
            txn.commit().await?;
        }
        moved
    } else {
        move_on.exec_with_returning(&ctx.db).await?.pop()
    };
    let Some(moved) = moved else {
        return lease_lost(&webhook.id);
    };
    ended(&webhook.id, outcome);
    let Some(next) = next else {
        return super::deliver::attempt(ctx, moved, task).await;
    };
    let job = Deliver {
        webhook_id: webhook.id.clone(),
    };
    ctx.queue.push_as(job, next, Some(now + first)).await?;
    Ok(())
}

/// What a collection's end writes on its webhook, whatever the lease does next.
struct End {
    outcome: Outcome,
    now: DateTime<Utc>,
    payload: String,
    attempts: i32,
}

impl End {
    /// `webhook` as the collection's end leaves it: delivering, with its body frozen.
    fn applied_to(&self, webhook: &webhook::Model) -> webhook::Model {
        webhook::Model {
            status: WebhookStatus::Delivering,
            outcome: Some(WebhookOutcome::from(self.outcome)),
            collected_at: Some(self.now),
            payload: Some(self.payload.clone()),
            attempt_limit: self.attempts,
            ..webhook.clone()
        }
    }

    /// `update` (a lease's move) with the collection's end set.
    fn columns(&self, update: UpdateMany<webhook::Entity>) -> UpdateMany<webhook::Entity> {
        update
            .col_expr(
                webhook::Column::Outcome,
                Expr::value(Some(WebhookOutcome::from(self.outcome))),
            )
            .col_expr(webhook::Column::CollectedAt, Expr::value(Some(self.now)))
            .col_expr(
                webhook::Column::Payload,
                Expr::value(Some(self.payload.clone())),
            )
            .col_expr(webhook::Column::AttemptLimit, Expr::value(self.attempts))
    }
}

/// Ends a complete collection whose first attempt is due now (Postgres): the receiver is
/// asked first, so the end and the attempt's `in_flight` row are one statement; a receiver
/// that is down makes the first attempt wait for its probe, queued with the end.
async fn finish_delivering(
    ctx: &JobContext,
    webhook: &webhook::Model,
    task: &str,
    end: End,
) -> Result<(), JobError> {
    let id = webhook.id.as_str();
    let now = end.now;
    let mut moved = end.applied_to(webhook);
    let admitted = match super::deliver::admit(ctx, &moved).await? {
        Gate::Go(admitted) => admitted,
        Gate::Wait { at, wait } => {
            let next = Queue::task_id_waiting(at, moved.created_at);
            let why = wait.why;
            let collected = lease::Move::Collected {
                at,
                next: next.to_string(),
                wait: Some(wait),
            };
            let update = end
                .columns(collected.update(now)?)
                .filter(lease::held_by(id, task));
            if !lease::made(update, &ctx.db).await? {
                return lease_lost(id);
            }
            ended(id, end.outcome);
            metrics::delivery_deferred(why);
            tracing::debug!(webhook = %id, next = %at, reason = why.to_value(), "the first attempt waits");
            let job = Deliver {
                webhook_id: id.to_owned(),
            };
            ctx.queue.push_as(job, next, Some(at)).await?;
            return super::deliver::held(ctx, &moved, why).await;
        }
    };
    let until = now + super::deliver::lease(ctx);
    let begin = group_commit::Begin {
        webhook_id: id.to_owned(),
        task: task.to_owned(),
        until,
        collected_at: now,
        payload: end.payload,
        attempt_limit: end.attempts,
        trigger: moved.delivery_trigger,
        url: moved.callback_url.clone(),
    };
    let Some(attempt_id) = ctx.group_commit.begin(begin).await? else {
        return lease_lost(id);
    };
    ended(id, end.outcome);
    moved.delivery_attempts = 1;
    moved.next_run_at = Some(until);
    moved.claimed_by = Some(task.to_owned());
    moved.queued_task = Some(task.to_owned());
    moved.updated_at = now;
    super::deliver::post(ctx, &moved, 1, task, admitted, attempt_id).await
}

/// Logs that the lease went to another holder before the collection ended; nothing to do.
fn lease_lost(id: &str) -> Result<(), JobError> {
    tracing::warn!(webhook = %id, "lease lost before the collection ended; leaving it to its holder");
    Ok(())
}

fn ended(id: &str, outcome: Outcome) {
    tracing::info!(webhook = %id, outcome = outcome.as_str(), "collection ended; delivering");
    metrics::collection_ended(outcome.as_str());
}

//! The deliver job: one signed POST of a webhook's frozen callback body, recorded as an
//! attempt; then delivered, parked, or the next attempt queued for its time.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{AbortError, Data, TaskId};
use chrono::{DateTime, Utc};
use entity::webhook::{self, Waiting, WebhookStatus};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use sea_orm::ActiveEnum as _;
use sea_orm::{ConnectionTrait, DbBackend, QueryFilter, QueryTrait, TransactionTrait};

use crate::context::JobContext;
use crate::delivery::AttemptResult;
use crate::delivery::receivers;
use crate::delivery::signature::Secret;
use crate::error::JobError;
use crate::flow;
use crate::metrics;
use crate::queue::Queue;
use crate::traces::{self, Traced};
use crate::webhooks::verdict::Verdict;
use crate::webhooks::{Deliver, attempt, group_commit, handler, lease};

/// Beyond the delivery timeout, how long an attempt holds its webhook.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The handler of `Deliver`. A failure of ours (not the receiver's) ends the task.
pub async fn run(job: Deliver, ctx: Data<JobContext>, task: TaskId) -> Result<(), AbortError> {
    let failed = "delivery failed; the sweeper will queue it again";
    let step: handler::Step = |ctx, id, task| Box::pin(deliver(ctx, id, task));
    handler::handle("deliver", step, ctx, job.webhook_id, task, failed).await
}

/// One delivery attempt of webhook `id` under queue task `task`, if it is due (or this task
/// held it), with everything that follows from it. The collect job calls it too, to deliver
/// right after the collection ends without a second queue hop.
pub(crate) async fn deliver(ctx: &JobContext, id: &str, task: &str) -> Result<(), JobError> {
    let claim = lease::Claim {
        id: id.to_owned(),
        status: WebhookStatus::Delivering,
        task: task.to_owned(),
        lease: lease(ctx),
        with_providers: false,
    };
    let Some(lease::Claimed { webhook, .. }) = ctx.group_commit.claim(claim).await? else {
        tracing::debug!(webhook = %id, "not delivering or not due; nothing to do");
        return Ok(());
    };
    attempt(ctx, webhook, task).await
}

/// How long a delivery attempt holds its webhook.
pub(crate) fn lease(ctx: &JobContext) -> Duration {
    ctx.config.webhooks.delivery_timeout + LEASE_MARGIN
}

/// One delivery attempt of `webhook`, whose lease `task` holds.
pub(crate) async fn attempt(
    ctx: &JobContext,
    webhook: webhook::Model,
    task: &str,
) -> Result<(), JobError> {
    let id = webhook.id.as_str();
    if webhook.payload.is_none() {
        return Err(JobError::Payload(
            "a delivering webhook has no callback body".into(),
        ));
    }
    let number = webhook.delivery_attempts + 1;
    if number > webhook.attempt_limit {
        // The last attempt was the one whose outcome is unknown: the schedule is spent.
        settle_unknown(ctx, id).await?;
        if lease::Move::Park.make(&ctx.db, id, task).await? {
            metrics::delivery_attempt("parked", Duration::ZERO);
            tracing::warn!(webhook = %id, attempts = webhook.delivery_attempts, "callback parked after an attempt with an unknown outcome; redeliver it once the receiver is fixed");
            finished(ctx, &webhook).await?;
        }
        return Ok(());
    }
    let admitted = match admit(ctx, &webhook).await? {
        Gate::Go(admitted) => admitted,
        Gate::Wait { at, wait } => {
            settle_unknown(ctx, id).await?;
            return hold(ctx, &webhook, task, at, wait).await;
        }
    };
    // Recorded before the POST: whatever happens next, the history counts this attempt.
    let Some(begun) = attempt::begin(&ctx.db, &webhook, number, task).await? else {
        tracing::warn!(webhook = %id, "lease lost before the delivery attempt; another job has the webhook");
        return Ok(());
    };
    if begun.unknown > 0 {
        warn_unknown(id, begun.unknown);
    }
    post(ctx, &webhook, number, task, admitted, begun.id).await
}

/// A delivery its receiver may take now: the process's slot for the host, the tenant's
/// place under the host's limits, what the host's circuits allowed, and the secrets to
/// sign with.
pub(crate) struct Admitted {
    host: String,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    limited: Option<flow::Slot>,
    admission: receivers::ReceiverAdmission,
    secrets: Arc<[Secret]>,
}

/// Whether `webhook`'s callback may go now.
pub(crate) enum Gate {
    /// It may: admitted.
    Go(Admitted),
    /// Not before `at`: its receiver is paused, at its limit or down.
    Wait {
        /// When it is asked again.
        at: DateTime<Utc>,
        /// Why it waits.
        wait: lease::Wait,
    },
}

/// Asks `webhook`'s receiver for a delivery now: held while an earlier webhook with its
/// ordering key is unfinished, while the tenant paused the host,
/// made to wait for a place under the tenant's limits on it, and, when the host is down,
/// given one probe per cool-down; a delivery held waits without using up an attempt.
pub(crate) async fn admit(ctx: &JobContext, webhook: &webhook::Model) -> Result<Gate, JobError> {
    let tenant = webhook.tenant_id.as_str();
    if let Some(key) = &webhook.ordering_key
        && flow::ordering::must_wait(&ctx.db, tenant, key, &webhook.id).await?
    {
        // Woken when the earlier ones finish; the recheck only bounds a missed wake.
        let at = flow::recheck_at();
        let wait = lease::Wait {
            why: Waiting::Ordering,
            on: key.clone(),
        };
        return Ok(Gate::Wait { at, wait });
    }
    let name = flow::receiver_host(&webhook.callback_url);
    let waits = |why: Waiting, at: DateTime<Utc>| {
        let wait = lease::Wait {
            why,
            on: name.clone(),
        };
        Ok(Gate::Wait { at, wait })
    };
    let control = ctx.flow.controls.receiver(tenant, &name).await;
    if control.is_some_and(|c| c.paused) {
        let at = flow::recheck_at();
        return waits(Waiting::ReceiverPaused, at);
    }
    let host = receivers::host_of(&webhook.callback_url);
    // This process's slot first: a delivery given its instant under the tenant's rate and
    // then kept waiting for a slot would go out late, bunched with the ones after it; and
    // one admitted by the circuits and then kept waiting would go out on a verdict the
    // failures before it have since changed.
    let slot = ctx.receivers.slot(&host).await;
    let mut limited = None;
    if let Some(limits) = control.map(|c| c.limits).filter(|l| !l.is_none()) {
        let key = flow::receiver_key(tenant, &name);
        match ctx.flow.limiter.acquire(&key, limits, lease(ctx)).await? {
            flow::Grant::Go { after, slot } => {
                tokio::time::sleep(after).await;
                limited = slot;
            }
            flow::Grant::Wait(wait) => {
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                return waits(Waiting::ReceiverLimit, at);
            }
        }
    }
    let timeout = ctx.config.webhooks.delivery_timeout;
    let admission = ctx.receivers.admit(tenant, &host, timeout).await?;
    if let Some(until) = admission.wait() {
        return waits(Waiting::ReceiverDown, receiver_back(ctx, until));
    }
    let secrets = ctx.secrets.of(&ctx.db, tenant).await?;
    Ok(Gate::Go(Admitted {
        host,
        slot,
        limited,
        admission,
        secrets,
    }))
}

/// Attempt `number` of `webhook`, recorded `in_flight` as row `attempt_id`: the POST, what
/// the host's health learns from it, and the verdict recorded with the lease's move.
pub(crate) async fn post(
    ctx: &JobContext,
    webhook: &webhook::Model,
    number: i32,
    task: &str,
    admitted: Admitted,
    attempt_id: i64,
) -> Result<(), JobError> {
    let settings = &ctx.config.webhooks;
    let id = webhook.id.as_str();
    let tenant = webhook.tenant_id.as_str();
    let payload = webhook
        .payload
        .as_deref()
        .ok_or_else(|| JobError::Payload("a delivering webhook has no callback body".into()))?;
    let Admitted {
        host,
        slot,
        limited,
        admission,
        secrets,
    } = admitted;
    let mut span = ctx.traces.span(
        "POST",
        SpanKind::Client,
        webhook.traceparent.as_deref(),
        || attempt_attributes(webhook, number),
    );
    let result = ctx
        .sender
        .send(
            &webhook.callback_url,
            id,
            payload,
            &secrets,
            span.traceparent().as_deref(),
        )
        .await;
    traced_attempt(&mut span, &result);
    drop(span);
    // The host's health is bookkeeping: failing to record it must not redo the attempt.
    // Settled before the slot is given back, so the next delivery to the host is admitted
    // on this outcome; the slot bounds requests to the host, not our own bookkeeping.
    if let Err(error) = ctx
        .receivers
        .settle(tenant, &host, admission, &result)
        .await
    {
        tracing::error!(webhook = %id, %host, %error, "could not record the receiver's health");
    }
    drop((slot, limited));

    let now = Utc::now();
    let verdict = Verdict::of(
        settings,
        (number, webhook.attempt_limit),
        webhook.delivery_snoozes,
        &result,
        now,
    );
    // A task id only for a retry or a snooze, the verdicts that queue another job.
    let (step, retry) = match verdict {
        Verdict::Delivered => (lease::Move::Delivered, None),
        Verdict::Park => (lease::Move::Park, None),
        Verdict::Retry(at) | Verdict::Snooze(at) => {
            let next = Queue::task_id_due(at);
            let task = next.to_string();
            let step = match verdict {
                Verdict::Snooze(_) => lease::Move::SnoozeAnswered {
                    at,
                    next: task,
                    host: flow::receiver_host(&webhook.callback_url),
                },
                _ => lease::Move::Retry { at, next: task },
            };
            (step, Some((next, at)))
        }
    };
    if !record(ctx, id, task, attempt_id, &result, &step, now).await? {
        tracing::warn!(webhook = %id, attempt = number, "lease lost during the delivery attempt; its outcome is recorded, the webhook is another job's");
        return Ok(());
    }
    report(id, number, &result, verdict);
    if matches!(verdict, Verdict::Delivered | Verdict::Park) {
        finished(ctx, webhook).await?;
    }
    if let Some((next, at)) = retry {
        let job = Deliver {
            webhook_id: id.to_owned(),
        };
        ctx.queue.push_as(job, next, Some(at)).await?;
    }
    Ok(())
}

/// A delivery attempt's span attributes (OpenTelemetry's HTTP client conventions).
fn attempt_attributes(webhook: &webhook::Model, number: i32) -> Vec<KeyValue> {
    let mut attributes = url::Url::parse(&webhook.callback_url)
        .map(|url| traces::client_attributes("POST", &url, traces::UrlPath::Redacted))
        .unwrap_or_default();
    attributes.push(KeyValue::new("datahog.webhook.id", webhook.id.clone()));
    if number > 1 {
        attributes.push(KeyValue::new(
            "http.request.resend_count",
            i64::from(number - 1),
        ));
    }
    attributes
}

/// What an attempt's span records of its outcome: the status, or why there was none.
fn traced_attempt(span: &mut Traced, result: &AttemptResult) {
    if let Some(status) = result.status {
        span.set(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 400 {
            span.fail(status.to_string());
        }
    } else if let Some(kind) = result.error_kind {
        span.fail(kind.to_value());
    }
}

/// Records the attempt and, if `task` still holds webhook `id`, makes `step`, in one
/// transaction; whether the lease was still held.
async fn record(
    ctx: &JobContext,
    id: &str,
    task: &str,
    attempt_id: i64,
    result: &AttemptResult,
    step: &lease::Move,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    let next_at = match step {
        lease::Move::Retry { at, .. } | lease::Move::SnoozeAnswered { at, .. } => Some(*at),
        _ => None,
    };
    let backend = ctx.db.get_database_backend();
    // The common outcome, written with the other deliveries finishing meanwhile.
    if let (DbBackend::Postgres, lease::Move::Delivered, Some(status)) =
        (backend, step, result.status)
    {
        let delivered = group_commit::Delivered {
            attempt_id,
            webhook_id: id.to_owned(),
            task: task.to_owned(),
            started_at: result.started_at,
            duration_ms: result.duration.as_millis() as i64,
            status_code: i32::from(status),
            response_body: result.body.clone(),
        };
        return Ok(ctx.group_commit.delivered(delivered).await?);
    }
    let completed = attempt::complete(id, attempt_id, result, next_at)?;
    let update = step.update(now)?.filter(lease::held_by(id, task));
    // The attempt's outcome is kept either way: the receiver saw it.
    if backend == DbBackend::Postgres {
        let both = crate::db::before(completed.build(backend), update.build(backend));
        return Ok(ctx.db.execute_raw(both).await?.rows_affected() == 1);
    }
    let txn = ctx.db.begin().await?;
    completed.exec(&txn).await?;
    let moved = lease::made(update, &txn).await?;
    txn.commit().await?;
    Ok(moved)
}

/// Marks attempts of webhook `id` left `in_flight` as `unknown`, on a path that makes no
/// attempt of its own (which would do it as it begins).
async fn settle_unknown(ctx: &JobContext, id: &str) -> Result<(), JobError> {
    let unknown = attempt::settle_unknown(&ctx.db, id).await?;
    if unknown > 0 {
        warn_unknown(id, unknown);
    }
    Ok(())
}

fn warn_unknown(id: &str, unknown: u64) {
    tracing::warn!(webhook = %id, unknown, "a delivery attempt's worker died during its POST; recorded as unknown, delivering again");
}

/// Logs and counts what attempt `number` came to.
fn report(id: &str, number: i32, result: &AttemptResult, verdict: Verdict) {
    let outcome = result.status.map_or_else(
        || {
            result
                .error_kind
                .map_or("error".to_owned(), |kind| kind.to_value())
        },
        |s| s.to_string(),
    );
    match verdict {
        Verdict::Delivered => {
            metrics::delivery_attempt("delivered", result.duration);
            tracing::info!(webhook = %id, attempt = number, %outcome, "callback delivered");
        }
        Verdict::Retry(at) => {
            metrics::delivery_attempt("retrying", result.duration);
            tracing::warn!(webhook = %id, attempt = number, %outcome, error = ?result.error_message, next = %at, "callback attempt failed; retrying later");
        }
        Verdict::Snooze(at) => {
            metrics::delivery_attempt("snoozed", result.duration);
            tracing::info!(webhook = %id, attempt = number, %outcome, retry_after = ?result.retry_after, next = %at, "receiver asked to wait; the attempt is not counted");
        }
        Verdict::Park => {
            metrics::delivery_attempt("parked", result.duration);
            tracing::warn!(webhook = %id, attempt = number, %outcome, error = ?result.error_message, "callback parked; redeliver it once the receiver is fixed");
        }
    }
}

/// The delivery waits until `at` for `wait`, without using up an attempt.
async fn hold(
    ctx: &JobContext,
    webhook: &webhook::Model,
    task: &str,
    at: DateTime<Utc>,
    wait: lease::Wait,
) -> Result<(), JobError> {
    let id = webhook.id.as_str();
    let next = Queue::task_id_waiting(at, webhook.created_at);
    let why = wait.why;
    let snooze = lease::Move::Snooze {
        at,
        next: next.to_string(),
        wait: Some(wait),
    };
    if snooze.make(&ctx.db, id, task).await? {
        metrics::delivery_deferred(why);
        tracing::debug!(webhook = %id, next = %at, reason = why.to_value(), "delivery waits");
        let job = Deliver {
            webhook_id: id.to_owned(),
        };
        ctx.queue.push_as(job, next, Some(at)).await?;
        held(ctx, webhook, why).await?;
    }
    Ok(())
}

/// After `webhook` started waiting for `why`, it looks again at what held it, in case that
/// ended between its check and its wait (whose wake would then have missed it): the
/// webhook before it in its ordering key finished, or its receiver was resumed (this
/// process's settings may be a second old).
pub(crate) async fn held(
    ctx: &JobContext,
    webhook: &webhook::Model,
    why: Waiting,
) -> Result<(), JobError> {
    match why {
        Waiting::Ordering => finished(ctx, webhook).await,
        Waiting::ReceiverPaused => {
            let host = flow::receiver_host(&webhook.callback_url);
            let tenant = webhook.tenant_id.as_str();
            if !flow::manage::receiver_paused(&ctx.db, tenant, &host).await? {
                flow::wake::wake_one(&ctx.db, &ctx.queue, why, &webhook.id).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// After `webhook` finished (delivered or parked) or started waiting for its turn: the
/// next one with its ordering key may go.
async fn finished(ctx: &JobContext, webhook: &webhook::Model) -> Result<(), JobError> {
    if let Some(key) = &webhook.ordering_key {
        flow::ordering::release(&ctx.db, &ctx.queue, &webhook.tenant_id, key).await?;
    }
    Ok(())
}

/// When a delivery whose receiver is down until `until` asks again: at the next probe or
/// the shortest cool-down, with jitter.
fn receiver_back(ctx: &JobContext, until: DateTime<Utc>) -> DateTime<Utc> {
    let settings = &ctx.config.webhooks;
    let soonest = Utc::now() + settings.receiver_cooldown_min;
    Ord::min(until, soonest) + flow::jitter(settings.receiver_cooldown_min)
}

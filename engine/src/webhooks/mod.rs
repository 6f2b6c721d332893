//! Webhook collections: submission, the lease jobs work under, the callback body, and
//! redelivery; the jobs (`collect`, `deliver`, both run by `handler`), the attempt rows
//! (`attempt`), what an attempt decides (`verdict`), and the statements written for many
//! jobs at once (`group_commit`). The database holds the truth; jobs carry only the webhook's id.

pub mod attempt;
pub mod collect;
pub mod deliver;
pub mod group_commit;
pub mod handler;
pub mod inserts;
pub mod lease;
pub mod verdict;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::webhook::{DeliveryTrigger, Waiting, WebhookStatus};
use entity::{webhook, webhook_provider};
use openapi::webhooks::{CallbackBody, Outcome};
use sea_orm::ActiveEnum;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

use crate::config::{WebhookConfig, WorkerConfig};
use crate::delivery::address::CallbackUrl;
use crate::flow::Turns;
use crate::flow::turns::{CountIn, Place};
use crate::queue::{Job, Queue, QueueError};

/// A new webhook id, greater than every one this process made before: ordering keys
/// deliver in id order, and submissions within one millisecond keep theirs.
fn next_id() -> ulid::Ulid {
    static IDS: std::sync::LazyLock<std::sync::Mutex<ulid::Generator>> =
        std::sync::LazyLock::new(|| std::sync::Mutex::new(ulid::Generator::new()));
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    // Past 2^80 ids in one millisecond the random part starts again: never in practice.
    ids.generate()
        .unwrap_or_else(|overflow| overflow.commit_overflow_random())
}

/// The smallest id a webhook created at `at` can have: ids are ULIDs, ordered by time.
pub fn id_floor(at: DateTime<Utc>) -> String {
    ulid::Ulid::from_parts(u64::try_from(at.timestamp_millis()).unwrap_or(0), 0).to_string()
}

/// Collect the missing providers of a webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Collect {
    /// The webhook.
    pub webhook_id: String,
    /// Its tenant, whose share of the queue it leaves as it starts (none in jobs queued
    /// before tenants took turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

impl Job for Collect {
    const QUEUE: &'static str = "collect";

    fn concurrency(config: &WorkerConfig) -> usize {
        config.webhook_concurrency as usize
    }

    fn shard_key(&self) -> Option<&str> {
        Some(&self.webhook_id)
    }
}

/// Collect again the missing providers of a webhook that waited for them. Its own queue,
/// so the collections an outage leaves waiting (all due back at once) never queue ahead of
/// a new submission's first collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recollect {
    /// The webhook.
    pub webhook_id: String,
}

impl Job for Recollect {
    const QUEUE: &'static str = "recollect";

    fn concurrency(config: &WorkerConfig) -> usize {
        config.webhook_concurrency as usize
    }

    fn shard_key(&self) -> Option<&str> {
        Some(&self.webhook_id)
    }
}

/// Deliver a webhook's callback (one attempt).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deliver {
    /// The webhook.
    pub webhook_id: String,
}

impl Job for Deliver {
    const QUEUE: &'static str = "deliver";

    fn concurrency(config: &WorkerConfig) -> usize {
        config.webhook_concurrency as usize
    }

    fn shard_key(&self) -> Option<&str> {
        Some(&self.webhook_id)
    }
}

/// A valid submission.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// The tenant submitting it.
    pub tenant_id: String,
    /// Distinct, configured provider names, in the client's order.
    pub providers: Vec<String>,
    /// Where the callback goes.
    pub callback_url: CallbackUrl,
    /// Set when every provider is known down (`ProviderHealth::all_down_until`): the
    /// first collection then waits for the earliest probe, with the collections already
    /// waiting, instead of running now only to find them down.
    pub wait_until: Option<DateTime<Utc>>,
    /// Callbacks with the same key (and tenant) go one at a time, in submission order.
    pub ordering_key: Option<String>,
    /// The trace it continues (a W3C `traceparent`): the submission's span's, or the
    /// client's when traces are not exported.
    pub traceparent: Option<String>,
}

/// Why a submission was not accepted; nothing of it is left behind.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The queue failed; the webhook's rows were removed again.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The tenants' turns could not be counted; nothing was kept.
    #[error(transparent)]
    Turns(#[from] crate::flow::limiter::LimitError),
}

/// Records `new` and queues its collection, or, beyond its tenant's share of the queue,
/// keeps it waiting its turn (`flow::turns`). Answers only once both are done; if the push
/// fails, the rows are removed again (a crash in between is the sweeper's to repair).
pub async fn submit(
    inserts: &inserts::Inserts,
    queue: &Queue,
    turns: &Turns,
    config: &WebhookConfig,
    new: NewWebhook,
) -> Result<webhook::Model, SubmitError> {
    let now = Utc::now();
    let id = next_id().to_string();
    // One already waiting for its providers waits with the others, outside the turns. Its
    // turn: the count-in to wait for before the push; none when held.
    let count_in = match new.wait_until {
        Some(_) => Some(CountIn::written()),
        None => match turns.submit(&new.tenant_id, &id).await? {
            Place::Queued(count_in) => Some(count_in),
            Place::Held => None,
        },
    };
    let its_turn = count_in.is_some();
    let task = match new.wait_until {
        Some(at) => Queue::task_id_waiting(at, now),
        None => Queue::task_id(),
    };
    // Held for its turn: its job's task is recorded (that job may claim it), but the job is
    // pushed by the dispatcher that lets it in; the sweeper finds it after `TURN_RECHECK`
    // should every dispatcher be gone.
    let held = (!its_turn).then(|| lease::Wait {
        why: Waiting::Turn,
        on: new.tenant_id.clone(),
    });
    let created = webhook::Model {
        id: id.clone(),
        tenant_id: new.tenant_id,
        callback_url: new.callback_url.url().to_string(),
        status: WebhookStatus::Collecting,
        outcome: None,
        created_at: now,
        deadline_at: now + config.collection_deadline,
        collected_at: None,
        delivered_at: None,
        updated_at: now,
        payload: None,
        delivery_attempts: 0,
        attempt_limit: 0,
        delivery_snoozes: 0,
        delivery_trigger: DeliveryTrigger::Scheduled,
        next_run_at: Some(match &held {
            Some(_) => now + crate::flow::TURN_RECHECK,
            None => new.wait_until.unwrap_or(now),
        }),
        claimed_by: None,
        queued_task: Some(task.to_string()),
        waiting_for: held.as_ref().map(|w| w.why),
        waiting_on: held.map(|w| w.on),
        ordering_key: new.ordering_key,
        traceparent: new.traceparent,
    };
    let rows = inserts::NewRows::pending(created.clone(), &new.providers);
    // A place taken in the tenant's share by a submission that is not kept is given back.
    let entered = its_turn && new.wait_until.is_none();
    let give_back = || {
        if entered {
            turns.leave(&created.tenant_id, &id);
        }
    };
    // The count-in is written before the job is pushed (its count-out comes after it).
    let count_in = async {
        if let Some(count_in) = count_in {
            count_in.wait().await;
        }
    };
    let (inserted, ()) = tokio::join!(inserts.insert(rows), count_in);
    if let Err(error) = inserted {
        give_back();
        return Err(error.into());
    }
    if !its_turn {
        let held = crate::flow::turns::Held {
            id: id.clone(),
            task: task.to_string(),
        };
        if let Err(error) = turns.hold(&created.tenant_id, held).await {
            tracing::error!(webhook = %id, %error, "could not hold the collection for its turn; removing the webhook");
            remove_unqueued(inserts.db(), &id).await;
            return Err(error.into());
        }
        return Ok(created);
    }
    let db = inserts.db();

    let webhook_id = id.clone();
    let pushed = match new.wait_until {
        Some(at) => {
            let job = Recollect { webhook_id };
            queue.push_as(job, task, Some(at)).await
        }
        None => {
            let tenant_id = Some(created.tenant_id.clone());
            let job = Collect {
                webhook_id,
                tenant_id,
            };
            queue.push_as(job, task, None).await
        }
    };
    if let Err(error) = pushed {
        give_back();
        tracing::error!(webhook = %id, %error, "could not queue the collection; removing the webhook");
        remove_unqueued(db, &id).await;
        return Err(error.into());
    }
    Ok(created)
}

/// Removes a webhook whose submission failed after its rows were written; should that fail
/// too, the sweeper queues it.
async fn remove_unqueued(db: &DatabaseConnection, id: &str) {
    if let Err(cleanup) = webhook::Entity::delete_by_id(id).exec(db).await {
        tracing::error!(webhook = %id, %cleanup, "could not remove the unqueued webhook; the sweeper will queue it");
    }
}

/// Why a redelivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum RedeliverError {
    /// No such webhook.
    #[error("no webhook `{0}`")]
    NotFound(String),
    /// It is still collecting or delivering.
    #[error("webhook `{0}` is {status}; only delivered or parked webhooks can be redelivered", status = .1.to_value())]
    InProgress(String, WebhookStatus),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The queue failed; the webhook stays as it was.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Gives a delivered or parked webhook one more delivery attempt, now. With `tenant`, only
/// that tenant's webhook: another's is `NotFound` like one that does not exist.
pub async fn redeliver(
    db: &DatabaseConnection,
    queue: &Queue,
    id: &str,
    tenant: Option<&str>,
) -> Result<webhook::Model, RedeliverError> {
    let now = Utc::now();
    let task = Queue::task_id();
    let reopen = lease::Move::Reopen {
        next: task.to_string(),
    };
    let reopened = reopen
        .update(now)?
        .col_expr(
            webhook::Column::AttemptLimit,
            Expr::col(webhook::Column::DeliveryAttempts).add(1),
        )
        .col_expr(
            webhook::Column::DeliveryTrigger,
            Expr::value(DeliveryTrigger::Manual),
        )
        .filter(webhook::Column::Id.eq(id))
        .filter(owned_by(tenant))
        .exec(db)
        .await?;
    let current = webhook::Entity::find_by_id(id)
        .filter(owned_by(tenant))
        .one(db)
        .await?
        .ok_or_else(|| RedeliverError::NotFound(id.to_owned()))?;
    if reopened.rows_affected == 0 {
        return Err(RedeliverError::InProgress(id.to_owned(), current.status));
    }
    // Reopened but not queued: the sweeper queues it once the grace period passes.
    queue
        .push_as(
            Deliver {
                webhook_id: id.to_owned(),
            },
            task,
            None,
        )
        .await?;
    Ok(current)
}

/// Rows of `tenant` only, or of every tenant when `None` (the operator).
pub fn owned_by(tenant: Option<&str>) -> Condition {
    match tenant {
        Some(tenant) => Condition::all().add(webhook::Column::TenantId.eq(tenant)),
        None => Condition::all(),
    }
}

/// The callback body of a finished collection.
pub fn callback_body(
    webhook: &webhook::Model,
    providers: &[webhook_provider::Model],
    outcome: Outcome,
    completed_at: DateTime<Utc>,
) -> CallbackBody {
    let mut data = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for row in providers {
        match row.data.as_deref().map(serde_json::from_str) {
            Some(Ok(value)) => {
                data.insert(row.provider.clone(), value);
            }
            _ => {
                let reason = row
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no answer before the collection deadline".into());
                errors.insert(row.provider.clone(), reason);
            }
        }
    }
    CallbackBody {
        id: webhook.id.clone(),
        status: outcome,
        data,
        errors,
        created_at: webhook.created_at,
        completed_at,
    }
}

/// The providers of webhook `id`, in the submitted order.
pub async fn providers_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Vec<webhook_provider::Model>, DbErr> {
    webhook_provider::Entity::find()
        .filter(webhook_provider::Column::WebhookId.eq(id))
        .order_by_asc(webhook_provider::Column::Position)
        .all(db)
        .await
}

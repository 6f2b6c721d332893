//! The webhook statements every collection makes, group-committed across jobs
//! (`db::group`): the claim of a webhook (`lease`, with the provider rows a collection
//! reads next), each provider's result, and (Postgres) a complete collection's end with
//! its first attempt begun, and a delivered attempt recorded with its webhook's move to
//! `delivered`. Each job still awaits its own row before it goes on: a
//! result is stored before the collection moves, a claim won before any work.

use chrono::{DateTime, Utc};
use entity::lifecycle::Lifecycle;
use entity::webhook::DeliveryTrigger;
use entity::webhook_provider::ProviderStatus;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, Value};

use crate::db::group::Group;
use crate::db::{values_column, values_rows};
use crate::webhooks::lease::{Claim, Claimed, claim_all};

/// The most rows in one batch: far below both backends' bound on parameters.
const MAX_BATCH: usize = 256;

/// A provider's data for a webhook, to keep.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The webhook.
    pub webhook_id: String,
    /// The provider.
    pub provider: String,
    /// Its answer.
    pub data: String,
}

/// A callback the receiver took: its attempt's outcome, and the lease that moves the
/// webhook to `delivered`.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The attempt's row.
    pub attempt_id: i64,
    /// The webhook.
    pub webhook_id: String,
    /// The queue task holding its lease.
    pub task: String,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The receiver's status (2xx).
    pub status_code: i32,
    /// The start of its answer.
    pub response_body: Option<String>,
}

/// A complete collection whose job makes the first attempt at once: the webhook moves to
/// `delivering` (its lease kept by `task` until `until`) with attempt 1 recorded
/// `in_flight`, before the POST.
#[derive(Debug, Clone)]
pub struct Begin {
    /// The webhook.
    pub webhook_id: String,
    /// The queue task holding its lease.
    pub task: String,
    /// When the lease runs out.
    pub until: DateTime<Utc>,
    /// When the collection ended (the callback body's `completedAt`).
    pub collected_at: DateTime<Utc>,
    /// The frozen callback body.
    pub payload: String,
    /// Attempts allowed by the schedule.
    pub attempt_limit: i32,
    /// What triggered the delivery.
    pub trigger: DeliveryTrigger,
    /// The callback URL the attempt goes to.
    pub url: String,
}

/// The groups of one process.
#[derive(Clone)]
pub struct GroupCommit {
    claims: Group<Claim, Option<Claimed>>,
    results: Group<Fetched, ()>,
    begun: Group<Begin, Option<i64>>,
    delivered: Group<Delivered, bool>,
}

impl GroupCommit {
    /// The groups writing to `db`.
    pub fn new(db: &DatabaseConnection) -> Self {
        let claims = Group::on(db, "claims", MAX_BATCH, |db, rows| {
            Box::pin(async move { claim_all(&db, rows).await })
        });
        let results = Group::on(db, "provider results", MAX_BATCH, |db, rows| {
            Box::pin(async move { store_all(&db, rows).await })
        });
        let delivered = Group::on(db, "deliveries", MAX_BATCH, |db, rows| {
            Box::pin(async move { delivered_all(&db, rows).await })
        });
        let begun = Group::on(db, "first attempts", MAX_BATCH, |db, rows| {
            Box::pin(async move { begin_all(&db, rows).await })
        });
        GroupCommit {
            claims,
            results,
            begun,
            delivered,
        }
    }

    /// Claims a webhook (see `lease`); what was claimed if won.
    pub async fn claim(&self, claim: Claim) -> Result<Option<Claimed>, DbErr> {
        self.claims.write(claim).await
    }

    /// Ends a complete collection and begins its first attempt if `task` still holds the
    /// webhook (Postgres); the attempt's row id, or `None` when the lease is lost (nothing
    /// is written then).
    pub async fn begin(&self, begin: Begin) -> Result<Option<i64>, DbErr> {
        self.begun.write(begin).await
    }

    /// Records a delivered attempt and moves its webhook to `delivered` if `task` still
    /// holds it (Postgres); whether it did. The attempt's outcome is kept either way.
    pub async fn delivered(&self, delivered: Delivered) -> Result<bool, DbErr> {
        self.delivered.write(delivered).await
    }

    /// Keeps a provider's data; a row that has data already is never overwritten.
    pub async fn store(&self, fetched: Fetched) -> Result<(), DbErr> {
        self.results.write(fetched).await
    }
}

/// Keeps every result of `fetched` in one statement; rows with data already stay as they are.
async fn store_all<C: ConnectionTrait>(db: &C, fetched: Vec<Fetched>) -> Result<Vec<()>, DbErr> {
    ProviderStatus::check(ProviderStatus::Pending, ProviderStatus::Fetched)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let backend = db.get_database_backend();
    let now = Utc::now();
    let mut values: Vec<Value> = vec![
        status(&ProviderStatus::Fetched),
        now.into(),
        status(&ProviderStatus::Pending),
    ];
    for row in &fetched {
        values.push(row.webhook_id.clone().into());
        values.push(row.provider.clone().into());
        values.push(row.data.clone().into());
    }
    let p = |n| crate::db::placeholder(backend, n);
    let sql = format!(
        "UPDATE webhook_providers SET status = {fetched}, data = v.column3, fetched_at = {now}, \
           last_error = NULL, attempts = attempts + 1, updated_at = {now} \
         FROM (VALUES {rows}) AS v \
         WHERE webhook_providers.webhook_id = v.column1 AND webhook_providers.provider = v.column2 \
           AND webhook_providers.status = {pending} AND webhook_providers.webhook_id IN ({ids})",
        fetched = p(1),
        now = p(2),
        pending = p(3),
        rows = values_rows(backend, fetched.len(), 3, 4),
        ids = values_column(backend, fetched.len(), 3, 4, 0),
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(vec![(); fetched.len()])
}

/// Records every attempt of `rows` as completed and moves each webhook whose lease its task
/// still holds to `delivered`: one statement (Postgres). Which webhooks moved.
async fn delivered_all<C: ConnectionTrait>(
    db: &C,
    rows: Vec<Delivered>,
) -> Result<Vec<bool>, DbErr> {
    use entity::delivery_attempt::AttemptStatus;
    use entity::webhook::WebhookStatus;
    let check = |from, to| AttemptStatus::check(from, to).map_err(|e| DbErr::Custom(e.to_string()));
    check(AttemptStatus::InFlight, AttemptStatus::Completed)?;
    check(AttemptStatus::Unknown, AttemptStatus::Completed)?;
    WebhookStatus::check(WebhookStatus::Delivering, WebhookStatus::Delivered)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let backend = db.get_database_backend();
    let now = Utc::now();
    let mut values: Vec<Value> = vec![
        status(&AttemptStatus::Completed),
        status(&AttemptStatus::InFlight),
        status(&AttemptStatus::Unknown),
        status(&WebhookStatus::Delivered),
        status(&WebhookStatus::Delivering),
        now.into(),
    ];
    for row in &rows {
        values.push(row.attempt_id.into());
        values.push(row.webhook_id.clone().into());
        values.push(row.task.clone().into());
        values.push(row.started_at.into());
        values.push(row.duration_ms.into());
        values.push(row.status_code.into());
        values.push(row.response_body.clone().into());
    }
    let sql = format!(
        r#"WITH v ("attempt_id", "webhook_id", "task", "started_at", "duration_ms", "status_code", "response_body") AS (VALUES {rows}),
completed AS (
  UPDATE "delivery_attempts" SET "status" = $1, "started_at" = v."started_at",
    "duration_ms" = v."duration_ms", "status_code" = v."status_code", "error_kind" = NULL,
    "error_message" = NULL, "response_body" = v."response_body", "next_attempt_at" = NULL
  FROM v WHERE "delivery_attempts"."webhook_id" = v."webhook_id"
    AND "delivery_attempts"."id" = v."attempt_id"
    AND "delivery_attempts"."status" IN ($2, $3) AND "delivery_attempts"."webhook_id" IN ({ids}))
UPDATE "webhooks" SET "status" = $4, "next_run_at" = NULL, "claimed_by" = NULL,
  "queued_task" = NULL, "updated_at" = $6, "delivered_at" = $6, "waiting_for" = NULL,
  "waiting_on" = NULL
FROM v WHERE "webhooks"."id" = v."webhook_id" AND "webhooks"."claimed_by" = v."task"
  AND "webhooks"."status" = $5 AND "webhooks"."id" IN ({ids})
RETURNING "webhooks"."id""#,
        rows = values_rows(backend, rows.len(), 7, 7),
        ids = values_column(backend, rows.len(), 7, 7, 1),
    );
    let moved = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut ids = std::collections::HashSet::with_capacity(moved.len());
    for row in moved {
        ids.insert(row.try_get::<String>("", "id")?);
    }
    Ok(rows
        .iter()
        .map(|row| ids.contains(&row.webhook_id))
        .collect())
}

/// Ends every collection of `rows` whose lease its task still holds and records each one's
/// attempt 1 `in_flight`: one statement (Postgres). Each row's attempt id, if it moved.
async fn begin_all<C: ConnectionTrait>(
    db: &C,
    rows: Vec<Begin>,
) -> Result<Vec<Option<i64>>, DbErr> {
    use entity::delivery_attempt::AttemptStatus;
    use entity::webhook::{WebhookOutcome, WebhookStatus};
    WebhookStatus::check(WebhookStatus::Collecting, WebhookStatus::Delivering)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let backend = db.get_database_backend();
    let mut values: Vec<Value> = vec![
        status(&WebhookStatus::Delivering),
        status(&WebhookStatus::Collecting),
        Utc::now().into(),
        status(&WebhookOutcome::Completed),
        status(&AttemptStatus::InFlight),
    ];
    for row in &rows {
        values.push(row.webhook_id.clone().into());
        values.push(row.task.clone().into());
        values.push(row.until.into());
        values.push(row.collected_at.into());
        values.push(row.payload.clone().into());
        values.push(row.attempt_limit.into());
        values.push(status(&row.trigger));
        values.push(row.url.clone().into());
    }
    let sql = format!(
        r#"WITH v ("webhook_id", "task", "until", "collected_at", "payload", "attempt_limit", "trigger", "url") AS (VALUES {rows}),
moved AS (
  UPDATE "webhooks" SET "status" = $1, "next_run_at" = v."until", "claimed_by" = v."task",
    "queued_task" = v."task", "updated_at" = v."collected_at", "outcome" = $4,
    "collected_at" = v."collected_at", "payload" = v."payload",
    "attempt_limit" = v."attempt_limit", "delivery_attempts" = 1, "waiting_for" = NULL,
    "waiting_on" = NULL
  FROM v WHERE "webhooks"."id" = v."webhook_id" AND "webhooks"."claimed_by" = v."task"
    AND "webhooks"."status" = $2 AND "webhooks"."id" IN ({ids})
  RETURNING "webhooks"."id", v."trigger", v."url")
INSERT INTO "delivery_attempts"
  ("webhook_id", "number", "trigger", "url", "started_at", "duration_ms", "status")
SELECT "id", 1, "trigger", "url", $3, 0, $5 FROM moved
RETURNING "id", "webhook_id""#,
        rows = values_rows(backend, rows.len(), 8, 6),
        ids = values_column(backend, rows.len(), 8, 6, 0),
    );
    let begun = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut ids = std::collections::HashMap::with_capacity(begun.len());
    for row in begun {
        let webhook: String = row.try_get("", "webhook_id")?;
        ids.insert(webhook, row.try_get::<i64>("", "id")?);
    }
    Ok(rows
        .iter()
        .map(|row| ids.get(&row.webhook_id).copied())
        .collect())
}

/// A stored enum's value, as a statement's parameter.
fn status<E: sea_orm::ActiveEnum<Value = String>>(value: &E) -> Value {
    value.to_value().into()
}

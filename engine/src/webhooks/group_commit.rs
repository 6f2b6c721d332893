//! The webhook statements every collection makes, group-committed across jobs
//! (`db::group`): the claim of a webhook (`lease`, with the provider rows a collection
//! reads next) and each provider's result. Each job still awaits its own row before it goes on: a
//! result is stored before the collection moves, a claim won before any work.

use chrono::Utc;
use entity::lifecycle::Lifecycle;
use entity::webhook_provider::ProviderStatus;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, Value};

use crate::db::group::Group;
use crate::db::values_rows;
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

/// The groups of one process.
#[derive(Clone)]
pub struct GroupCommit {
    claims: Group<Claim, Option<Claimed>>,
    results: Group<Fetched, ()>,
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
        GroupCommit { claims, results }
    }

    /// Claims a webhook (see `lease`); what was claimed if won.
    pub async fn claim(&self, claim: Claim) -> Result<Option<Claimed>, DbErr> {
        self.claims.write(claim).await
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
        sea_orm::ActiveEnum::to_value(&ProviderStatus::Fetched).into(),
        now.into(),
        sea_orm::ActiveEnum::to_value(&ProviderStatus::Pending).into(),
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
           AND webhook_providers.status = {pending}",
        fetched = p(1),
        now = p(2),
        pending = p(3),
        rows = values_rows(backend, fetched.len(), 3, 4),
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(vec![(); fetched.len()])
}

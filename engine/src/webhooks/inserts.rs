//! New webhooks' rows. On Postgres the submissions arriving together are written in one
//! statement (`db::group`), so under load a submission's insert and its commit are shared
//! with the others in flight; each request still answers only once its own rows are in.
//! A batch the database refuses is written again row by row, so one bad row fails only
//! its own submission.

use entity::webhook_provider::ProviderStatus;
use entity::{webhook, webhook_provider};
use sea_orm::sea_query::{CommonTableExpression, WithClause};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryTrait,
    TransactionTrait,
};

use crate::db::group::Group;

/// The most webhooks in one statement: far below Postgres's bound on parameters.
const MAX_BATCH: usize = 128;

/// A webhook and its provider rows, to insert together.
pub struct NewRows {
    /// The webhook.
    pub webhook: webhook::Model,
    /// Its providers.
    pub providers: Vec<webhook_provider::Model>,
}

impl NewRows {
    /// `webhook` with a pending row for each of `providers`, in that order.
    pub fn pending(webhook: webhook::Model, providers: &[String]) -> Self {
        let providers = providers
            .iter()
            .enumerate()
            .map(|(i, name)| webhook_provider::Model {
                webhook_id: webhook.id.clone(),
                provider: name.clone(),
                position: i as i32,
                status: ProviderStatus::Pending,
                attempts: 0,
                last_error: None,
                data: None,
                fetched_at: None,
                updated_at: webhook.created_at,
            })
            .collect();
        NewRows { webhook, providers }
    }
}

/// Inserts new webhooks, grouped on Postgres.
#[derive(Clone)]
pub struct Inserts {
    db: DatabaseConnection,
    group: Option<Group<NewRows, Result<(), DbErr>>>,
}

impl Inserts {
    /// Inserts into `db`.
    pub fn new(db: &DatabaseConnection) -> Self {
        let group = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            Group::on(db, "submissions", MAX_BATCH, |db, rows| {
                Box::pin(async move { insert_all(&db, rows).await })
            })
            .in_powers_of_two()
        });
        Inserts {
            db: db.clone(),
            group,
        }
    }

    /// The database written to.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Inserts `rows`, all or nothing; answers once they are in.
    pub async fn insert(&self, rows: NewRows) -> Result<(), DbErr> {
        match &self.group {
            Some(group) => group.write(rows).await?,
            None => insert_one(&self.db, rows).await,
        }
    }
}

/// Every webhook of `rows` with its providers in one statement, or, if that fails, each
/// on its own.
async fn insert_all(
    db: &DatabaseConnection,
    rows: Vec<NewRows>,
) -> Result<Vec<Result<(), DbErr>>, DbErr> {
    if rows.len() > 1 {
        match insert_together(db, &rows).await {
            Ok(()) => return Ok(rows.iter().map(|_| Ok(())).collect()),
            Err(error) => {
                tracing::warn!(rows = rows.len(), %error, "a batch of submissions failed; inserting them one by one");
            }
        }
    }
    let mut answers = Vec::with_capacity(rows.len());
    for row in rows {
        answers.push(insert_one(db, row).await);
    }
    Ok(answers)
}

/// Postgres: the webhooks' insert as a data-modifying CTE of their providers' insert.
async fn insert_together(db: &DatabaseConnection, rows: &[NewRows]) -> Result<(), DbErr> {
    let webhooks = webhook::Entity::insert_many(
        rows.iter()
            .map(|row| webhook::ActiveModel::from(row.webhook.clone())),
    )
    .into_query();
    let providers = webhook_provider::Entity::insert_many(
        rows.iter()
            .flat_map(|row| row.providers.iter().cloned())
            .map(webhook_provider::ActiveModel::from),
    )
    .into_query();
    let created = CommonTableExpression::new()
        .query(webhooks)
        .table_name("created_webhooks")
        .to_owned();
    db.execute(&providers.with(WithClause::new().cte(created).to_owned()))
        .await?;
    Ok(())
}

/// One webhook and its providers, all or nothing. On Postgres one statement (one round
/// trip instead of four: `BEGIN`, two inserts, `COMMIT`); SQLite's CTEs cannot insert, and
/// there a local transaction costs no round trip.
async fn insert_one(db: &DatabaseConnection, rows: NewRows) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        return insert_together(db, std::slice::from_ref(&rows)).await;
    }
    let webhook = webhook::Entity::insert(webhook::ActiveModel::from(rows.webhook)).into_query();
    let providers = webhook_provider::Entity::insert_many(
        rows.providers
            .into_iter()
            .map(webhook_provider::ActiveModel::from),
    )
    .into_query();
    let txn = db.begin().await?;
    txn.execute(&webhook).await?;
    txn.execute(&providers).await?;
    txn.commit().await
}

//! Postgres's day partitions of `webhooks`, `webhook_providers` and `delivery_attempts`
//! (see the migration that makes them): the prune makes the days ahead, and drops a day
//! whose every webhook is past its retention, three `DROP TABLE`s in place of deleting its
//! rows. A day that still holds a webhook to keep (a parked one inside its longer
//! retention, one still at work) stays, and its expired rows are deleted one by one as
//! before, until the day can go whole.

use chrono::{DateTime, NaiveDate, Utc};
use migration::partitions::{self, AHEAD_DAYS, PARTITIONED};
use openapi::webhooks::WebhookStatus;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

/// Rows removed with the partitions dropped, by table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Days dropped.
    pub days: u64,
    /// Their webhooks.
    pub webhooks: u64,
    /// Their provider results.
    pub providers: u64,
    /// Their delivery attempts.
    pub attempts: u64,
}

/// How long dropping one day may wait for the locks it needs before it gives up until the
/// next prune (traffic on the tables waits meanwhile).
const LOCK_TIMEOUT: &str = "2s";

/// Makes the partitions of today and the `AHEAD_DAYS` after it that are missing. A day
/// that cannot be made is logged and left to the default partition, which takes its rows
/// meanwhile: Postgres refuses a day whose rows already sit there (only if no prune ran
/// for `AHEAD_DAYS` days); those rows are then pruned one by one.
pub async fn make_ahead(db: &DatabaseConnection, today: NaiveDate) {
    for ahead in 0..=AHEAD_DAYS {
        let day = today + chrono::Days::new(ahead);
        for statement in partitions::create_day(day) {
            if let Err(error) = db.execute_unprepared(&statement).await {
                tracing::warn!(%day, %error, "could not make a day's partition");
                break;
            }
        }
    }
}

/// The days that have partitions, oldest first.
pub async fn days(db: &DatabaseConnection) -> Result<Vec<NaiveDate>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'webhooks'::regclass",
        ))
        .await?;
    let mut days: Vec<NaiveDate> = rows
        .iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .filter_map(|name| partitions::day_of_partition("webhooks", &name))
        .collect();
    days.sort_unstable();
    Ok(days)
}

/// Drops every day whose webhooks are all past their retention as of `now`: delivered
/// ones last changed before `delivered_cutoff`, parked ones before `parked_cutoff`.
pub async fn drop_expired(
    db: &DatabaseConnection,
    delivered_cutoff: DateTime<Utc>,
    parked_cutoff: DateTime<Utc>,
) -> Result<Dropped, DbErr> {
    // A webhook changes after it is made: a day ending after the later cutoff cannot be
    // all expired.
    let last_day = Ord::max(delivered_cutoff, parked_cutoff).date_naive();
    let mut dropped = Dropped::default();
    for day in days(db).await? {
        if day >= last_day {
            break;
        }
        match drop_day(db, day, delivered_cutoff, parked_cutoff).await {
            Ok(Some(day_dropped)) => {
                dropped.days += 1;
                dropped.webhooks += day_dropped.webhooks;
                dropped.providers += day_dropped.providers;
                dropped.attempts += day_dropped.attempts;
            }
            Ok(None) => {}
            // A lock not granted in time: the next prune tries again.
            Err(error) => {
                tracing::warn!(%day, %error, "could not drop an expired day's partitions")
            }
        }
    }
    Ok(dropped)
}

/// Drops `day`'s partitions if every webhook in it is expired; what it removed, or `None`
/// when the day holds one to keep. The day's webhooks are locked against writes first, so
/// a redelivery asked meanwhile either comes first, and the day stays, or waits and finds
/// its webhook gone.
async fn drop_day(
    db: &DatabaseConnection,
    day: NaiveDate,
    delivered_cutoff: DateTime<Utc>,
    parked_cutoff: DateTime<Utc>,
) -> Result<Option<Dropped>, DbErr> {
    let name = |table: &str| partitions::partition_name(table, day);
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; LOCK TABLE {} IN EXCLUSIVE MODE",
        name("webhooks")
    ))
    .await?;
    let kept = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) FILTER (WHERE NOT ((status = $1 AND updated_at < $2) \
                   OR (status = $3 AND updated_at < $4))), count(*) FROM {}",
                name("webhooks")
            ),
            [
                WebhookStatus::Delivered.as_str().into(),
                delivered_cutoff.into(),
                WebhookStatus::Parked.as_str().into(),
                parked_cutoff.into(),
            ],
        ))
        .await?;
    let (kept, webhooks): (i64, i64) = match kept {
        Some(row) => (row.try_get_by_index(0)?, row.try_get_by_index(1)?),
        None => (0, 0),
    };
    if kept > 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    let providers = count(&txn, &name("webhook_providers")).await?;
    let attempts = count(&txn, &name("delivery_attempts")).await?;
    // Referencing partitions first: theirs are the only rows that point into the day. A
    // referenced partition cannot be dropped while it is attached (the foreign key
    // depends on it): detached first, which checks that nothing points into it.
    for table in PARTITIONED.iter().rev() {
        let partition = name(table.name);
        if table.name == "webhooks" {
            txn.execute_unprepared(&format!(
                "ALTER TABLE webhooks DETACH PARTITION {partition}"
            ))
            .await?;
        }
        txn.execute_unprepared(&format!("DROP TABLE {partition}"))
            .await?;
    }
    txn.commit().await?;
    tracing::info!(%day, webhooks, providers, attempts, "dropped an expired day's partitions");
    Ok(Some(Dropped {
        days: 1,
        webhooks: webhooks as u64,
        providers: providers as u64,
        attempts: attempts as u64,
    }))
}

/// How many rows table `table` holds.
async fn count<C: ConnectionTrait>(db: &C, table: &str) -> Result<i64, DbErr> {
    let sql = format!("SELECT count(*) FROM {table}");
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    row.map_or(Ok(0), |row| row.try_get_by_index::<i64>(0))
}

//! Times the prune of one day of expired webhooks on Postgres, row by row (as before the
//! day partitions) and by dropping the day's partitions: the prune figures of
//! `scripts/bench`. Each webhook has one provider result and one delivery attempt, so a day
//! of N webhooks is 3N rows; both ways are printed per million rows.
//!
//! `DATABASE_URL=postgres://… cargo run --release -p engine --example prune_bench -- 200000`

use std::time::Instant;

use chrono::{TimeDelta, Utc};
use clap::Parser;
use engine::config::{StoreConfig, WorkerConfig};
use engine::maintenance::prune::{Days, prune_with};
use migration::partitions::{create_day, day_floor};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// The worker settings, at their defaults (retention 30 days).
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    worker: WorkerConfig,
}

/// Fills the day 40 days ago with `n` webhooks delivered 35 days ago, each with a provider
/// result and an attempt.
async fn fill(db: &DatabaseConnection, n: u64) -> anyhow::Result<()> {
    let now = Utc::now();
    let day = (now - TimeDelta::days(40)).date_naive();
    for statement in create_day(day) {
        db.execute_unprepared(&statement).await?;
    }
    // The day's ids: its first millisecond's time part, then 16 digits of a counter.
    let prefix = day_floor(day)[..10].to_owned();
    let made = day.and_hms_opt(12, 0, 0).expect("noon").and_utc();
    let changed = now - TimeDelta::days(35);
    let id = "$1 || lpad(i::text, 16, '0')";
    let statements = [
        format!(
            "INSERT INTO webhooks (id, callback_url, status, created_at, deadline_at, updated_at) \
             SELECT {id}, 'http://127.0.0.1:9/hook', 'delivered', $2, $2, $3 \
             FROM generate_series(1, $4) i"
        ),
        format!(
            "INSERT INTO webhook_providers (webhook_id, provider, position, status, data, updated_at) \
             SELECT {id}, 'gas', 0, 'fetched', '[{{\"amount\": 1}}]', $3 \
             FROM generate_series(1, $4) i WHERE $2 IS NOT NULL"
        ),
        format!(
            "INSERT INTO delivery_attempts (webhook_id, number, trigger, url, started_at, \
               duration_ms, status, status_code) \
             SELECT {id}, 1, 'scheduled', 'http://127.0.0.1:9/hook', $3, 12, 'completed', 200 \
             FROM generate_series(1, $4) i WHERE $2 IS NOT NULL"
        ),
    ];
    for sql in statements {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                prefix.clone().into(),
                made.into(),
                changed.into(),
                (n as i64).into(),
            ],
        ))
        .await?;
    }
    db.execute_unprepared("ANALYZE webhooks, webhook_providers, delivery_attempts")
        .await?;
    Ok(())
}

/// Prunes as `days` says; the rows removed and the seconds it took.
async fn timed(
    db: &DatabaseConnection,
    worker: &WorkerConfig,
    days: Days,
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let removed = prune_with(db, worker, Utc::now(), days).await?;
    Ok((removed, started.elapsed().as_secs_f64()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args().nth(1).map_or(Ok(200_000), |n| n.parse())?;
    let worker = Cli::parse_from(["prune_bench"]).worker;
    let store = StoreConfig {
        database_url: std::env::var("DATABASE_URL")?.into(),
        database_replica_url: None,
        database_max_connections: 4,
        redis_url: None,
        redis_cluster: false,
        redis_prefix: "bench".into(),
        queue_shards: 1,
        redis_timeout: std::time::Duration::from_secs(10),
        migrate: true,
    };
    let db = engine::db::connect(&store, engine::db::Use::Jobs).await?;
    anyhow::ensure!(
        db.get_database_backend() == DbBackend::Postgres,
        "the prune bench needs Postgres"
    );

    fill(&db, n).await?;
    let (deleted, delete_seconds) = timed(&db, &worker, Days::Keep).await?;
    fill(&db, n).await?;
    let (dropped, drop_seconds) = timed(&db, &worker, Days::Drop).await?;
    let per_million = |seconds: f64, rows: u64| seconds * 1e6 / rows.max(1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "webhooks": n,
            "rows": 3 * n,
            "deleted_rows": deleted,
            "delete_seconds": delete_seconds,
            "dropped_rows": dropped,
            "drop_seconds": drop_seconds,
            "seconds_per_million_rows": {
                "row_by_row": per_million(delete_seconds, deleted),
                "dropping_the_day": per_million(drop_seconds, dropped),
            },
        })
    );
    Ok(())
}

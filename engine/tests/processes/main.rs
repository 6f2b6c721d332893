//! The `worker` binary as a supervisor sees it: real processes on Postgres + Redis.

use std::process::ExitStatus;
use std::time::Duration;

use engine::queue::Queue;
use engine::testing::{
    self, Settings, TEST_SECRET, eventually, fresh_postgres_database, redis_url, unique_name,
};
use entity::maintenance_run;
use redis::AsyncCommands;
use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use tokio::process::{Child, Command};

mod backlog;
mod cluster;
mod crash;
mod outage;
mod secrets;

/// The database and the queue of a test process with `settings`.
async fn connect_stores(settings: &Settings) -> (DatabaseConnection, Queue) {
    let db = engine::db::connect(&settings.store, engine::db::Use::Jobs)
        .await
        .unwrap();
    let queue = Queue::connect(&settings.store, &settings.worker)
        .await
        .unwrap();
    (db, queue)
}

/// Submits one webhook collecting `provider` for `callback`, as the api would; its id.
async fn submit_one(
    database_url: &str,
    redis_url: &str,
    prefix: &str,
    provider: &str,
    callback: &str,
) -> String {
    let settings = Settings::on(database_url, Some(redis_url), prefix);
    let (db, queue) = connect_stores(&settings).await;
    testing::submit(
        &db,
        &queue,
        &settings.worker.webhooks,
        &[provider],
        callback,
    )
    .await
}

fn spawn_worker(database_url: &str, redis_url: &str, prefix: &str) -> Child {
    worker_command(database_url, redis_url, prefix)
        .spawn()
        .expect("start the worker binary")
}

fn worker_command(database_url: &str, redis_url: &str, prefix: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .env("DATABASE_URL", database_url)
        .env("DATABASE_MAX_CONNECTIONS", "3")
        .env("REDIS_URL", redis_url)
        .env("REDIS_PREFIX", prefix)
        .env("REDIS_TIMEOUT", "1s")
        .env("VACUUM_INTERVAL", "1s")
        .env("VACUUM_MAX_AGE", "1s")
        .env("WORKER_POLL_INTERVAL", "100ms")
        .env("WORKER_HEARTBEAT_INTERVAL", "1s")
        .env("WORKER_SHUTDOWN_TIMEOUT", "5s")
        .env("WEBHOOK_SECRET", TEST_SECRET)
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true);
    command
}

async fn terminate(child: &mut Child) -> ExitStatus {
    let pid = child.id().expect("a running child").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the worker stops within its shutdown timeout")
        .unwrap()
}

async fn vacuum_runs(db: &DatabaseConnection) -> Vec<maintenance_run::Model> {
    maintenance_run::Entity::find()
        .filter(maintenance_run::Column::Job.eq("vacuum"))
        .order_by_asc(maintenance_run::Column::Slot)
        .all(db)
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vacuum_runs_once_per_interval_across_two_worker_processes() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    // Started together on a fresh database: they also race to apply the migrations.
    let mut first = spawn_worker(&database_url, &redis_url(), &prefix);
    let mut second = spawn_worker(&database_url, &redis_url(), &prefix);

    let db = Database::connect(&database_url).await.unwrap();
    let finished = eventually(Duration::from_secs(60), async || {
        let runs = vacuum_runs(&db).await;
        runs.iter().filter(|r| r.finished_at.is_some()).count() >= 5
    })
    .await;
    assert!(
        finished,
        "five vacuum slots ran: {:?}",
        vacuum_runs(&db).await
    );

    assert!(
        terminate(&mut first).await.success(),
        "a clean exit on SIGTERM"
    );
    assert!(
        terminate(&mut second).await.success(),
        "a clean exit on SIGTERM"
    );

    let runs = vacuum_runs(&db).await;
    let (last, earlier) = runs.split_last().unwrap();
    for run in earlier {
        assert_eq!(
            run.executions, 1,
            "slot {} ran exactly once: {runs:?}",
            run.slot
        );
    }
    // The newest slot may have been claimed just before SIGTERM and left queued.
    assert!(last.executions <= 1, "{runs:?}");
    let slots: Vec<i64> = runs.iter().map(|r| r.slot).collect();
    assert!(
        slots.windows(2).all(|w| w[1] == w[0] + 1),
        "one run per second: {slots:?}"
    );
    assert!(
        runs.iter().map(|r| r.items).sum::<i64>() > 0,
        "the vacuum removed finished tasks"
    );

    // Finished tasks older than a second are gone, data and set members alike.
    // The platform's own connection, so this reads a cluster too.
    let mut redis = engine::queue::redis::connection(&redis_url(), Duration::from_secs(5)).unwrap();
    let data: usize = redis
        .hlen(format!("{{{prefix}:maintenance}}:data"))
        .await
        .unwrap();
    let done: usize = redis
        .scard(format!("{{{prefix}:maintenance}}:done"))
        .await
        .unwrap();
    assert!(
        data <= 3 && done <= 3,
        "{data} task data and {done} done ids left after {} runs",
        runs.len()
    );
}

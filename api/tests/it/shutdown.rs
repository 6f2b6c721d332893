//! Slow requests: the request timeout, and in-flight requests finishing on shutdown.
//! A lock on `vehicles` held by the test makes a lookup wait in the database.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Mode, TestApp, fresh_postgres_database, redis_url, unique_name};

async fn lock_vehicles(app: &TestApp) -> DatabaseTransaction {
    let txn = app.db().await.begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE vehicles IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    txn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_a_json_error() {
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.http.request_timeout = Duration::from_millis(300);
    })
    .await;
    let lock = lock_vehicles(&app).await;
    let (status, body) = app
        .get_json("/v1/vehicles/1/state?at=2022-09-12T10:00:00Z")
        .await;
    lock.rollback().await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(body["code"], "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_during_graceful_shutdown() {
    let app = TestApp::spawn(Mode::Production).await;
    let lock = lock_vehicles(&app).await;
    let request = tokio::spawn(
        app.client
            .get(app.url("/v1/vehicles/1/state?at=2022-09-12T10:00:00Z"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!request.is_finished(), "the lookup waits for the lock");

    let base = app.base.clone();
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "the server waits for the in-flight request"
    );
    assert!(
        reqwest::get(format!("{base}/health")).await.is_err(),
        "no new connections are accepted while stopping"
    );

    lock.rollback().await.unwrap();
    let response = request
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    stopping.await.unwrap().expect("a clean stop");
}

/// The `api` binary in production mode on a fresh database; returns it and its address.
async fn spawn_api_process(envs: &[(&str, &str)]) -> (tokio::process::Child, String, String) {
    let database_url = fresh_postgres_database().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &database_url)
        .env("DATABASE_MAX_CONNECTIONS", "3")
        .env("REDIS_URL", redis_url())
        .env("REDIS_PREFIX", unique_name())
        .env("LOG_LEVEL", "warn")
        .env("AUTH_DISABLED", "true")
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the api binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the api prints its address");
        if let Some(rest) = line.strip_prefix("datahog API:") {
            let url = rest.split_whitespace().next().unwrap();
            break url.trim_end_matches('/').to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    // The address is printed before migrations run; requests wait in the backlog meanwhile.
    let health = reqwest::get(format!("{base}/health"))
        .await
        .expect("serving");
    assert_eq!(health.status(), 200);
    (child, base, database_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_drops_requests_still_running_after_the_shutdown_timeout() {
    let (mut api, base, database_url) = spawn_api_process(&[("SHUTDOWN_TIMEOUT", "500ms")]).await;
    let db = sea_orm::Database::connect(&database_url).await.unwrap();
    let lock = db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE vehicles IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let request = tokio::spawn(reqwest::get(format!(
        "{base}/v1/vehicles/1/state?at=2022-09-12T10:00:00Z"
    )));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!request.is_finished(), "the lookup waits for the lock");

    let pid = api.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), api.wait())
        .await
        .expect("the grace period bounds the stop")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        request.await.unwrap().is_err(),
        "the connection was dropped"
    );
    lock.rollback().await.unwrap();
}

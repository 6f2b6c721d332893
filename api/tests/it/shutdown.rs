//! Slow requests: the request timeout, and in-flight requests finishing on shutdown.
//! A lock on `vehicles` held by the test makes a lookup wait in the database.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::helpers::{Mode, TestApp};

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

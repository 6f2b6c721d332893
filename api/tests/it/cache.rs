//! The cache's promises: bounded staleness, single-flight, and life without Redis.

use std::time::Duration;

use chrono::{DateTime, Utc};
use engine::both_modes;
use entity::state_log;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use crate::helpers::{Mode, Proxy, TestApp, host_port, redis_url};

/// Inserts a transition for vehicle 1 (seeded `quoted` since 2022-09-10T10:23:54Z).
async fn log_state(app: &TestApp, state: &str, at: &str) {
    let at: DateTime<Utc> = at.parse().unwrap();
    state_log::ActiveModel {
        vehicle_id: Set(1),
        state: Set(state.to_owned()),
        timestamp: Set(at),
        ..Default::default()
    }
    .insert(&app.db().await)
    .await
    .expect("insert state log");
}

both_modes!(answers_are_never_staler_than_the_bound);
async fn answers_are_never_staler_than_the_bound(mode: Mode) {
    let bound = Duration::from_secs(3);
    let app = TestApp::spawn_with(mode, |c| {
        c.cache.cache_max_staleness = bound;
        c.cache.cache_local_ttl = Duration::from_secs(2);
    })
    .await;
    let path = "/v1/vehicles/1/state?at=2022-09-11T00:00:00Z";

    let (_, before) = app.get_json(path).await;
    assert_eq!(
        (before["state"].as_str(), before["fromCache"].as_bool()),
        (Some("quoted"), Some(false))
    );
    log_state(&app, "selling", "2022-09-10T12:00:00Z").await;

    // Within the bound the cached answer may (and here does) still be served...
    let (_, cached) = app.get_json(path).await;
    assert_eq!(cached["fromCache"], true);
    assert_eq!(cached["state"], "quoted");

    // ...and once the bound has passed since it was computed, never again.
    tokio::time::sleep(bound + Duration::from_millis(200)).await;
    let (_, after) = app.get_json(path).await;
    assert_eq!(after["state"], "selling", "{after}");
    assert_eq!(after["fromCache"], false);
}

both_modes!(concurrent_misses_make_one_database_query);
async fn concurrent_misses_make_one_database_query(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let path = "/v1/vehicles/2/state?at=2022-09-11T18:00:00Z";
    let requests = (0..50).map(|_| app.get_json(path));
    let answers = futures::future::join_all(requests).await;
    assert!(
        answers
            .iter()
            .all(|(status, body)| *status == 200 && body["state"] == "selling")
    );
    let computed = answers
        .iter()
        .filter(|(_, body)| body["fromCache"] == false)
        .count();
    assert_eq!(
        computed, 1,
        "exactly one request may have gone to the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_tier_is_shared_between_instances() {
    let first = TestApp::spawn(Mode::Production).await;
    let (_, answer) = first
        .get_json("/v1/vehicles/3/state?at=2022-09-12T00:00:00Z")
        .await;
    assert_eq!(answer["fromCache"], false);

    let config = first.config.clone();
    let second = TestApp::spawn_with(Mode::Production, |c| {
        c.store.database_url = config.store.database_url.clone();
        c.store.redis_prefix = config.store.redis_prefix.clone();
    })
    .await;
    let (_, answer) = second
        .get_json("/v1/vehicles/3/state?at=2022-09-12T00:00:00Z")
        .await;
    assert_eq!(
        answer["fromCache"], true,
        "the second instance found it in Redis"
    );
    let metrics = second.get_text("/metrics").await;
    assert!(metrics.contains(
        r#"datahog_cache_requests_total{cache="vehicle_state",tier="redis",result="hit"}"#
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_answer_from_the_database_when_redis_is_down() {
    let proxy = Proxy::start(host_port(&redis_url())).await;
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.store.redis_url = Some(format!("redis://{}/", proxy.addr).into());
    })
    .await;
    let (status, _) = app
        .get_json("/v1/vehicles/3/state?at=2022-09-12T00:00:00Z")
        .await;
    assert_eq!(status, 200);
    let (status, ready) = app.get_json("/ready").await;
    assert_eq!((status, ready["redis"].as_str()), (200, Some("ok")));

    proxy.cut();

    for hour in 10..15 {
        let path = format!("/v1/vehicles/3/state?at=2022-09-12T{hour}:00:00Z");
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["fromCache"], false);
    }
    let (status, ready) = app.get_json("/ready").await;
    assert_eq!(
        (status, ready["redis"].as_str()),
        (503, Some("unavailable"))
    );
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains(r#"datahog_cache_errors_total{cache="vehicle_state",tier="redis"}"#));
}

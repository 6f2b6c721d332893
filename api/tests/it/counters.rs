//! Counters over HTTP: exact across instances, strict about input, honest when down. How
//! the flush survives crashes is tested in the engine's `jobs` tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use engine::both_modes;
use engine::testing::counter_workload;
use entity::{counter, counter_rejection};
use futures::StreamExt;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{Mode, Proxy, TestApp, host_port, redis_url};

/// Every persisted counter, by key.
async fn persisted(app: &TestApp) -> BTreeMap<String, i64> {
    counter::Entity::find()
        .all(&app.db().await)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.key, c.value))
        .collect()
}

/// Sends `(key, value)` increments with `concurrency` requests in flight, spread over
/// `apps` in turn; every one must be accepted.
async fn send_all(apps: &[&TestApp], increments: &[(String, i64)], concurrency: usize) {
    let statuses: Vec<u16> = futures::stream::iter(increments.iter().enumerate())
        .map(|(i, (key, value))| {
            let app = apps[i % apps.len()];
            let body = json!({"key": key, "value": value}).to_string();
            let path = if i % 2 == 0 {
                "/increment"
            } else {
                "/v1/increment"
            };
            async move { app.post_json(path, &body).await.0 }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 202),
        "every increment is accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_from_two_instances_are_exact_after_a_flush() {
    let first = TestApp::spawn(Mode::Production).await;
    let config = first.config.clone();
    let second = TestApp::spawn_with(Mode::Production, |c| {
        c.store.database_url = config.store.database_url.clone();
        c.store.redis_prefix = config.store.redis_prefix.clone();
    })
    .await;
    let (increments, sums) = counter_workload("k", 30_000, 100);
    send_all(&[&first, &second], &increments, 64).await;
    first.flush_counters().await;
    assert_eq!(persisted(&first).await, sums);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_are_exact_in_embedded_mode() {
    let app = TestApp::spawn(Mode::Embedded).await;
    let (increments, sums) = counter_workload("k", 4_000, 100);
    send_all(&[&app], &increments, 32).await;
    app.flush_counters().await;
    assert_eq!(persisted(&app).await, sums);
}

both_modes!(bad_increments_are_refused_and_change_nothing);
async fn bad_increments_are_refused_and_change_nothing(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let long_key = format!(r#"{{"key": "{}", "value": 1}}"#, "x".repeat(257));
    let wrong_fields = [
        (r#"{"key": "bad", "value": "5"}"#, "value"),
        (r#"{"key": "bad", "value": 1.5}"#, "value"),
        (r#"{"key": "bad", "value": null}"#, "value"),
        (r#"{"key": "bad", "value": false}"#, "value"),
        (r#"{"key": "bad", "value": 9223372036854775808}"#, "value"),
        (r#"{"key": "bad"}"#, "value"),
        (r#"{"value": 1}"#, "key"),
        (r#"{"key": "", "value": 1}"#, "key"),
        (&long_key, "key"),
        (r#"{"key": "bad\u0007", "value": 1}"#, "key"),
    ];
    for (body, field) in wrong_fields {
        let (status, error) = app.post_json("/v1/increment", body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error["code"], "validation_failed", "{body}");
        assert_eq!(error["errors"][0]["field"], field, "{body}: {error}");
    }
    for body in [r#"{"key": "bad", "value": 1"#, ""] {
        let (status, error) = app.post_json("/v1/increment", body).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (400, Some("malformed_json")),
            "{body:?}"
        );
    }
    let response = app
        .client
        .post(app.url("/v1/increment"))
        .header("content-type", "text/plain")
        .body(r#"{"key": "bad", "value": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["code"], "unsupported_media_type");

    // 256 characters, any script, is a fine key; 0 is a fine value.
    let key = "é".repeat(256);
    let (status, _) = app
        .post_json("/increment", &json!({"key": key, "value": 0}).to_string())
        .await;
    assert_eq!(status, 202);

    app.flush_counters().await;
    let (status, _) = app.get_json("/v1/counters/bad").await;
    assert_eq!(status, 404, "nothing was applied to `bad`");
    assert!(
        persisted(&app).await.is_empty(),
        "a 0 increment changes nothing"
    );
}

both_modes!(a_total_beyond_64_bits_is_refused_at_increment_time);
async fn a_total_beyond_64_bits_is_refused_at_increment_time(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let max = json!({"key": "big", "value": i64::MAX}).to_string();
    assert_eq!(app.post_json("/increment", &max).await.0, 202);
    let (status, error) = app
        .post_json("/increment", r#"{"key": "big", "value": 1}"#)
        .await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["code"], "conflict");
    assert!(
        error["detail"].as_str().unwrap().contains("overflow"),
        "{error}"
    );
    assert_eq!(
        app.post_json("/increment", r#"{"key": "big", "value": -1}"#)
            .await
            .0,
        202
    );
    app.flush_counters().await;
    assert_eq!(persisted(&app).await["big"], i64::MAX - 1);
}

both_modes!(a_pending_sum_beyond_64_bits_is_refused_even_when_the_total_fits);
async fn a_pending_sum_beyond_64_bits_is_refused_even_when_the_total_fits(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let low = json!({"key": "swing", "value": -i64::MAX}).to_string();
    let high = json!({"key": "swing", "value": i64::MAX}).to_string();
    assert_eq!(app.post_json("/increment", &low).await.0, 202);
    app.flush_counters().await;
    // Total 0, then MAX: both fit, but the second would make the buffered sum 2 * MAX.
    assert_eq!(app.post_json("/increment", &high).await.0, 202);
    let (status, error) = app.post_json("/increment", &high).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["code"], "conflict");

    let (status, view) = app.get_json("/v1/counters/swing").await;
    assert_eq!(status, 200, "the buffer stays readable: {view}");
    assert_eq!(view["pending"], i64::MAX);
    app.flush_counters().await;
    assert_eq!(persisted(&app).await["swing"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflow_that_reaches_the_flush_is_set_aside_without_blocking_others() {
    let app = TestApp::spawn(Mode::Production).await;
    let db = app.db().await;
    counter::ActiveModel {
        tenant_id: Set("default".into()),
        key: Set("poison".into()),
        value: Set(i64::MAX - 1),
        updated_at: Set(Utc::now()),
    }
    .insert(&db)
    .await
    .unwrap();
    // Redis knows only the buffered part, so it accepts this one.
    assert_eq!(
        app.post_json("/increment", r#"{"key": "poison", "value": 5}"#)
            .await
            .0,
        202
    );
    assert_eq!(
        app.post_json("/increment", r#"{"key": "fine", "value": 5}"#)
            .await
            .0,
        202
    );
    app.flush_counters().await;

    let totals = persisted(&app).await;
    assert_eq!(
        totals["poison"],
        i64::MAX - 1,
        "the poison increment was not applied"
    );
    assert_eq!(totals["fine"], 5, "the rest of the batch was");
    let rejected = counter_rejection::Entity::find().all(&db).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!((rejected[0].key.as_str(), rejected[0].delta), ("poison", 5));
    let (_, view) = app.get_json("/v1/counters/poison").await;
    assert_eq!(
        view["pending"], 0,
        "set aside, not retried with every flush"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("datahog_rejected_increments 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_are_refused_with_503_when_redis_is_down() {
    let proxy = Proxy::start(host_port(&redis_url())).await;
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.store.redis_url = Some(format!("redis://{}/", proxy.addr).into());
        c.store.redis_timeout = Duration::from_secs(1);
    })
    .await;
    assert_eq!(
        app.post_json("/increment", r#"{"key": "up", "value": 1}"#)
            .await
            .0,
        202
    );

    proxy.cut();
    let (status, error) = app
        .post_json("/increment", r#"{"key": "down", "value": 1}"#)
        .await;
    assert_eq!(status, 503);
    assert_eq!(error["code"], "service_unavailable");

    // Nothing partial reached the buffer: only the first increment is there.
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pending: BTreeMap<String, i64> = redis::cmd("HGETALL")
        .arg(format!(
            "{{{}:counters}}:pending",
            app.config.store.redis_prefix
        ))
        .query_async(&mut redis)
        .await
        .unwrap();
    // Buffered as the `default` tenant's counter `up`.
    assert_eq!(pending, BTreeMap::from([("default\u{1f}up".to_owned(), 1)]));
}

both_modes!(the_database_catches_up_within_one_flush_interval);
async fn the_database_catches_up_within_one_flush_interval(mode: Mode) {
    let interval = Duration::from_secs(1);
    let app = TestApp::spawn_with(mode, |c| c.worker.counter_flush_interval = interval).await;
    // Production mode: the workers run in their own processes; here, one in this one.
    let _worker = (mode == Mode::Production).then(|| app.spawn_worker());
    let (increments, sums) = counter_workload("lag", 200, 5);
    send_all(&[&app], &increments, 16).await;

    // One interval until the next slot, then the worker's poll and the flush itself; the
    // slack covers a loaded test machine.
    let bound = interval + Duration::from_secs(2);
    let sent = Instant::now();
    while persisted(&app).await != sums {
        let waited = sent.elapsed();
        assert!(waited < bound, "not caught up after {waited:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The gauge is this test process's, shared with the other apps it runs: another app's
    // scrape may set it between this one's reading and rendering, so a few scrapes are read.
    let mut metrics = String::new();
    for _ in 0..20 {
        metrics = app.get_text("/metrics").await;
        if metrics.contains("datahog_increment_flush_lag_seconds 0\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("datahog_increment_flush_lag_seconds 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("datahog_increment_last_flush_duration_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_flush_once_more_when_they_stop() {
    // The flush interval is a day: only the flush at shutdown can persist these.
    let app = TestApp::spawn(Mode::Embedded).await;
    let (increments, sums) = counter_workload("bye", 100, 5);
    send_all(&[&app], &increments, 8).await;
    let db_url = app.config.store.database_url.expose_secret().to_owned();
    let _kept = app.data_dir();
    app.stop().await.expect("a clean stop");

    let db = sea_orm::Database::connect(&db_url).await.unwrap();
    let totals: BTreeMap<String, i64> = counter::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.key, c.value))
        .collect();
    assert_eq!(totals, sums);
}

both_modes!(counters_are_read_one_by_one_and_page_by_page);
async fn counters_are_read_one_by_one_and_page_by_page(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    for key in ["p-a", "p-b", "p-c"] {
        let body = json!({"key": key, "value": 2}).to_string();
        assert_eq!(app.post_json("/increment", &body).await.0, 202);
    }
    let (status, view) = app.get_json("/v1/counters/p-a").await;
    assert_eq!(status, 200);
    assert_eq!(
        view,
        json!({"tenantId": "default", "key": "p-a", "persisted": 0, "pending": 2, "value": 2, "persistedAt": null})
    );
    app.flush_counters().await;
    assert_eq!(
        app.post_json("/increment", r#"{"key": "p-a", "value": 3}"#)
            .await
            .0,
        202
    );
    let (_, view) = app.get_json("/v1/counters/p-a").await;
    assert_eq!(
        (
            view["persisted"].as_i64(),
            view["pending"].as_i64(),
            view["value"].as_i64()
        ),
        (Some(2), Some(3), Some(5))
    );
    assert!(view["persistedAt"].is_string());

    let (_, first) = app.get_json("/v1/counters?page=1&pageSize=2").await;
    assert_eq!(first["total"], 3);
    let keys: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["p-a", "p-b"]);
    let (_, second) = app.get_json("/v1/counters?page=2&pageSize=2").await;
    assert_eq!(second["items"][0]["key"], "p-c");
    for bad in [
        "/v1/counters?page=0",
        "/v1/counters?pageSize=101",
        "/v1/counters?page=x",
    ] {
        let (status, error) = app.get_json(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(error["code"], "invalid_parameter");
    }
    let (status, _) = app.get_json("/v1/counters/never-seen").await;
    assert_eq!(status, 404);
    assert_eq!(
        counter::Entity::find()
            .count(&app.db().await)
            .await
            .unwrap(),
        3
    );
}

//! Streams as a user lives them: start one, read its batches, stop it, start it again.
//! The provider is a wiremock server; intervals are lowered to a second.

use std::time::{Duration, Instant};

use engine::both_modes;
use engine::testing::provider;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Mode, TestApp};

const BILLS: &str = r#"[{"billedOn": "2026-04-07T15:03:14.257Z", "amount": 22.27}]"#;

async fn spawn(
    mode: Mode,
    server: &MockServer,
    tweak: impl FnOnce(&mut api::config::ApiConfig),
) -> TestApp {
    let providers = vec![format!("gas={}/gas", server.uri())];
    TestApp::spawn_with(mode, move |c| {
        c.worker.providers.providers = providers;
        c.worker.streams.stream_min_interval = Duration::from_secs(1);
        tweak(c);
    })
    .await
}

async fn create(app: &TestApp, interval: i64) -> Value {
    let body = json!({"provider": "gas", "intervalSeconds": interval}).to_string();
    let (status, stream) = app.post_json("/v1/streams", &body).await;
    assert_eq!(status, 201, "{stream}");
    assert_eq!(stream["status"], "active");
    assert!(stream["nextRunAt"].is_string(), "{stream}");
    stream
}

async fn batches(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, page) = app
        .get_json(&format!("/v1/streams/{id}/batches?pageSize=100"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn complete(batches: &[Value]) -> usize {
    batches.iter().filter(|b| b["status"] == "complete").count()
}

async fn until_batches(app: &TestApp, id: &str, n: usize, deadline: Duration) -> Vec<Value> {
    let until = Instant::now() + deadline;
    loop {
        let found = batches(app, id).await;
        if complete(&found) >= n {
            return found;
        }
        assert!(
            Instant::now() < until,
            "only {} complete batches: {found:?}",
            complete(&found)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn slot_seconds(batch: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(batch["slot"].as_str().unwrap())
        .unwrap()
        .timestamp()
}

async fn runs_keep_their_slots_and_stop_means_stop(mode: Mode) {
    let server = provider(&["/gas"], BILLS, Duration::ZERO).await;
    let app = spawn(mode, &server, |_| {}).await;
    let _workers = app.workers();
    let stream = create(&app, 1).await;
    let id = stream["id"].as_str().unwrap();
    let anchor = chrono::DateTime::parse_from_rfc3339(stream["createdAt"].as_str().unwrap())
        .unwrap()
        .timestamp();

    let found = until_batches(&app, id, 3, Duration::from_secs(20)).await;
    let slots: Vec<i64> = found.iter().map(slot_seconds).collect();
    assert!(
        slots.windows(2).all(|w| w[0] > w[1]),
        "newest first, one per slot: {slots:?}"
    );
    assert!(
        slots.iter().all(|s| s >= &anchor),
        "on the grid from its start: {slots:?}"
    );
    let (status, data) = app.get_json(&format!("/v1/streams/{id}/data")).await;
    assert_eq!(status, 200, "{data}");
    assert_eq!(data["data"], serde_json::from_str::<Value>(BILLS).unwrap());
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains(r#"datahog_stream_runs_total{status="complete"}"#));

    let (status, stopped) = app
        .client
        .delete(app.url(&format!("/v1/streams/{id}")))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200);
    let stopped: Value = stopped.json().await.unwrap();
    assert_eq!(stopped["status"], "stopped");
    assert!(stopped.get("nextRunAt").is_none());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests = server.received_requests().await.unwrap().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        requests,
        "no fetch after stop"
    );
    let again = app
        .client
        .delete(app.url(&format!("/v1/streams/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status().as_u16(),
        200,
        "stopping twice is not an error"
    );
    let (_, listed) = app.get_json("/v1/streams?status=stopped").await;
    assert_eq!(listed["total"], 1);

    let (status, started) = app.post_json(&format!("/v1/streams/{id}/start"), "").await;
    assert_eq!(
        (status, started["status"].as_str()),
        (200, Some("active")),
        "{started}"
    );
    let before = complete(&batches(&app, id).await);
    until_batches(&app, id, before + 1, Duration::from_secs(20)).await;
}
both_modes!(runs_keep_their_slots_and_stop_means_stop);

async fn the_latest_complete_batch_is_served_while_a_run_is_in_progress(mode: Mode) {
    let server = provider(&["/gas"], BILLS, Duration::from_millis(1500)).await;
    let app = spawn(mode, &server, |_| {}).await;
    let _workers = app.workers();
    let stream = create(&app, 2).await;
    let id = stream["id"].as_str().unwrap();
    let (status, none) = app.get_json(&format!("/v1/streams/{id}/data")).await;
    assert_eq!(
        (status, none["code"].as_str()),
        (404, Some("not_found")),
        "{none}"
    );
    assert!(
        none["detail"]
            .as_str()
            .unwrap()
            .contains("no complete batch"),
        "{none}"
    );

    // Wait for a moment when the newest run is still running and an older one is complete.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let found = batches(&app, id).await;
        if found.first().is_some_and(|b| b["status"] == "running") && complete(&found) >= 1 {
            let latest_complete = found.iter().find(|b| b["status"] == "complete").unwrap();
            let (status, data) = app.get_json(&format!("/v1/streams/{id}/data")).await;
            assert_eq!(status, 200);
            assert_eq!(
                data["slot"], latest_complete["slot"],
                "the last complete one, not the running one"
            );
            assert!(data["data"].is_array());
            break;
        }
        assert!(
            Instant::now() < until,
            "never saw a run in progress after a complete one"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
both_modes!(the_latest_complete_batch_is_served_while_a_run_is_in_progress);

async fn a_down_provider_is_skipped_with_its_reason(mode: Mode) {
    let server = MockServer::start().await;
    Mock::given(path("/gas"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let app = spawn(mode, &server, |c| {
        c.worker.providers.provider_failure_threshold = 1;
        c.worker.providers.provider_cooldown_min = Duration::from_secs(30);
        c.worker.providers.provider_cooldown_max = Duration::from_secs(30);
    })
    .await;
    let _workers = app.workers();
    let stream = create(&app, 1).await;
    let id = stream["id"].as_str().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let found = batches(&app, id).await;
        if found.iter().filter(|b| b["status"] == "skipped").count() >= 2 {
            break found;
        }
        assert!(Instant::now() < until, "no skipped runs: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failed: Vec<_> = found.iter().filter(|b| b["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "one call took it down: {found:?}");
    assert!(failed[0]["reason"].as_str().unwrap().contains("500"));
    let skipped = found.iter().find(|b| b["status"] == "skipped").unwrap();
    assert!(
        skipped["reason"].as_str().unwrap().contains("down"),
        "{skipped}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "skipped runs do not call it"
    );
}
both_modes!(a_down_provider_is_skipped_with_its_reason);

async fn only_the_newest_batches_are_kept(mode: Mode) {
    let server = provider(&["/gas"], BILLS, Duration::ZERO).await;
    let app = spawn(mode, &server, |c| c.worker.streams.stream_retention = 2).await;
    let _workers = app.workers();
    let stream = create(&app, 1).await;
    let id = stream["id"].as_str().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while server.received_requests().await.unwrap().len() < 4 {
        assert!(Instant::now() < until, "the stream did not run four times");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept = batches(&app, id).await;
    assert!(
        kept.len() <= 3,
        "two kept, plus at most one run since: {kept:?}"
    );
}
both_modes!(only_the_newest_batches_are_kept);

async fn bad_stream_requests_name_the_field(mode: Mode) {
    let server = provider(&["/gas"], BILLS, Duration::ZERO).await;
    let app = spawn(mode, &server, |c| {
        c.worker.streams.stream_min_interval = Duration::from_secs(10)
    })
    .await;
    let cases = [
        (
            json!({"provider": "water", "intervalSeconds": 60}),
            "provider",
        ),
        (json!({"intervalSeconds": 60}), "provider"),
        (
            json!({"provider": "gas", "intervalSeconds": 5}),
            "intervalSeconds",
        ),
        (
            json!({"provider": "gas", "intervalSeconds": 86401}),
            "intervalSeconds",
        ),
        (
            json!({"provider": "gas", "intervalSeconds": "60"}),
            "intervalSeconds",
        ),
        (
            json!({"provider": "gas", "intervalSeconds": 1.5}),
            "intervalSeconds",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post_json("/v1/streams", &body.to_string()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert_eq!(answer["errors"][0]["field"], field, "{body} -> {answer}");
    }
    let (status, default) = app.post_json("/v1/streams", r#"{"provider": "gas"}"#).await;
    assert_eq!(
        (status, default["intervalSeconds"].as_i64()),
        (201, Some(300))
    );
    let (status, answer) = app.get_json("/v1/streams?status=paused").await;
    assert_eq!(
        (status, answer["errors"][0]["field"].as_str()),
        (400, Some("status"))
    );
    for route in [
        "/v1/streams/nope",
        "/v1/streams/nope/data",
        "/v1/streams/nope/batches",
    ] {
        assert_eq!(app.get_json(route).await.0, 404, "{route}");
    }
    assert_eq!(app.post_json("/v1/streams/nope/start", "").await.0, 404);
    let deleted = app
        .client
        .delete(app.url("/v1/streams/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 404);
}
both_modes!(bad_stream_requests_name_the_field);

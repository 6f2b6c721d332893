//! Streams as a user lives them: start one, read its batches, stop it, start it again.
//! The provider is a wiremock server; intervals are lowered to a second.

use std::time::{Duration, Instant};

use entity::{stream, stream_batch};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_modes;
use crate::helpers::{Mode, TestApp};

const BILLS: &str = r#"[{"billedOn": "2026-04-07T15:03:14.257Z", "amount": 22.27}]"#;

async fn provider(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/gas"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(BILLS, "application/json")
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

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
    let server = provider(Duration::ZERO).await;
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
    let server = provider(Duration::from_millis(1500)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_make_one_fetch_per_slot_and_a_restarted_worker_carries_on() {
    let server = provider(Duration::ZERO).await;
    let app = spawn(Mode::Production, &server, |_| {}).await;
    let first = app.spawn_worker();
    let second = app.spawn_worker();
    let stream = create(&app, 1).await;
    let id = stream["id"].as_str().unwrap();
    let found = until_batches(&app, id, 4, Duration::from_secs(20)).await;
    let requests = server.received_requests().await.unwrap().len();
    assert!(
        requests <= found.len() + 1,
        "{requests} fetches for {} runs",
        found.len()
    );

    // Both stop between slots; one comes back after several slots went by.
    drop(first);
    drop(second);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = batches(&app, id).await;
    let back = Instant::now();
    let _third = app.spawn_worker();
    let after = until_batches(&app, id, complete(&before) + 3, Duration::from_secs(20)).await;
    let new: Vec<i64> = after
        .iter()
        .map(slot_seconds)
        .filter(|s| !before.iter().map(slot_seconds).any(|b| b == *s))
        .collect();
    let elapsed = back.elapsed().as_secs() as usize;
    assert!(
        new.len() <= elapsed + 2,
        "missed slots are not replayed: {} runs in {elapsed} s",
        new.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_re_arms_a_stream_whose_run_vanished() {
    let server = provider(Duration::ZERO).await;
    let app = spawn(Mode::Production, &server, |c| {
        c.worker.webhooks.sweep_interval = Duration::from_secs(1);
        c.worker.webhooks.sweep_grace = Duration::from_secs(1);
    })
    .await;
    let _workers = app.workers();
    let now = chrono::Utc::now();
    let id = ulid::Ulid::generate().to_string();
    stream::Entity::insert(stream::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set("default".into()),
        provider: Set("gas".into()),
        interval_seconds: Set(60),
        status: Set(stream::StreamStatus::Active),
        anchor_at: Set(now.timestamp() - 600),
        next_run_at: Set(Some(now.timestamp() - 120)),
        created_at: Set(now),
        updated_at: Set(now),
        stopped_at: Set(None),
    })
    .exec_without_returning(&app.db().await)
    .await
    .unwrap();
    let found = until_batches(&app, &id, 1, Duration::from_secs(20)).await;
    assert_eq!(
        found.len(),
        1,
        "one run for the missed slots, not ten: {found:?}"
    );
    let (_, shown) = app.get_json(&format!("/v1/streams/{id}")).await;
    assert!(shown["nextRunAt"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_died_mid_way_is_finished_as_failed_and_the_stream_goes_on() {
    let server = provider(Duration::ZERO).await;
    let app = spawn(Mode::Production, &server, |c| {
        c.worker.webhooks.sweep_interval = Duration::from_secs(1);
        c.worker.webhooks.sweep_grace = Duration::from_secs(1);
        c.worker.worker_job_timeout = Duration::from_secs(5);
    })
    .await;
    let _workers = app.workers();
    // Its worker died while calling the provider: the batch is left running, the next
    // run's job lost with it.
    let now = chrono::Utc::now();
    let id = ulid::Ulid::generate().to_string();
    let anchor = now.timestamp() - 600;
    let db = app.db().await;
    stream::Entity::insert(stream::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set("default".into()),
        provider: Set("gas".into()),
        interval_seconds: Set(60),
        status: Set(stream::StreamStatus::Active),
        anchor_at: Set(anchor),
        next_run_at: Set(Some(anchor + 540)),
        created_at: Set(now),
        updated_at: Set(now),
        stopped_at: Set(None),
    })
    .exec_without_returning(&db)
    .await
    .unwrap();
    stream_batch::Entity::insert(stream_batch::ActiveModel {
        stream_id: Set(id.clone()),
        slot: Set(anchor + 480),
        status: Set(stream_batch::BatchStatus::Running),
        started_at: Set(now - chrono::Duration::seconds(60)),
        ..Default::default()
    })
    .exec_without_returning(&db)
    .await
    .unwrap();

    let until = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found = batches(&app, &id).await;
        if complete(&found) >= 1 && found.iter().all(|b| b["status"] != "running") {
            break found;
        }
        assert!(Instant::now() < until, "the stuck run stayed: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let statuses: Vec<&str> = found
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["complete", "failed"], "{found:?}");
    assert!(
        found[1]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("worker died"),
        "{found:?}"
    );
}

async fn only_the_newest_batches_are_kept(mode: Mode) {
    let server = provider(Duration::ZERO).await;
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
    let server = provider(Duration::ZERO).await;
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

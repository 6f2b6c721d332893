//! Health, readiness and metrics.

use std::time::Duration;

use engine::both_modes;
use engine::testing::eventually;
use entity::counter;
use sea_orm::EntityTrait;

use crate::helpers::{Mode, Proxy, TestApp, host_port, redis_url};

/// The operator's key, where a test reads the operator's figures.
const ADMIN: &str = "admin-key-for-ops-tests-0123456789";

both_modes!(health_and_readiness);
async fn health_and_readiness(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, body) = app.get_json("/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "ok");
    let redis = if mode == Mode::Production {
        "ok"
    } else {
        "not_configured"
    };
    assert_eq!(body["redis"], redis);
}

both_modes!(metrics_count_requests_and_cache_tiers);
async fn metrics_count_requests_and_cache_tiers(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    for _ in 0..2 {
        app.get_json("/v1/vehicles/1/state?at=2022-09-12T10:00:00Z")
            .await;
    }
    app.get_json("/v1/vehicles/1/state?at=nope").await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"datahog_http_requests_total{method="GET",route="/v1/vehicles/{id}/state",status="200"}"#,
        r#"datahog_http_requests_total{method="GET",route="/v1/vehicles/{id}/state",status="400"}"#,
        r#"datahog_http_request_duration_seconds_bucket{method="GET",route="/v1/vehicles/{id}/state",status="200",le="0.005"}"#,
        r#"datahog_cache_requests_total{cache="vehicle_state",tier="local",result="hit"}"#,
        r#"datahog_cache_requests_total{cache="vehicle_state",tier="local",result="miss"}"#,
    ] {
        assert!(text.contains(expected), "missing {expected}");
    }
    if mode == Mode::Production {
        assert!(text.contains(
            r#"datahog_cache_requests_total{cache="vehicle_state",tier="redis",result="miss"}"#
        ));
    }
    // Every family has its help and its type, and names its unit.
    let families: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split(['{', ' ']).next().unwrap())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
        })
        .collect();
    assert!(families.len() >= 3, "{text}");
    for family in families {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "help of {family}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "type of {family}"
        );
    }
    assert!(text.contains("# TYPE datahog_http_request_duration_seconds histogram"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_its_worker_wait_out_a_redis_outage() {
    let proxy = Proxy::start(host_port(&redis_url())).await;
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.store.redis_url = Some(format!("redis://{}/", proxy.addr).into());
        c.store.redis_timeout = Duration::from_secs(1);
        c.worker.counter_flush_interval = Duration::from_secs(1);
    })
    .await;
    let _worker = app.spawn_worker();
    let increment = |key: &'static str| {
        let app = &app;
        async move {
            app.post_json("/increment", &format!(r#"{{"key": "{key}", "value": 2}}"#))
                .await
                .0
        }
    };
    assert_eq!(increment("before").await, 202);

    proxy.cut();
    let (status, body) = app.get_json("/ready").await;
    assert_eq!((status, body["redis"].as_str()), (503, Some("unavailable")));
    assert_eq!(increment("during").await, 503);
    // Long enough for the worker's polls and heartbeats to fail (they stopped the process
    // before).
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.restore().await;
    let ready = eventually(Duration::from_secs(30), async || {
        app.get_json("/ready").await.0 == 200
    })
    .await;
    assert!(ready, "ready again once Redis answers");
    assert_eq!(increment("after").await, 202);
    // The worker in this process survived the outage and flushes both increments.
    let db = app.db().await;
    let flushed = eventually(Duration::from_secs(60), async || {
        let keys: Vec<(String, i64)> = counter::Entity::find()
            .all(&db)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.key, c.value))
            .collect();
        keys.len() == 2 && keys.iter().all(|(k, v)| k != "during" && *v == 2)
    })
    .await;
    assert!(
        flushed,
        "the increments before and after the outage were flushed"
    );
}

/// A queue nobody serves is reported stalled once its oldest due job has waited past
/// `QUEUE_STALL_AFTER`, in `/v1/stats` and `/metrics`; served again, it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_no_worker_takes_from_is_reported_stalled() {
    let providers =
        engine::testing::provider(&["/gas"], engine::testing::BILL, Duration::ZERO).await;
    let receiver = engine::testing::receiver(200).await;
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.worker.queue_stall_after = Duration::from_secs(1);
        c.worker.providers.providers = vec![format!("gas={}/gas", providers.uri())];
        // The queues are the operator's figures.
        c.tenants.admin_api_key = Some(ADMIN.to_owned().into());
    })
    .await;
    let collect_stalled = async || {
        let response = app.client.get(app.url("/v1/stats")).bearer_auth(ADMIN);
        let stats: serde_json::Value = response.send().await.unwrap().json().await.unwrap();
        stats["queues"]
            .as_array()
            .and_then(|queues| queues.iter().find(|q| q["name"] == "collect"))
            .map(|q| q["stalled"] == true)
            .unwrap_or(false)
    };
    assert!(!collect_stalled().await, "nothing waits yet");
    // No worker process runs: the collection waits in the queue.
    let body =
        serde_json::json!({"provider": "gas", "callbackUrl": format!("{}/hook", receiver.uri())});
    let (status, answer) = app.post_json("/v1/webhooks", &body.to_string()).await;
    assert_eq!(status, 202, "{answer}");
    assert!(
        eventually(Duration::from_secs(20), collect_stalled).await,
        "the unserved collect queue was never reported stalled"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("datahog_queue_stalled{queue=\"collect\"} 1"),
        "{metrics}"
    );

    let _worker = app.spawn_worker();
    assert!(
        eventually(Duration::from_secs(30), async || !collect_stalled().await).await,
        "the collect queue stayed stalled with a worker serving it"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("datahog_queue_stalled{queue=\"collect\"} 0"),
        "{metrics}"
    );
}

/// Workers that stopped stay in the queue's registry: listed as silent for a while, then no
/// more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_long_gone_are_no_longer_listed() {
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.tenants.admin_api_key = Some(ADMIN.to_owned().into());
    })
    .await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let registry = format!("{{{}:collect}}:workers", app.config.store.redis_prefix);
    let now = chrono::Utc::now().timestamp();
    let _: () = redis::cmd("ZADD")
        .arg(&registry)
        .arg(now - 120)
        .arg("stopped-a-minute-ago-collect-0")
        .arg(now - 3 * 3600)
        .arg("stopped-hours-ago-collect-0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let response = app.client.get(app.url("/v1/stats")).bearer_auth(ADMIN);
    let stats: serde_json::Value = response.send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = stats["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert!(
        names.contains(&"stopped-a-minute-ago-collect-0"),
        "{names:?}"
    );
    assert!(!names.contains(&"stopped-hours-ago-collect-0"), "{names:?}");
}

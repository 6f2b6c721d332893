//! `GET /v1/stats`: each tenant's own figures and the last hour's, the operator's view,
//! and the same gauges on `/metrics`.

use engine::both_modes;
use engine::testing::receiver;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::Mode;

use super::{ADMIN, call, get, providers, spawn, submit, tenant, wait_status};

/// The number of webhooks in `status` in a stats answer.
fn count_of(stats: &Value, status: &str) -> u64 {
    stats["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == status)
        .unwrap_or_else(|| panic!("no {status} in {stats}"))["count"]
        .as_u64()
        .unwrap()
}

both_modes!(stats_are_the_tenants_own_and_count_the_last_hour);
async fn stats_are_the_tenants_own_and_count_the_last_hour(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, true).await;
    let _workers = app.workers();
    let (a, key_a) = tenant(&app, "acme").await;
    let (b, key_b) = tenant(&app, "globex").await;
    let ok = receiver(200).await;
    let failing = receiver(500).await;
    let hook = |server: &MockServer| format!("{}/hook", server.uri());

    let delivered = [
        submit(&app, Some(&key_a), "gas", &hook(&ok)).await,
        submit(&app, Some(&key_a), "gas", &hook(&ok)).await,
    ];
    let parked = submit(&app, Some(&key_b), "gas", &hook(&failing)).await;
    for id in &delivered {
        let webhook = wait_status(&app, Some(&key_a), id, "delivered").await;
        // The webhook's page: what each provider gave and the body every attempt sent.
        assert_eq!(webhook["providers"][0]["data"], json!([{"amount": 1}]));
        assert_eq!(webhook["callbackBody"]["id"], id.as_str());
        assert_eq!(
            webhook["callbackBody"]["data"]["gas"],
            json!([{"amount": 1}])
        );
    }
    wait_status(&app, Some(&key_b), &parked, "parked").await;
    let (status, stream) = call(
        &app,
        Method::POST,
        "/v1/streams",
        Some(&key_b),
        Some(json!({"provider": "gas", "intervalSeconds": 3600})),
    )
    .await;
    assert_eq!(status, 201, "{stream}");
    let (status, _) = call(
        &app,
        Method::POST,
        "/v1/increment",
        Some(&key_a),
        Some(json!({"key": "k", "value": 1})),
    )
    .await;
    assert_eq!(status, 202);
    app.flush_counters().await;

    let mine = get(&app, "/v1/stats", Some(&key_a)).await;
    assert_eq!(mine["tenantId"], a.as_str());
    assert_eq!(count_of(&mine, "delivered"), 2);
    assert_eq!(count_of(&mine, "parked"), 0);
    let hour = &mine["lastHour"];
    assert_eq!(hour["minutes"].as_array().unwrap().len(), 60);
    let per_minute = |field: &str| -> u64 {
        hour["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (hour["submitted"].as_u64(), per_minute("submitted")),
        (Some(2), 2)
    );
    assert_eq!(
        (hour["delivered"].as_u64(), per_minute("delivered")),
        (Some(2), 2)
    );
    assert_eq!(
        (hour["attempts"].as_u64(), per_minute("failed")),
        (Some(2), 0)
    );
    assert_eq!(hour["successRate"], 1.0);
    assert_eq!(hour["sampleSize"], 2);
    let (p50, p99) = (
        hour["p50Ms"].as_i64().unwrap(),
        hour["p99Ms"].as_i64().unwrap(),
    );
    assert!(0 <= p50 && p50 <= p99, "{hour}");
    // The platform's queues and workers, and how busy other tenants are, are not a tenant's.
    for operators in ["queues", "workers"] {
        assert!(mine.get(operators).is_none(), "{operators} in {mine}");
    }
    assert!(mine["counters"].get("lastFlushKeys").is_none(), "{mine}");
    assert_eq!(
        mine["streams"],
        json!([{"status": "active", "count": 0}, {"status": "stopped", "count": 0}])
    );
    assert_eq!(mine["providers"][0]["name"], "gas");
    assert_eq!(mine["providers"][0]["health"], "up");
    assert!(mine["counters"]["lastFlushAt"].is_string(), "{mine}");

    let theirs = get(&app, "/v1/stats", Some(&key_b)).await;
    assert_eq!(theirs["tenantId"], b.as_str());
    assert_eq!(count_of(&theirs, "parked"), 1);
    assert_eq!(count_of(&theirs, "delivered"), 0);
    assert_eq!(theirs["lastHour"]["attempts"], 1);
    assert_eq!(theirs["lastHour"]["delivered"], 0);
    assert_eq!(theirs["lastHour"]["successRate"], 0.0);
    assert!(theirs["lastHour"].get("p50Ms").is_none(), "{theirs}");
    assert_eq!(
        theirs["streams"],
        json!([{"status": "active", "count": 1}, {"status": "stopped", "count": 0}])
    );

    // The operator: every tenant's, or one's.
    let all = get(&app, "/v1/stats", Some(ADMIN)).await;
    assert!(all.get("tenantId").is_none(), "{all}");
    assert_eq!(
        (count_of(&all, "delivered"), count_of(&all, "parked")),
        (2, 1)
    );
    let queues: Vec<&str> = all["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    for queue in ["collect", "deliver", "stream_tick", "counters"] {
        assert!(queues.contains(&queue), "{queues:?}");
    }
    let workers = all["workers"].as_array().unwrap();
    assert!(
        workers
            .iter()
            .any(|w| w["queue"] == "deliver" && w["alive"] == true),
        "{workers:?}"
    );
    assert_eq!(all["counters"]["lastFlushKeys"], 1);
    let one = get(&app, &format!("/v1/stats?tenant={b}"), Some(ADMIN)).await;
    assert_eq!(one["tenantId"], b.as_str());
    assert_eq!(count_of(&one, "delivered"), 0);
    let (status, _) = call(&app, Method::GET, "/v1/stats", None, None).await;
    assert_eq!(status, 401);

    // The same figures for Prometheus, every tenant's (the values are not checked: every
    // app of this test process shares one recorder).
    let metrics = app.get_text("/metrics").await;
    for line in [
        "datahog_webhooks{status=\"parked\"}",
        "datahog_webhooks{status=\"delivered\"}",
        "datahog_provider_health{provider=\"gas\"}",
        "datahog_queue_ready_jobs{queue=\"deliver\"}",
        "datahog_queue_oldest_ready_seconds{queue=\"collect\"}",
        "datahog_process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(line), "no `{line}` in:\n{metrics}");
    }
}

both_modes!(latency_counts_each_webhooks_first_delivery_only);
async fn latency_counts_each_webhooks_first_delivery_only(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, false).await;
    let _workers = app.workers();
    let ok = receiver(200).await;
    let id = submit(&app, None, "gas", &format!("{}/hook", ok.uri())).await;
    wait_status(&app, None, &id, "delivered").await;
    let first = get(&app, "/v1/stats", None).await["lastHour"]["p99Ms"].clone();
    let took = first.as_u64().expect("a p99 once delivered");

    // Redelivered well after its submission: its first delivery still says how fast it was.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let path = format!("/v1/webhooks/{id}/redeliver");
    let (status, answer) = call(&app, Method::POST, &path, None, None).await;
    assert_eq!(status, 202, "{answer}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while ok.received_requests().await.unwrap().len() < 2 {
        assert!(
            std::time::Instant::now() < until,
            "the redelivery never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    wait_status(&app, None, &id, "delivered").await;
    let stats = get(&app, "/v1/stats", None).await;
    assert_eq!(stats["lastHour"]["p99Ms"], json!(took), "{stats}");
    assert_eq!(stats["lastHour"]["p50Ms"], json!(took), "{stats}");
}

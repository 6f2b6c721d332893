//! Per-tenant limits: the rate limit answers 429 and recovers, and quotas refuse without
//! creating anything.

use std::time::Duration;

use engine::both_modes;
use reqwest::Method;
use serde_json::json;

use crate::helpers::Mode;

use super::{call, providers, spawn, tenant};

both_modes!(rate_limits_answer_429_and_recover);
async fn rate_limits_answer_429_and_recover(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let (_, key, _) = tenant(&app, "slow", json!({"rateLimitPerSecond": 2})).await;
    let (_, other, _) = tenant(&app, "other", json!({"rateLimitPerSecond": 2})).await;
    let lookup = "/v1/vehicles/2/state?at=2022-09-12T10:00:00Z";
    let mut refused = None;
    for _ in 0..10 {
        let (status, headers, body) = call(&app, Method::GET, lookup, Some(&key), None).await;
        if status == 429 {
            refused = Some((headers, body));
            break;
        }
        assert_eq!(status, 200);
    }
    let (headers, body) = refused.expect("the burst of 4 runs out within 10 requests");
    assert_eq!(body["code"], "rate_limited");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(headers["ratelimit"].to_str().unwrap().contains("r=0"));
    assert_eq!(headers["ratelimit-policy"], "\"tenant\";q=2;w=1");
    let (status, _, _) = call(&app, Method::GET, lookup, Some(&other), None).await;
    assert_eq!(status, 200, "another tenant has its own budget");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = call(&app, Method::GET, lookup, Some(&key), None).await;
    assert_eq!(status, 200, "the bucket refills");
}

both_modes!(quotas_refuse_and_create_nothing);
async fn quotas_refuse_and_create_nothing(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let quotas = json!({"quotas": {"activeStreams": 1, "pendingWebhooks": 0}});
    let (_, key, _) = tenant(&app, "small", quotas).await;
    let stream = json!({"provider": "gas", "intervalSeconds": 3600});
    let (status, _, first) = call(
        &app,
        Method::POST,
        "/v1/streams",
        Some(&key),
        Some(stream.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/v1/streams",
        Some(&key),
        Some(stream.clone()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("quota_exceeded"))
    );
    assert!(body.to_string().contains("activeStreams (1)"), "{body}");
    let (_, _, list) = call(&app, Method::GET, "/v1/streams", Some(&key), None).await;
    assert_eq!(list["total"], 1);
    // Stopped, it leaves room; starting it again counts.
    let first_path = format!("/v1/streams/{}", first["id"].as_str().unwrap());
    call(&app, Method::DELETE, &first_path, Some(&key), None).await;
    let (status, _, _) = call(&app, Method::POST, "/v1/streams", Some(&key), Some(stream)).await;
    assert_eq!(status, 201);
    let (status, _, body) = call(
        &app,
        Method::POST,
        &format!("{first_path}/start"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("quota_exceeded"))
    );

    let (status, _, body) = call(
        &app,
        Method::POST,
        "/v1/webhooks",
        Some(&key),
        Some(json!({"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("quota_exceeded"))
    );
    assert!(body.to_string().contains("pendingWebhooks (0)"), "{body}");
    let (_, _, list) = call(&app, Method::GET, "/v1/webhooks", Some(&key), None).await;
    assert_eq!(list["total"], 0);
}

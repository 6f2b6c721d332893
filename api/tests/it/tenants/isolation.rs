//! Isolation between tenants: each sees and touches only its own webhooks, streams,
//! counters, idempotency keys and failing receivers; the operator sees everyone's.

use std::time::Duration;

use engine::both_modes;
use engine::testing::receiver;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::Mode;

use super::{ADMIN, CONFIGURED, call, eventually, providers, spawn, submit, tenant};

both_modes!(tenants_see_and_touch_only_their_own);
async fn tenants_see_and_touch_only_their_own(mode: Mode) {
    let sources = providers().await;
    let hooks = receiver(200).await;
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let (a_id, a, _) = tenant(&app, "a", json!({})).await;
    let (b_id, b, _) = tenant(&app, "b", json!({})).await;

    // Webhooks.
    let webhook = submit(&app, &a, &hooks.uri()).await;
    let path = format!("/v1/webhooks/{webhook}");
    let (status, _, seen) = call(&app, Method::GET, &path, Some(&a), None).await;
    assert_eq!(
        (status, seen["tenantId"].as_str()),
        (200, Some(a_id.as_str()))
    );
    let (status, _, _) = call(&app, Method::GET, &path, Some(&b), None).await;
    assert_eq!(status, 404, "another tenant's webhook does not exist for b");
    let (_, _, list) = call(&app, Method::GET, "/v1/webhooks", Some(&b), None).await;
    assert_eq!(list["total"], 0);
    let (_, _, list) = call(&app, Method::GET, "/v1/webhooks", Some(&a), None).await;
    assert_eq!(list["total"], 1);
    eventually(Duration::from_secs(20), "delivery", async || {
        let (_, _, seen) = call(&app, Method::GET, &path, Some(&a), None).await;
        seen["status"] == "delivered"
    })
    .await;
    let (status, _, _) = call(
        &app,
        Method::POST,
        &format!("{path}/redeliver"),
        Some(&b),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // The operator sees everyone's, or one tenant's.
    let (_, _, all) = call(&app, Method::GET, "/v1/webhooks", Some(ADMIN), None).await;
    assert_eq!(all["total"], 1);
    let (_, _, of_b) = call(
        &app,
        Method::GET,
        &format!("/v1/webhooks?tenant={b_id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(of_b["total"], 0);
    let (status, _, _) = call(&app, Method::GET, &path, Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/v1/webhooks",
        Some(ADMIN),
        Some(json!({"provider": "gas", "callbackUrl": hooks.uri()})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));

    // Streams.
    let (status, _, stream) = call(
        &app,
        Method::POST,
        "/v1/streams",
        Some(&a),
        Some(json!({"provider": "gas", "intervalSeconds": 3600})),
    )
    .await;
    assert_eq!(status, 201, "{stream}");
    let stream_path = format!("/v1/streams/{}", stream["id"].as_str().unwrap());
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::GET, "/batches"),
        (Method::GET, "/data"),
        (Method::DELETE, ""),
        (Method::POST, "/start"),
    ] {
        let (status, _, _) = call(
            &app,
            method.clone(),
            &format!("{stream_path}{suffix}"),
            Some(&b),
            None,
        )
        .await;
        assert_eq!(status, 404, "{method} {suffix} of another tenant's stream");
    }
    let (_, _, streams_of_b) = call(&app, Method::GET, "/v1/streams", Some(&b), None).await;
    assert_eq!(streams_of_b["total"], 0);
    let (status, _, stopped) = call(&app, Method::DELETE, &stream_path, Some(&a), None).await;
    assert_eq!((status, stopped["status"].as_str()), (200, Some("stopped")));

    // Counters: one name, two counters.
    for (key, value) in [(&a, 3), (&b, 40), (&a, 4)] {
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/v1/increment",
            Some(key),
            Some(json!({"key": "visits", "value": value})),
        )
        .await;
        assert_eq!(status, 202);
    }
    let (_, _, pending) = call(&app, Method::GET, "/v1/counters/visits", Some(&a), None).await;
    assert_eq!(
        (pending["pending"].as_i64(), pending["value"].as_i64()),
        (Some(7), Some(7))
    );
    app.flush_counters().await;
    let (_, _, of_a) = call(&app, Method::GET, "/v1/counters/visits", Some(&a), None).await;
    let (_, _, of_b) = call(&app, Method::GET, "/v1/counters/visits", Some(&b), None).await;
    assert_eq!(
        (of_a["persisted"].as_i64(), of_a["pending"].as_i64()),
        (Some(7), Some(0))
    );
    assert_eq!(of_b["persisted"].as_i64(), Some(40));
    let (_, _, list_b) = call(&app, Method::GET, "/v1/counters", Some(&b), None).await;
    assert_eq!(list_b["total"], 1);
    assert_eq!(list_b["items"][0]["value"], 40);
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/v1/counters/visits",
        Some(CONFIGURED),
        None,
    )
    .await;
    assert_eq!(status, 404, "the default tenant never counted visits");
    let (status, _, _) = call(&app, Method::GET, "/v1/counters/visits", Some(ADMIN), None).await;
    assert_eq!(status, 400, "the operator names the tenant");
    let (_, _, via_admin) = call(
        &app,
        Method::GET,
        &format!("/v1/counters/visits?tenant={a_id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(via_admin["value"], 7);

    // Idempotency keys are per tenant.
    let body = json!({"provider": "gas", "callbackUrl": hooks.uri()});
    let mut ids = Vec::new();
    for key in [&a, &b] {
        let response = app
            .client
            .post(app.url("/v1/webhooks"))
            .bearer_auth(key)
            .header("idempotency-key", "same-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        assert!(response.headers().get("idempotent-replayed").is_none());
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_ne!(ids[0], ids[1]);
}

both_modes!(a_tenant_sees_only_the_receivers_its_webhooks_call);
async fn a_tenant_sees_only_the_receivers_its_webhooks_call(mode: Mode) {
    let sources = providers().await;
    let failing = receiver(500).await;
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let (_, a, _) = tenant(&app, "a", json!({})).await;
    let (_, b, _) = tenant(&app, "b", json!({})).await;
    let id = submit(&app, &a, &failing.uri()).await;
    eventually(Duration::from_secs(20), "the webhook parked", async || {
        let (_, _, seen) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks/{id}"),
            Some(&a),
            None,
        )
        .await;
        seen["status"] == "parked"
    })
    .await;
    let (status, _, of_a) = call(&app, Method::GET, "/v1/receivers", Some(&a), None).await;
    assert_eq!(status, 200, "{of_a}");
    assert_eq!(of_a["items"].as_array().unwrap().len(), 1, "{of_a}");
    let (_, _, of_b) = call(&app, Method::GET, "/v1/receivers", Some(&b), None).await;
    assert_eq!(
        of_b["items"],
        json!([]),
        "b's webhooks call no failing host"
    );
    let (_, _, all) = call(&app, Method::GET, "/v1/receivers", Some(ADMIN), None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "{all}");
}

//! Tenants as an operator and two customers live them: keys, isolation, idempotency,
//! signing-secret rotation, rate limits and quotas. Providers and receivers are wiremock
//! servers; everything else is real.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use engine::both_modes;
use engine::testing::{BILL, provider, receiver};
use entity::idempotency_record;
use reqwest::Method;
use reqwest::header::HeaderMap;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use wiremock::{MockServer, Request};

use crate::helpers::{Mode, TestApp};

const ADMIN: &str = "admin-key-for-tests-0123456789";
const CONFIGURED: &str = "configured-default-key-0123456789";

/// An app that requires keys, with one provider (`gas`) on `providers`.
async fn spawn(
    mode: Mode,
    providers: &MockServer,
    tweak: impl FnOnce(&mut api::config::ApiConfig),
) -> TestApp {
    let gas = format!("gas={}/gas", providers.uri());
    TestApp::spawn_with(mode, move |c| {
        c.tenants.auth_disabled = false;
        c.tenants.admin_api_key = Some(ADMIN.to_owned().into());
        c.http.api_keys = vec![CONFIGURED.to_owned().into()];
        c.worker.providers.providers = vec![gas];
        c.worker.webhooks.delivery_schedule = vec![Duration::ZERO];
        tweak(c);
    })
    .await
}

/// The `gas` provider, answering a bill.
async fn providers() -> MockServer {
    provider(&["/gas"], BILL, Duration::ZERO).await
}

/// One request with `key` as bearer (none when `None`): status, headers, JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

/// Creates a tenant; its id, key and signing secret.
async fn tenant(app: &TestApp, name: &str, extra: Value) -> (String, String, String) {
    let mut body = json!({"name": name});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (status, _, created) = call(
        app,
        Method::POST,
        "/v1/admin/tenants",
        Some(ADMIN),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], name);
    assert!(
        created["signingSecret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    let key = created["key"]["key"].as_str().unwrap().to_owned();
    assert_eq!(created["key"]["prefix"].as_str().unwrap(), &key[..10]);
    (
        created["id"].as_str().unwrap().to_owned(),
        key,
        created["signingSecret"].as_str().unwrap().to_owned(),
    )
}

async fn submit(app: &TestApp, key: &str, callback: &str) -> String {
    let body = json!({"provider": "gas", "callbackUrl": callback});
    let (status, _, answer) = call(app, Method::POST, "/v1/webhooks", Some(key), Some(body)).await;
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

/// Waits until `check` holds; panics naming `what` once `deadline` passed.
async fn eventually(deadline: Duration, what: &str, check: impl AsyncFn() -> bool) {
    let held = engine::testing::eventually(deadline, check).await;
    assert!(held, "timed out waiting for {what}");
}

both_modes!(keys_admin_routes_and_revocation);
async fn keys_admin_routes_and_revocation(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let (id, key, _) = tenant(&app, "acme", json!({"rateLimitPerSecond": 50})).await;

    // Who may call the operator's routes.
    let (status, _, body) = call(&app, Method::GET, "/v1/admin/tenants", None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _, _) = call(&app, Method::GET, "/v1/admin/tenants", Some("wrong"), None).await;
    assert_eq!(status, 401);
    let (status, _, body) = call(&app, Method::GET, "/v1/admin/tenants", Some(&key), None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/v1/admin/tenants",
        Some(CONFIGURED),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // Reading and changing a tenant.
    let (status, _, page) = call(&app, Method::GET, "/v1/admin/tenants", Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "acme"]);
    let (status, _, shown) = call(
        &app,
        Method::GET,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown["rateLimitPerSecond"], 50);
    assert_eq!(
        shown["quotas"],
        json!({"activeStreams": 100, "pendingWebhooks": 100000})
    );
    assert_eq!(shown["keys"].as_array().unwrap().len(), 1);
    assert!(
        shown.to_string().find(&key).is_none(),
        "a key is shown only when created"
    );
    let patch = json!({"name": "acme-2", "quotas": {"activeStreams": 3}});
    let (status, _, changed) = call(
        &app,
        Method::PATCH,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        Some(patch),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "acme-2");
    assert_eq!(changed["quotas"]["activeStreams"], 3);
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/v1/admin/tenants/nope",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/v1/admin/tenants",
        Some(ADMIN),
        Some(json!({"name": "acme-2"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));

    // A second key works beside the first; a revoked key is refused.
    let (status, _, second) = call(
        &app,
        Method::POST,
        &format!("/v1/admin/tenants/{id}/keys"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let second_key = second["key"].as_str().unwrap().to_owned();
    let lookup = "/v1/vehicles/2/state?at=2022-09-12T10:00:00Z";
    for k in [&key, &second_key] {
        let (status, headers, _) = call(&app, Method::GET, lookup, Some(k), None).await;
        assert_eq!(status, 200);
        assert!(headers.contains_key("ratelimit"), "{headers:?}");
        assert_eq!(headers["ratelimit-policy"], "\"tenant\";q=50;w=1");
    }
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/admin/keys/{}", second["id"].as_str().unwrap()),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&app, Method::GET, lookup, Some(&second_key), None).await;
    assert_eq!(status, 401, "a revoked key is refused");
    let (status, _, _) = call(&app, Method::GET, lookup, Some(&key), None).await;
    assert_eq!(status, 200, "the other key still works");
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        "/v1/admin/keys/nope",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The configured keys are the `default` tenant's; without a key nothing is served.
    let (status, _, _) = call(&app, Method::GET, lookup, Some(CONFIGURED), None).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(&app, Method::GET, lookup, None, None).await;
    assert_eq!(status, 401);
}

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

both_modes!(idempotency_replays_refuses_and_waits);
async fn idempotency_replays_refuses_and_waits(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let (tenant_id, key, _) = tenant(&app, "a", json!({})).await;
    let post = async |idempotency: &str, body: Value| {
        let response = app
            .client
            .post(app.url("/v1/streams"))
            .bearer_auth(&key)
            .header("idempotency-key", idempotency)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let replayed = response.headers().get("idempotent-replayed").cloned();
        let text = response.text().await.unwrap();
        (status, replayed, text)
    };
    let stream = json!({"provider": "gas", "intervalSeconds": 3600});
    let (status, replayed, first) = post("k-1", stream.clone()).await;
    assert_eq!((status, replayed), (201, None));
    let (status, replayed, again) = post("k-1", stream.clone()).await;
    assert_eq!(status, 201);
    assert_eq!(replayed.unwrap(), "true");
    assert_eq!(again, first, "the first answer, byte for byte");
    let (status, _, reused) = post("k-1", json!({"provider": "gas", "intervalSeconds": 60})).await;
    assert_eq!(status, 422);
    assert!(reused.contains("idempotency_key_reused"), "{reused}");
    let (_, _, list) = call(&app, Method::GET, "/v1/streams", Some(&key), None).await;
    assert_eq!(list["total"], 1, "neither repeat created a stream");

    // A first request still being answered.
    let now = Utc::now();
    idempotency_record::Entity::insert(idempotency_record::ActiveModel::from(
        idempotency_record::Model {
            tenant_id,
            route: "/v1/streams".into(),
            key: "k-busy".into(),
            fingerprint: engine::tenants::sha256_hex(stream.to_string().as_bytes()),
            status: idempotency_record::RecordStatus::Processing,
            response_status: None,
            response_body: None,
            content_type: None,
            location: None,
            created_at: now,
            updated_at: now,
        },
    ))
    .exec_without_returning(&app.db().await)
    .await
    .unwrap();
    let (status, _, busy) = post("k-busy", stream.clone()).await;
    assert_eq!(status, 409);
    assert!(busy.contains("idempotency_key_in_use"), "{busy}");

    for bad in ["x".repeat(256), "with space".into(), "é".into()] {
        let response = app
            .client
            .post(app.url("/v1/streams"))
            .bearer_auth(&key)
            .header("idempotency-key", bad.as_bytes())
            .json(&stream)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad:?}");
    }
    let (_, _, list) = call(&app, Method::GET, "/v1/streams", Some(&key), None).await;
    assert_eq!(list["total"], 1);
}

/// The `v1,` signatures of a request that verify against `secret`, checked with ring.
fn verifying(request: &Request, secret: &str) -> usize {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let signed = format!(
        "{}.{}.{}",
        header("webhook-id"),
        header("webhook-timestamp"),
        String::from_utf8_lossy(&request.body)
    );
    let expected = format!(
        "v1,{}",
        STANDARD.encode(ring::hmac::sign(&key, signed.as_bytes()).as_ref())
    );
    header("webhook-signature")
        .split(' ')
        .filter(|s| *s == expected)
        .count()
}

both_modes!(a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends);
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(mode: Mode) {
    let sources = providers().await;
    let hooks = receiver(200).await;
    let app = spawn(mode, &sources, |c| {
        c.worker.webhooks.secret_rotation_overlap = Duration::from_secs(3);
    })
    .await;
    let _workers = app.workers();
    let (_, key, old) = tenant(&app, "a", json!({})).await;
    let (status, _, rotated) = call(
        &app,
        Method::POST,
        "/v1/signing-secret/rotate",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["previous"][0]["secret"], old.as_str());
    let (_, _, shown) = call(&app, Method::GET, "/v1/signing-secret", Some(&key), None).await;
    assert_eq!(shown, rotated);

    let delivered = async |n: usize| {
        eventually(Duration::from_secs(20), "the callback", async || {
            hooks.received_requests().await.unwrap().len() >= n
        })
        .await;
        hooks.received_requests().await.unwrap().pop().unwrap()
    };
    submit(&app, &key, &hooks.uri()).await;
    let during = delivered(1).await;
    let signatures = during
        .headers
        .get("webhook-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(signatures.starts_with("v1,"), "{signatures}");
    assert_eq!(
        verifying(&during, &new),
        1,
        "the new secret's signature verifies"
    );
    assert_eq!(
        verifying(&during, &old),
        1,
        "the old secret's signature verifies"
    );

    tokio::time::sleep(Duration::from_secs(4)).await;
    submit(&app, &key, &hooks.uri()).await;
    let after = delivered(2).await;
    let signatures = after
        .headers
        .get("webhook-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(signatures.split(' ').count(), 1, "{signatures}");
    assert_eq!(verifying(&after, &new), 1);
    assert_eq!(verifying(&after, &old), 0);
    let (_, _, shown) = call(&app, Method::GET, "/v1/signing-secret", Some(&key), None).await;
    assert_eq!(shown["previous"], json!([]));

    // Five rotations a day, then 429 with Retry-After.
    for _ in 0..4 {
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/v1/signing-secret/rotate",
            Some(&key),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) = call(
        &app,
        Method::POST,
        "/v1/signing-secret/rotate",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rotation_limit"))
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 23 * 3600, "{retry}");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_to_start_without_keys() {
    use clap::Parser;
    let mut config =
        api::config::ApiConfig::try_parse_from(["api", "--redis-url", "redis://127.0.0.1:1"])
            .unwrap();
    config.http.api_keys.clear();
    let error = config.validate().expect_err("no keys in production");
    let message = error.to_string();
    assert!(
        message.contains("ADMIN_API_KEY") && message.contains("API_KEYS"),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
    config.tenants.auth_disabled = true;
    config
        .validate()
        .expect("AUTH_DISABLED=true says so explicitly");
    config.tenants.auth_disabled = false;
    config.tenants.admin_api_key = Some(ADMIN.to_owned().into());
    config.validate().expect("an admin key is enough");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_instance_is_refused_by_the_others_within_the_cache_time() {
    let sources = providers().await;
    let first = spawn(Mode::Production, &sources, |c| {
        c.tenants.key_cache_ttl = Duration::from_secs(1);
    })
    .await;
    let shared = first.config.store.clone();
    let second = spawn(Mode::Production, &sources, |c| {
        c.store = shared;
        c.tenants.key_cache_ttl = Duration::from_secs(1);
    })
    .await;
    let (id, key, _) = tenant(&first, "a", json!({})).await;
    let lookup = "/v1/vehicles/2/state?at=2022-09-12T10:00:00Z";
    let (status, _, _) = call(&second, Method::GET, lookup, Some(&key), None).await;
    assert_eq!(status, 200, "the second instance knows the key");
    // Its use is recorded (at most once a minute).
    eventually(Duration::from_secs(10), "lastUsedAt", async || {
        let (_, _, shown) = call(
            &first,
            Method::GET,
            &format!("/v1/admin/tenants/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
        shown["keys"][0]["lastUsedAt"].is_string()
    })
    .await;
    let (_, _, shown) = call(
        &first,
        Method::GET,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    let key_id = shown["keys"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = call(
        &first,
        Method::DELETE,
        &format!("/v1/admin/keys/{key_id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 204);
    eventually(
        Duration::from_secs(5),
        "the other instance to refuse it",
        async || call(&second, Method::GET, lookup, Some(&key), None).await.0 == 401,
    )
    .await;
    let (_, _, shown) = call(
        &first,
        Method::GET,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert!(shown["keys"][0]["revokedAt"].is_string(), "{shown}");
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

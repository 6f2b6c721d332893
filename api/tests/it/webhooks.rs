//! Webhook collections as a user lives them: submit, wait for the callback, read the
//! record. Providers and receivers are wiremock servers; everything else is real.

use std::time::{Duration, Instant};

use base64::Engine;
use engine::both_modes;
use engine::testing::{RECEIVER_BODY, provider, receiver, requests_to};
use entity::webhook;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Mode, Proxy, TEST_SECRET, TestApp, host_port, redis_url};

const GAS: &str = r#"[{"billedOn": "2026-04-07T15:03:14.257Z", "amount": 22.27}]"#;
const INTERNET: &str = r#"[{"billedOn": "2026-02-07T15:03:14.257Z", "amount": 15.12}]"#;

/// Two providers on one wiremock server, both answering.
async fn providers() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/gas"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(GAS, "application/json"))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(path("/internet"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(INTERNET, "application/json"))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

fn provider_list(server: &MockServer) -> Vec<String> {
    vec![
        format!("gas={}/gas", server.uri()),
        format!("internet={}/internet", server.uri()),
    ]
}

async fn spawn(
    mode: Mode,
    providers: &MockServer,
    tweak: impl FnOnce(&mut api::config::ApiConfig),
) -> TestApp {
    let list = provider_list(providers);
    TestApp::spawn_with(mode, move |c| {
        c.worker.providers.providers = list;
        c.worker.webhooks.delivery_schedule = vec![Duration::ZERO, Duration::from_secs(1)];
        c.worker.providers.provider_cooldown_min = Duration::from_millis(500);
        c.worker.providers.provider_cooldown_max = Duration::from_secs(1);
        tweak(c);
    })
    .await
}

async fn submit(app: &TestApp, providers: Value, callback: &str) -> String {
    let body = json!({"provider": providers, "callbackUrl": callback}).to_string();
    let (status, answer) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "collecting");
    answer["id"].as_str().expect("an id").to_owned()
}

async fn webhook_in(app: &TestApp, id: &str, status: &str, deadline: Duration) -> Value {
    let until = Instant::now() + deadline;
    loop {
        let (code, body) = app.get_json(&format!("/v1/webhooks/{id}")).await;
        assert_eq!(code, 200, "{body}");
        if body["status"] == status {
            return body;
        }
        assert!(
            Instant::now() < until,
            "webhook never became {status}; last seen: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks a Standard Webhooks signature with ring's HMAC, not the code under test.
fn verify_signature(request: &Request) {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let key = base64::engine::general_purpose::STANDARD
        .decode(TEST_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let expected =
        base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, &signed).as_ref());
    let signatures = header("webhook-signature");
    assert!(
        signatures.split(' ').any(|s| s == format!("v1,{expected}")),
        "signature {signatures} does not verify"
    );
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "timestamp {timestamp} is not now");
}

async fn happy_path(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(200).await);
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let id = submit(
        &app,
        json!(["gas", "internet"]),
        &format!("{}/hooks", hooks.uri()),
    )
    .await;

    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    assert_eq!(done["outcome"], "completed");
    assert_eq!(done["providers"][0]["name"], "gas");
    assert_eq!(done["providers"][0]["status"], "fetched");
    assert_eq!(done["providers"][1]["attempts"], 1);
    assert_eq!(done["delivery"]["attempts"][0]["statusCode"], 200);
    assert_eq!(
        done["delivery"]["attempts"][0]["responseBody"],
        RECEIVER_BODY
    );

    let calls = hooks.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1);
    verify_signature(&calls[0]);
    assert_eq!(calls[0].headers["webhook-id"], id.as_str());
    let body: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["data"]["gas"],
        serde_json::from_str::<Value>(GAS).unwrap()
    );
    assert_eq!(
        body["data"]["internet"],
        serde_json::from_str::<Value>(INTERNET).unwrap()
    );
    assert!(body.get("errors").is_none());
    assert!(body["createdAt"].is_string() && body["completedAt"].is_string());

    let metrics = app.get_text("/metrics").await;
    for line in [
        r#"datahog_webhook_collections_total{outcome="completed"}"#,
        r#"datahog_delivery_attempts_total{result="delivered"}"#,
        r#"datahog_provider_requests_total{provider="gas",result="ok"}"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics");
    }

    // One provider as a plain string.
    let single = submit(&app, json!("gas"), &format!("{}/hooks", hooks.uri())).await;
    webhook_in(&app, &single, "delivered", Duration::from_secs(20)).await;
}
both_modes!(happy_path);

async fn a_provider_failing_once_is_fetched_again_alone(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(200).await);
    // A 200 whose body is not the bills' JSON is a failure like a 500.
    Mock::given(path("/internet"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&sources)
        .await;
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let id = submit(&app, json!(["gas", "internet"]), &hooks.uri()).await;

    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    assert_eq!(
        requests_to(&sources, "/gas").await,
        1,
        "the healthy provider is called once"
    );
    assert_eq!(requests_to(&sources, "/internet").await, 2);
    assert_eq!(done["providers"][1]["attempts"], 2);
    let body: Value =
        serde_json::from_slice(&hooks.received_requests().await.unwrap()[0].body).unwrap();
    assert!(body["data"]["gas"].is_array() && body["data"]["internet"].is_array());
}
both_modes!(a_provider_failing_once_is_fetched_again_alone);

async fn a_provider_timing_out_is_a_failure_and_fetched_again(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(200).await);
    Mock::given(path("/internet"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(INTERNET, "application/json")
                .set_delay(Duration::from_secs(2)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&sources)
        .await;
    let app = spawn(mode, &sources, |c| {
        c.worker.providers.providers = vec![
            format!("gas={}/gas", sources.uri()),
            format!("internet={}/internet;timeout=300ms", sources.uri()),
        ];
    })
    .await;
    let _workers = app.workers();
    let id = submit(&app, json!(["gas", "internet"]), &hooks.uri()).await;
    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    assert_eq!(done["providers"][1]["attempts"], 2, "{done}");
    assert!(
        done["providers"][1].get("lastError").is_none(),
        "cleared by the success"
    );
}
both_modes!(a_provider_timing_out_is_a_failure_and_fetched_again);

/// Answers a redirect (which must not be followed), then `failures` times 503 (with a
/// Retry-After of 0), then 200.
async fn flaky_receiver(failures: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/elsewhere"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "0"))
        .up_to_n_times(failures)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

async fn a_receiver_down_then_up_gets_it_with_every_attempt_recorded(mode: Mode) {
    let (sources, hooks) = (providers().await, flaky_receiver(2).await);
    let app = spawn(mode, &sources, |c| {
        c.worker.webhooks.delivery_schedule = vec![
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
        ];
    })
    .await;
    let _workers = app.workers();
    let id = submit(&app, json!(["gas"]), &hooks.uri()).await;

    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    let attempts = done["delivery"]["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [302, 503, 503, 200]);
    assert!(attempts[0]["nextAttemptAt"].is_string());
    assert!(attempts[3].get("nextAttemptAt").is_none());
    let calls = hooks.received_requests().await.unwrap();
    let ids: Vec<_> = calls
        .iter()
        .map(|c| c.headers["webhook-id"].clone())
        .collect();
    assert!(
        ids.iter().all(|i| i == id.as_str()),
        "same webhook-id on every retry"
    );
    assert!(
        calls.windows(2).all(|w| w[0].body == w[1].body),
        "same body on every retry"
    );
    for call in &calls {
        verify_signature(call);
    }
}
both_modes!(a_receiver_down_then_up_gets_it_with_every_attempt_recorded);

async fn a_receiver_down_past_the_schedule_is_parked_listed_and_redelivered(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(500).await);
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let id = submit(&app, json!(["gas"]), &hooks.uri()).await;

    let parked = webhook_in(&app, &id, "parked", Duration::from_secs(20)).await;
    assert_eq!(parked["delivery"]["attempts"].as_array().unwrap().len(), 2);
    assert!(parked["delivery"].get("nextAttemptAt").is_none());
    let (_, list) = app.get_json("/v1/webhooks?status=parked").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id);
    let (_, delivered) = app
        .get_json("/v1/webhooks?status=delivered&pageSize=10")
        .await;
    assert_eq!(delivered["total"], 0);

    hooks.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&hooks)
        .await;
    let (status, answer) = app
        .post_json(&format!("/v1/webhooks/{id}/redeliver"), "")
        .await;
    assert_eq!(status, 202, "{answer}");
    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    let attempts = done["delivery"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[2]["trigger"], "manual");
    assert_eq!(attempts[2]["number"], 3);

    // A delivered webhook can be replayed too; an unknown one cannot.
    let (status, _) = app
        .post_json(&format!("/v1/webhooks/{id}/redeliver"), "")
        .await;
    assert_eq!(status, 202);
    webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    let (status, body) = app.post_json("/v1/webhooks/nope/redeliver", "").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}
both_modes!(a_receiver_down_past_the_schedule_is_parked_listed_and_redelivered);

async fn a_gone_receiver_parks_at_once(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(410).await);
    let app = spawn(mode, &sources, |c| {
        c.worker.webhooks.delivery_schedule = vec![
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ];
    })
    .await;
    let _workers = app.workers();
    let id = submit(&app, json!(["gas"]), &hooks.uri()).await;
    let parked = webhook_in(&app, &id, "parked", Duration::from_secs(20)).await;
    assert_eq!(parked["delivery"]["attempts"].as_array().unwrap().len(), 1);
}
both_modes!(a_gone_receiver_parks_at_once);

async fn redelivery_while_collecting_is_a_conflict(mode: Mode) {
    let sources = provider(&["/gas", "/internet"], GAS, Duration::from_secs(3)).await;
    let hooks = receiver(200).await;
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let id = submit(&app, json!(["gas"]), &hooks.uri()).await;
    let (status, body) = app
        .post_json(&format!("/v1/webhooks/{id}/redeliver"), "")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
}
both_modes!(redelivery_while_collecting_is_a_conflict);

async fn past_the_deadline_what_arrived_is_delivered_as_failed(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(200).await);
    Mock::given(path("/internet"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&sources)
        .await;
    let app = spawn(mode, &sources, |c| {
        c.worker.webhooks.collection_deadline = Duration::from_secs(3);
    })
    .await;
    let _workers = app.workers();
    let id = submit(&app, json!(["gas", "internet"]), &hooks.uri()).await;
    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    assert_eq!(done["outcome"], "failed");
    assert_eq!(done["providers"][1]["status"], "failed");
    let body: Value =
        serde_json::from_slice(&hooks.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(body["status"], "failed");
    assert!(body["data"]["gas"].is_array());
    assert!(body["data"].get("internet").is_none());
    assert!(
        body["errors"]["internet"].as_str().unwrap().contains("500"),
        "{body}"
    );
}
both_modes!(past_the_deadline_what_arrived_is_delivered_as_failed);

async fn an_idempotency_key_returns_the_first_webhook(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(200).await);
    let app = spawn(mode, &sources, |_| {}).await;
    let body = json!({"provider": "gas", "callbackUrl": hooks.uri()}).to_string();
    let send = async |key: &str| {
        let response = app
            .client
            .post(app.url("/v1/webhooks"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let answer: Value = response.json().await.unwrap();
        (
            location,
            answer["id"].as_str().unwrap().to_owned(),
            replayed,
        )
    };
    let (location, first, replayed) = send("order-42").await;
    assert_eq!(location, format!("/v1/webhooks/{first}"));
    assert!(!replayed);
    let (again_location, again, replayed) = send("order-42").await;
    assert!(replayed, "the repeat is a replay");
    assert_eq!(again_location, location);
    let (_, other, _) = send("order-43").await;
    assert_eq!(first, again);
    assert_ne!(first, other);
    let (_, list) = app.get_json("/v1/webhooks").await;
    assert_eq!(list["total"], 2);
}
both_modes!(an_idempotency_key_returns_the_first_webhook);

async fn bad_submissions_name_the_field(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let ok_url = "https://example.com/hook";
    let long_url = format!("https://example.com/{}", "a".repeat(2048));
    let cases = [
        (json!({"provider": [], "callbackUrl": ok_url}), "provider"),
        (
            json!({"provider": ["water"], "callbackUrl": ok_url}),
            "provider/0",
        ),
        (
            json!({"provider": ["gas", "gas"], "callbackUrl": ok_url}),
            "provider/1",
        ),
        (json!({"provider": 7, "callbackUrl": ok_url}), "provider"),
        (json!({"callbackUrl": ok_url}), "provider"),
        (json!({"provider": "gas"}), "callbackUrl"),
        (
            json!({"provider": "gas", "callbackUrl": "example.com/hook"}),
            "callbackUrl",
        ),
        (
            json!({"provider": "gas", "callbackUrl": "ftp://example.com/"}),
            "callbackUrl",
        ),
        (
            json!({"provider": "gas", "callbackUrl": long_url}),
            "callbackUrl",
        ),
        (json!({"provider": "gas", "callbackUrl": 3}), "callbackUrl"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post_json("/v1/webhooks", &body.to_string()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert_eq!(answer["errors"][0]["field"], field, "{body} -> {answer}");
    }
    let (status, answer) = app.post_json("/v1/webhooks", "{").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("malformed_json"))
    );
    let (_, list) = app.get_json("/v1/webhooks").await;
    assert_eq!(list["total"], 0, "nothing kept of refused submissions");
    let (status, answer) = app.get_json("/v1/webhooks?status=lost").await;
    assert_eq!(
        (status, answer["errors"][0]["field"].as_str()),
        (400, Some("status"))
    );
    let (status, _) = app.get_json("/v1/webhooks/01NOPE").await;
    assert_eq!(status, 404);
}
both_modes!(bad_submissions_name_the_field);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_api_brings_its_own_mock_providers() {
    let hooks = receiver(200).await;
    let app = TestApp::spawn_with(Mode::Embedded, |c| {
        c.worker.providers.providers.clear();
        c.worker.providers.provider_cooldown_min = Duration::from_millis(200);
    })
    .await;
    let (_, list) = app.get_json("/v1/providers").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gas", "internet"]);
    assert!(
        list["items"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{list}"
    );
    // The mocks fail about one request in five: the collection still completes.
    let id = submit(&app, json!(["gas", "internet"]), &hooks.uri()).await;
    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(30)).await;
    assert_eq!(done["outcome"], "completed");
    let body: Value =
        serde_json::from_slice(&hooks.received_requests().await.unwrap()[0].body).unwrap();
    assert!(body["data"]["gas"][0]["amount"].is_number(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_callback_targets_are_refused() {
    let sources = providers().await;
    let app = spawn(Mode::Production, &sources, |c| {
        c.worker.webhooks.callback_allow_private = None; // production default: refused
    })
    .await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/",
    ] {
        let body = json!({"provider": "gas", "callbackUrl": url}).to_string();
        let (status, answer) = app.post_json("/v1/webhooks", &body).await;
        assert_eq!(status, 422, "{url} -> {answer}");
        assert_eq!(answer["errors"][0]["field"], "callbackUrl");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_the_queue_cannot_take_is_a_503_and_leaves_nothing() {
    let sources = providers().await;
    let proxy = Proxy::start(host_port(&redis_url())).await;
    let app = spawn(Mode::Production, &sources, |c| {
        c.store.redis_url = Some(format!("redis://{}/", proxy.addr).into());
        c.store.redis_timeout = Duration::from_secs(1);
    })
    .await;
    proxy.cut();
    let body = json!({"provider": "gas", "callbackUrl": "https://example.com/hook"}).to_string();
    let (status, answer) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (503, Some("service_unavailable")),
        "{answer}"
    );
    let left = webhook::Entity::find()
        .filter(webhook::Column::Status.is_not_null())
        .all(&app.db().await)
        .await
        .unwrap();
    assert!(left.is_empty(), "no half-made webhook: {left:?}");
}

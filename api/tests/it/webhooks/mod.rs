//! Webhook collections as a user lives them: submit, wait for the callback, read the
//! record. Providers and receivers are wiremock servers; everything else is real.

mod collection;
mod delivery;
mod flow;
mod outage;
mod submissions;
mod traces;

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Mode, TEST_SECRET, TestApp};

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

/// The providers setting naming both providers on `server`.
fn provider_list(server: &MockServer) -> Vec<String> {
    vec![
        format!("gas={}/gas", server.uri()),
        format!("internet={}/internet", server.uri()),
    ]
}

/// An app with both providers, two delivery attempts and short provider cooldowns.
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

/// Submits a webhook for `providers` and checks it is collecting; its id.
async fn submit(app: &TestApp, providers: Value, callback: &str) -> String {
    let body = json!({"provider": providers, "callbackUrl": callback}).to_string();
    let (status, answer) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "collecting");
    answer["id"].as_str().expect("an id").to_owned()
}

/// Polls the webhook until it is in `status`; panics once `deadline` passed.
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

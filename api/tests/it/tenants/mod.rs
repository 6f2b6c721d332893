//! Tenants as an operator and two customers live them: keys, isolation, idempotency,
//! signing-secret rotation, rate limits and quotas. Providers and receivers are wiremock
//! servers; everything else is real.

mod failed_auth;
mod fairness;
mod idempotency;
mod isolation;
mod keys;
mod limits;
mod receivers;
mod signing_secrets;

use std::time::Duration;

use engine::testing::{BILL, provider};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use wiremock::MockServer;

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

/// Submits a `gas` webhook as `key`; its id.
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

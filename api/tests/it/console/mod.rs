//! What the operator console reads and does: `GET /v1/stats`, the webhook list's filters
//! and keyset paging, bulk redelivery, counters by prefix, the dashboard's gauges, and the
//! console's own files. Providers and receivers are wiremock servers.

mod files;
mod lists;
mod providers;
mod redelivery;
mod stats;

use std::time::{Duration, Instant};

use engine::testing::{BILL, provider};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::{Mode, TestApp};

const ADMIN: &str = "admin-key-for-console-tests-0123";

/// Both providers, answering a bill each.
async fn providers() -> MockServer {
    provider(&["/gas", "/internet"], BILL, Duration::ZERO).await
}

/// An app with both providers and one delivery attempt per webhook; with keys when `keys`.
async fn spawn(mode: Mode, providers: &MockServer, keys: bool) -> TestApp {
    let list = vec![
        format!("gas={}/gas", providers.uri()),
        format!("internet={}/internet", providers.uri()),
    ];
    TestApp::spawn_with(mode, move |c| {
        c.worker.providers.providers = list;
        c.worker.webhooks.delivery_schedule = vec![Duration::ZERO];
        if keys {
            c.tenants.auth_disabled = false;
            c.tenants.admin_api_key = Some(ADMIN.to_owned().into());
        }
    })
    .await
}

/// One request with `key` as bearer: status and JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
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
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A GET that must answer 200: its JSON body.
async fn get(app: &TestApp, path: &str, key: Option<&str>) -> Value {
    let (status, body) = call(app, Method::GET, path, key, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// A tenant made by the operator: its id and key.
async fn tenant(app: &TestApp, name: &str) -> (String, String) {
    let body = json!({"name": name});
    let (status, created) = call(
        app,
        Method::POST,
        "/v1/admin/tenants",
        Some(ADMIN),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["key"]["key"].as_str().unwrap().to_owned(),
    )
}

/// Submits a webhook for `provider` as `key`; its id.
async fn submit(app: &TestApp, key: Option<&str>, provider: &str, callback: &str) -> String {
    let body = json!({"provider": provider, "callbackUrl": callback});
    let (status, answer) = call(app, Method::POST, "/v1/webhooks", key, Some(body)).await;
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

/// Polls the webhook until it is in `status` (30 s at most); its body.
async fn wait_status(app: &TestApp, key: Option<&str>, id: &str, status: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let body = get(app, &format!("/v1/webhooks/{id}"), key).await;
        if body["status"] == status {
            return body;
        }
        assert!(Instant::now() < until, "never {status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

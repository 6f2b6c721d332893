//! An api started while its database does not answer waits it out: `/health` answers, `/ready`
//! and every other route answer 503 with `Retry-After`, and once the database answers the
//! api migrates and serves, without a restart.

use std::time::Duration;

use engine::testing::{eventually, postgres_url};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{Mode, Proxy, TestApp, host_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_started_before_its_database_waits_for_it_and_then_serves() {
    let proxy = Proxy::start(host_port(&postgres_url())).await;
    proxy.cut();
    let through = proxy.addr.to_string();
    // `/health` answers though the database does not.
    let app = TestApp::spawn_starting_with(Mode::Production, |c| {
        let url = c.store.database_url.expose_secret().to_owned();
        c.store.database_url = url.replace(&host_port(&url), &through).into();
    })
    .await;

    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body = json!({"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"}).to_string();
    let submitted = app
        .client
        .post(app.url("/v1/webhooks"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 503);
    assert_eq!(submitted.headers()["retry-after"], "5");
    let problem: serde_json::Value = submitted.json().await.unwrap();
    assert_eq!(problem["code"], "service_unavailable", "{problem}");

    proxy.restore().await;
    let serving = eventually(Duration::from_secs(30), async || {
        let ready = app.client.get(app.url("/ready")).send().await;
        ready.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(serving, "the api became ready once its database answered");
    // Migrated and serving: a vehicle from the seed data, and the routes that need keys.
    let (status, vehicle) = app
        .get_json("/v1/vehicles/3/state?at=2022-09-12T12:41:41Z")
        .await;
    assert_eq!(status, 200, "{vehicle}");
}

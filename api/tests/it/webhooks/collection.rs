//! Collecting from the providers: the happy path, a provider failing or timing out once,
//! the collection deadline, and the embedded API's own mock providers.

use std::time::Duration;

use engine::both_modes;
use engine::testing::{RECEIVER_BODY, receiver, requests_to};
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Mode, TestApp};

use super::{GAS, INTERNET, providers, spawn, submit, verify_signature, webhook_in};

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
    // Where they are is the operator's to know.
    assert!(list["items"][0].get("url").is_none(), "{list}");
    // The mocks fail about one request in five: the collection still completes.
    let id = submit(&app, json!(["gas", "internet"]), &hooks.uri()).await;
    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(30)).await;
    assert_eq!(done["outcome"], "completed");
    let body: Value =
        serde_json::from_slice(&hooks.received_requests().await.unwrap()[0].body).unwrap();
    assert!(body["data"]["gas"][0]["amount"].is_number(), "{body}");
}

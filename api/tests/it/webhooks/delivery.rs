//! Delivering the callback: retries with every attempt recorded, parking, a gone
//! receiver, and manual redelivery.

use std::time::Duration;

use engine::both_modes;
use engine::testing::{provider, receiver};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::Mode;

use super::{GAS, providers, spawn, submit, verify_signature, webhook_in};

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

//! Submitting a webhook: idempotency keys, refused bodies naming the field, private
//! callback targets, and a queue that cannot take it.

use std::time::Duration;

use engine::both_modes;
use engine::testing::receiver;
use entity::webhook;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Mode, Proxy, host_port, redis_url};

use super::{providers, spawn};

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
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://127.0.0.1./",
        "http://10.0.0.7./hook",
        "http://metadata.google.internal/",
        "http://localhost./",
    ] {
        let body = json!({"provider": "gas", "callbackUrl": url}).to_string();
        let (status, answer) = app.post_json("/v1/webhooks", &body).await;
        assert_eq!(status, 422, "{url} -> {answer}");
        assert_eq!(answer["errors"][0]["field"], "callbackUrl");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_ip_literals_are_accepted_and_judged_by_their_address() {
    let sources = providers().await;
    // No worker runs: nothing is ever fetched for these webhooks nor sent to their callbacks.
    let app = spawn(Mode::Production, &sources, |c| {
        c.worker.webhooks.callback_allow_private = None; // production default: refused
    })
    .await;
    for url in [
        "https://[2606:4700:4700::1111]/hook",
        "http://[::ffff:93.184.215.14]/",
        "http://[64:ff9b::5db8:d70e]/",
        "http://[2a00:1450:4001::200e]:8443/hook?x=1",
        "http://1.1.1.1./",
        "https://example.com./hook",
    ] {
        let body = json!({"provider": "gas", "callbackUrl": url}).to_string();
        let (status, answer) = app.post_json("/v1/webhooks", &body).await;
        assert_eq!(status, 202, "{url} -> {answer}");
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

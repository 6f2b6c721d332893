//! Receiver circuits between tenants: one tenant's failing endpoint opens its own circuit
//! for a host, not another tenant's; only deliveries that get no answer at all count
//! toward the host's shared circuit, which only the operator sees.

use std::time::Duration;

use engine::both_modes;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Mode, TestApp};

use super::{ADMIN, call, eventually, providers, spawn, submit, tenant};

/// The receiver circuits `key` sees.
async fn receivers(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, _, list) = call(app, Method::GET, "/v1/receivers", Some(key), None).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// The status of webhook `id`, as `key` reads it.
async fn status_of(app: &TestApp, key: &str, id: &str) -> Value {
    let path = format!("/v1/webhooks/{id}");
    call(app, Method::GET, &path, Some(key), None).await.2
}

both_modes!(one_tenants_failing_endpoint_does_not_hold_anothers_deliveries_to_the_host);
async fn one_tenants_failing_endpoint_does_not_hold_anothers_deliveries_to_the_host(mode: Mode) {
    let sources = providers().await;
    let host = MockServer::start().await;
    Mock::given(path("/fail"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&host)
        .await;
    Mock::given(path("/ok"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&host)
        .await;
    let app = spawn(mode, &sources, |c| {
        let w = &mut c.worker.webhooks;
        w.receiver_failure_threshold = 3;
        // Long enough that a delivery held by the circuit would miss the deadline below.
        w.receiver_cooldown_min = Duration::from_secs(60);
        w.receiver_cooldown_max = Duration::from_secs(60);
        w.delivery_schedule = vec![Duration::ZERO];
    })
    .await;
    let _workers = app.workers();
    let (a_id, a, _) = tenant(&app, "a", json!({})).await;
    let (b_id, b, _) = tenant(&app, "b", json!({})).await;

    for _ in 0..4 {
        submit(&app, &b, &format!("{}/fail", host.uri())).await;
    }
    eventually(
        Duration::from_secs(30),
        "b's circuit for the host open",
        async || {
            receivers(&app, &b)
                .await
                .iter()
                .any(|r| r["health"] == "down")
        },
    )
    .await;

    let id = submit(&app, &a, &format!("{}/ok", host.uri())).await;
    eventually(
        Duration::from_secs(15),
        "a's webhook delivered",
        async || status_of(&app, &a, &id).await["status"] == "delivered",
    )
    .await;
    assert_eq!(
        receivers(&app, &a).await,
        Vec::<Value>::new(),
        "b's failures are b's"
    );
    let of_b = receivers(&app, &b).await;
    assert_eq!(of_b.len(), 1, "{of_b:?}");
    assert_eq!(of_b[0]["tenant"], b_id.as_str());
    assert!(of_b[0]["consecutiveFailures"].as_u64().unwrap() >= 3);
    // The host answered every time: its shared circuit has nothing on record.
    let all = receivers(&app, ADMIN).await;
    assert_eq!(all.len(), 1, "{all:?}");

    // A host that does not answer at all: the shared circuit, which only the operator sees.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let id = submit(&app, &a, &format!("{nowhere}/hook")).await;
    eventually(
        Duration::from_secs(30),
        "the unanswered webhook parked",
        async || status_of(&app, &a, &id).await["status"] == "parked",
    )
    .await;
    let all = receivers(&app, ADMIN).await;
    let of_host: Vec<&Value> = all
        .iter()
        .filter(|r| r["host"] == nowhere.as_str())
        .collect();
    assert_eq!(of_host.len(), 2, "the host's own and a's: {all:?}");
    assert!(of_host.iter().any(|r| r.get("tenant").is_none()));
    assert!(of_host.iter().any(|r| r["tenant"] == a_id.as_str()));
    let of_a = receivers(&app, &a).await;
    assert!(
        of_a.iter().all(|r| r["tenant"] == a_id.as_str()),
        "{of_a:?}"
    );
    assert!(
        receivers(&app, &b)
            .await
            .iter()
            .all(|r| r["host"] != nowhere.as_str())
    );
}

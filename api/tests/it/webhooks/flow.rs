//! Flow control as a tenant and the operator use it: a receiver host paused and resumed
//! (held across a restart), limits on a receiver and on a provider counted across the
//! workers, a provider in maintenance, and what the api says about each.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::both_modes;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{Mode, TestApp};

use super::{providers, spawn, submit, webhook_in};

/// Answers 200 after `delay`, noting when each request arrived.
#[derive(Clone, Default)]
struct Arrivals {
    at: Arc<Mutex<Vec<Instant>>>,
    delay: Duration,
}

impl Respond for Arrivals {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.at.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200).set_delay(self.delay)
    }
}

impl Arrivals {
    /// The shortest gap between two arrivals, and the time from the first to the last.
    fn spacing(&self) -> (Duration, Duration) {
        let mut at = self.at.lock().unwrap().clone();
        at.sort();
        let gap = at.windows(2).map(|w| w[1] - w[0]).min().unwrap_or_default();
        let span = at
            .last()
            .zip(at.first())
            .map(|(l, f)| *l - *f)
            .unwrap_or_default();
        (gap, span)
    }

    fn count(&self) -> usize {
        self.at.lock().unwrap().len()
    }
}

/// A receiver on loopback answering as `arrivals` does.
async fn receiver(arrivals: &Arrivals) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(arrivals.clone())
        .mount(&server)
        .await;
    server
}

async fn put_json(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// Polls `path` until `check` holds of its body; panics after `deadline`.
async fn until(
    app: &TestApp,
    path: &str,
    deadline: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let give_up = Instant::now() + deadline;
    loop {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        assert!(
            Instant::now() < give_up,
            "{path} never got there; last seen: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_paused_receiver_holds_deliveries_across_a_restart_until_resumed(mode: Mode) {
    let sources = providers().await;
    let arrivals = Arrivals::default();
    let hooks = receiver(&arrivals).await;
    let app = spawn(mode, &sources, |_| {}).await;
    let workers = app.workers();

    let (status, paused) = app.post_json("/v1/receivers/127.0.0.1/pause", "").await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["paused"], true);
    assert!(paused["pausedAt"].is_string());
    let id = submit(&app, json!(["gas"]), &hooks.uri()).await;

    // Collected, then held: no attempt spent, the host shows it waiting.
    let held = until(
        &app,
        "/v1/receivers/127.0.0.1",
        Duration::from_secs(20),
        |b| b["waiting"]["paused"] == 1,
    )
    .await;
    assert_eq!(held["paused"], true, "{held}");
    let (_, webhook) = app.get_json(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(webhook["status"], "delivering", "{webhook}");
    assert_eq!(webhook["delivery"]["attempts"], json!([]), "{webhook}");
    let (_, list) = app.get_json("/v1/receivers").await;
    assert_eq!(list["controls"][0]["host"], "127.0.0.1", "{list}");
    assert_eq!(list["controls"][0]["waiting"]["paused"], 1, "{list}");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"datahog_webhooks_waiting{reason="receiver_paused"} 1"#),
        "{metrics}"
    );

    // The pause is the database's: a restarted platform still holds the delivery.
    let (config, dir) = (app.config.clone(), app.data_dir());
    drop(workers);
    app.stop().await.expect("a clean stop");
    let app = TestApp::spawn_with(mode, |c| *c = config).await;
    let _workers = app.workers();
    let (_, again) = app.get_json("/v1/receivers/127.0.0.1").await;
    assert_eq!(again["paused"], true, "{again}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(arrivals.count(), 0, "nothing is delivered while paused");

    let (status, resumed) = app.post_json("/v1/receivers/127.0.0.1/resume", "").await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["paused"], false);
    let done = webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    assert_eq!(
        done["delivery"]["attempts"].as_array().unwrap().len(),
        1,
        "{done}"
    );
    assert_eq!(arrivals.count(), 1);
    drop(dir);
}
both_modes!(a_paused_receiver_holds_deliveries_across_a_restart_until_resumed);

async fn a_receivers_rate_and_concurrency_limits_space_its_deliveries(mode: Mode) {
    let sources = providers().await;
    let arrivals = Arrivals {
        delay: Duration::from_millis(200),
        ..Arrivals::default()
    };
    let hooks = receiver(&arrivals).await;
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();

    let limits = json!({"maxConcurrent": 1, "maxPerSecond": 4});
    let (status, set) = put_json(&app, "/v1/receivers/127.0.0.1", limits).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        set["limits"],
        json!({"maxConcurrent": 1, "maxPerSecond": 4.0})
    );

    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(submit(&app, json!(["gas"]), &hooks.uri()).await);
    }
    for id in &ids {
        let done = webhook_in(&app, id, "delivered", Duration::from_secs(60)).await;
        // Waiting for a place spent no attempt.
        assert_eq!(
            done["delivery"]["attempts"].as_array().unwrap().len(),
            1,
            "{done}"
        );
    }
    // One at a time, each answering after 200 ms; four a second: ten take 9 intervals.
    let (gap, span) = arrivals.spacing();
    assert!(
        gap >= Duration::from_millis(190),
        "two deliveries overlapped: {gap:?}"
    );
    assert!(
        span >= Duration::from_millis(2200),
        "ten at 4/s came within {span:?}"
    );

    // Lifted: the next ones go together.
    let (status, _) = put_json(&app, "/v1/receivers/127.0.0.1", json!({})).await;
    assert_eq!(status, 200);
    let (_, shown) = app.get_json("/v1/receivers/127.0.0.1").await;
    assert_eq!(shown["limits"], json!({}), "{shown}");
}
both_modes!(a_receivers_rate_and_concurrency_limits_space_its_deliveries);

const ADMIN: &str = "admin-key-for-flow-tests-0123456789";
const TENANT: &str = "tenant-key-for-flow-tests-0123456789";

/// A client sending `key` as bearer with every request.
fn client_with(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {key}").parse().expect("a header value");
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn a_provider_in_maintenance_holds_collections_and_a_rate_limit_spaces_its_requests(
    mode: Mode,
) {
    let arrivals = Arrivals::default();
    let sources = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ArrivalsWithBody(arrivals.clone()))
        .mount(&sources)
        .await;
    let hooks = engine::testing::receiver(200).await;
    let mut app = spawn(mode, &sources, |c| {
        c.tenants.auth_disabled = false;
        c.tenants.admin_api_key = Some(ADMIN.to_owned().into());
        c.http.api_keys = vec![TENANT.to_owned().into()];
    })
    .await;
    let _workers = app.workers();
    let tenant = client_with(TENANT);
    app.client = client_with(ADMIN);

    // The operator's alone.
    let pause = app.url("/v1/providers/gas/pause");
    let refused = tenant.post(&pause).send().await.expect("request");
    assert_eq!(refused.status(), 403);
    let (status, paused) = app.post_json("/v1/providers/gas/pause", "").await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["paused"], true, "{paused}");
    let (status, answer) = app.post_json("/v1/providers/nope/pause", "").await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = put_json(&app, "/v1/providers/gas", json!({"maxConcurrent": 0})).await;
    assert_eq!(status, 422, "{answer}");
    app.client = tenant.clone();
    let id = submit(&app, json!(["gas"]), &hooks.uri()).await;
    // The tenant sees its own collection waiting.
    let held = until(&app, "/v1/providers", Duration::from_secs(20), |b| {
        b["items"][0]["waiting"]["paused"] == 1
    })
    .await;
    assert_eq!(held["items"][0]["name"], "gas", "{held}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        arrivals.count(),
        0,
        "nothing is sent to a provider in maintenance"
    );
    let (_, webhook) = app.get_json(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(webhook["status"], "collecting", "{webhook}");

    app.client = client_with(ADMIN);
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"datahog_provider_paused{provider="gas"} 1"#),
        "{metrics}"
    );
    let (status, set) = put_json(&app, "/v1/providers/gas", json!({"maxPerSecond": 5})).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["limits"]["maxPerSecond"], 5.0, "{set}");
    let (status, _) = app.post_json("/v1/providers/gas/resume", "").await;
    assert_eq!(status, 200);
    app.client = tenant;
    webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;

    let mut ids = Vec::new();
    for _ in 0..11 {
        ids.push(submit(&app, json!(["gas"]), &hooks.uri()).await);
    }
    for id in &ids {
        webhook_in(&app, id, "delivered", Duration::from_secs(60)).await;
    }
    // Twelve requests in all at five a second: at least eleven intervals apart.
    let (_, span) = arrivals.spacing();
    assert_eq!(arrivals.count(), 12, "one request per collection");
    assert!(
        span >= Duration::from_millis(2000),
        "twelve at 5/s came within {span:?}"
    );
}
both_modes!(a_provider_in_maintenance_holds_collections_and_a_rate_limit_spaces_its_requests);

/// A provider answering its data, noting each request's arrival.
struct ArrivalsWithBody(Arrivals);

impl Respond for ArrivalsWithBody {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0
            .respond(request)
            .set_body_raw(super::GAS, "application/json")
    }
}

#[tokio::test]
async fn flow_settings_refuse_what_cannot_be_applied() {
    let sources = providers().await;
    let app = spawn(Mode::Embedded, &sources, |_| {}).await;
    let cases = [
        (
            "/v1/receivers/127.0.0.1",
            json!({"maxConcurrent": 0}),
            422,
            "maxConcurrent",
        ),
        (
            "/v1/receivers/127.0.0.1",
            json!({"maxPerSecond": -1}),
            422,
            "maxPerSecond",
        ),
        (
            "/v1/receivers/127.0.0.1",
            json!({"maxConcurrent": 1.5}),
            422,
            "maxConcurrent",
        ),
        ("/v1/receivers/127.0.0.1", json!({"max": 1}), 422, "max"),
        ("/v1/receivers/a%20b", json!({}), 400, "host"),
        ("/v1/receivers/user@host", json!({}), 400, "host"),
        // Providers are the operator's; the demo's requests are the `default` tenant's.
        ("/v1/providers/gas", json!({}), 403, ""),
    ];
    for (path, body, want, field) in cases {
        let (status, answer) = put_json(&app, path, body.clone()).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["errors"][0]["field"], field, "{answer}");
        }
    }
    let (status, answer) = app.post_json("/v1/providers/gas/pause", "").await;
    assert_eq!(status, 403, "{answer}");
    // A host named as a URL, with a port, is the same host.
    let (status, answer) = app
        .post_json("/v1/receivers/http%3A%2F%2FLocalHost%3A9000%2F/pause", "")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["host"], "localhost", "{answer}");
}

/// A receiver failing every delivery of the webhooks in `failing` (by `webhook-id`) with a
/// 500, answering the others 200; notes each delivery's webhook id and status, in order.
#[derive(Clone, Default)]
struct Ordered {
    failing: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Respond for Ordered {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = if self.failing.lock().unwrap().contains(&id) {
            500
        } else {
            200
        };
        self.seen.lock().unwrap().push((id, status));
        ResponseTemplate::new(status)
    }
}

impl Ordered {
    fn seen(&self) -> Vec<(String, u16)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn callbacks_with_one_ordering_key_go_one_at_a_time_in_submission_order(mode: Mode) {
    let sources = providers().await;
    let ordered = Ordered::default();
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ordered.clone())
        .mount(&hooks)
        .await;
    let app = spawn(mode, &sources, |c| {
        c.worker.webhooks.delivery_schedule = vec![Duration::ZERO, Duration::from_secs(2)];
    })
    .await;
    let _workers = app.workers();
    let keyed = |key: &str| {
        json!({"provider": ["gas"], "callbackUrl": hooks.uri(), "orderingKey": key}).to_string()
    };
    let submit_keyed = async |key: &str| {
        let (status, answer) = app.post_json("/v1/webhooks", &keyed(key)).await;
        assert_eq!(status, 202, "{answer}");
        answer["id"].as_str().expect("an id").to_owned()
    };

    // The first of key `a` fails its first attempt: the second waits for its retry.
    let first = submit_keyed("a").await;
    ordered.failing.lock().unwrap().push(first.clone());
    let second = submit_keyed("a").await;
    let other_key = submit_keyed("b").await;
    let unkeyed = submit(&app, json!(["gas"]), &hooks.uri()).await;
    webhook_in(&app, &other_key, "delivered", Duration::from_secs(20)).await;
    webhook_in(&app, &unkeyed, "delivered", Duration::from_secs(20)).await;
    let waiting = until(
        &app,
        &format!("/v1/webhooks/{second}"),
        Duration::from_secs(20),
        |b| b["waitingFor"] == "ordering",
    )
    .await;
    assert_eq!(waiting["orderingKey"], "a", "{waiting}");
    assert_eq!(waiting["waitingOn"], "a", "{waiting}");
    assert_eq!(waiting["delivery"]["attempts"], json!([]), "{waiting}");
    let (_, stats) = app.get_json("/v1/stats").await;
    let reasons = stats["waiting"].as_array().expect("waiting by reason");
    assert_eq!(reasons.len(), 10, "every reason listed: {stats}");
    let ordering = reasons.iter().find(|r| r["reason"] == "ordering");
    assert_eq!(
        ordering.map(|r| r["count"].clone()),
        Some(json!(1)),
        "{stats}"
    );
    // Its retry succeeds; then the second goes, with one attempt.
    ordered.failing.lock().unwrap().clear();
    webhook_in(&app, &first, "delivered", Duration::from_secs(20)).await;
    let done = webhook_in(&app, &second, "delivered", Duration::from_secs(20)).await;
    assert_eq!(
        done["delivery"]["attempts"].as_array().unwrap().len(),
        1,
        "{done}"
    );
    assert!(done.get("waitingFor").is_none(), "{done}");
    let order: Vec<_> = ordered
        .seen()
        .into_iter()
        .filter(|(id, _)| *id == first || *id == second)
        .collect();
    assert_eq!(
        order,
        [(first.clone(), 500), (first, 200), (second, 200)],
        "in submission order, one at a time"
    );

    // A parked one lets the next go.
    let doomed = submit_keyed("c").await;
    ordered.failing.lock().unwrap().push(doomed.clone());
    let next = submit_keyed("c").await;
    webhook_in(&app, &doomed, "parked", Duration::from_secs(20)).await;
    webhook_in(&app, &next, "delivered", Duration::from_secs(20)).await;

    // An empty or over-long key is refused.
    for key in [String::new(), "k".repeat(201)] {
        let (status, answer) = app.post_json("/v1/webhooks", &keyed(&key)).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["errors"][0]["field"], "orderingKey", "{answer}");
    }
}
both_modes!(callbacks_with_one_ordering_key_go_one_at_a_time_in_submission_order);

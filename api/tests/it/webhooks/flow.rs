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

/// Submits `count` collections for `hooks`, waits for each to be delivered with one
/// attempt (waiting for a place spent none), and returns the receiver's arrivals spacing.
async fn delivered_once_each(app: &TestApp, hooks: &MockServer, count: usize) {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(submit(app, json!(["gas"]), &hooks.uri()).await);
    }
    for id in &ids {
        let done = webhook_in(app, id, "delivered", Duration::from_secs(60)).await;
        let attempts = done["delivery"]["attempts"].as_array().unwrap().len();
        assert_eq!(attempts, 1, "{done}");
    }
}

async fn a_receivers_concurrency_limit_holds_deliveries_to_one_at_a_time(mode: Mode) {
    let sources = providers().await;
    let arrivals = Arrivals {
        delay: Duration::from_millis(200),
        ..Arrivals::default()
    };
    let hooks = receiver(&arrivals).await;
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let limits = json!({"maxConcurrent": 1});
    let (status, set) = put_json(&app, "/v1/receivers/127.0.0.1", limits).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["limits"], json!({"maxConcurrent": 1}), "{set}");

    delivered_once_each(&app, &hooks, 6).await;
    // Each answers after 200 ms, and the next may only start once it has: unlimited, the
    // six would arrive together.
    let (gap, _) = arrivals.spacing();
    assert!(
        gap >= Duration::from_millis(190),
        "two deliveries overlapped: {gap:?}"
    );

    // Lifted.
    let (status, _) = put_json(&app, "/v1/receivers/127.0.0.1", json!({})).await;
    assert_eq!(status, 200);
    let (_, shown) = app.get_json("/v1/receivers/127.0.0.1").await;
    assert_eq!(shown["limits"], json!({}), "{shown}");
}
both_modes!(a_receivers_concurrency_limit_holds_deliveries_to_one_at_a_time);

async fn a_receivers_rate_limit_spaces_its_deliveries(mode: Mode) {
    let sources = providers().await;
    let arrivals = Arrivals::default();
    let hooks = receiver(&arrivals).await;
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let limits = json!({"maxPerSecond": 4});
    let (status, set) = put_json(&app, "/v1/receivers/127.0.0.1", limits).await;
    assert_eq!(status, 200, "{set}");

    delivered_once_each(&app, &hooks, 9).await;
    // Nine at four a second are at least eight intervals of 250 ms apart, first to last;
    // unlimited, they arrive within a few milliseconds.
    let (_, span) = arrivals.spacing();
    assert!(
        span >= Duration::from_millis(1800),
        "nine at 4/s came within {span:?}"
    );
}
both_modes!(a_receivers_rate_limit_spaces_its_deliveries);

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
    // One request per collection; the eleven submitted together came at five a second:
    // at least ten intervals of 200 ms apart, first to last.
    assert_eq!(arrivals.count(), 12, "one request per collection");
    let mut at = arrivals.at.lock().unwrap().clone();
    at.sort();
    let span = at[11] - at[1];
    assert!(
        span >= Duration::from_millis(1800),
        "eleven at 5/s came within {span:?}"
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
    // A host named with a port is the same host; one that is not a host name is refused.
    let (status, answer) = app.post_json("/v1/receivers/a_b/pause", "").await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app
        .post_json("/v1/receivers/LocalHost:9000/pause", "")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["host"], "localhost", "{answer}");
}

/// A receiver failing every delivery with a 500 while `fail_all` is set, and every delivery
/// of the webhooks in `failing` (by `webhook-id`); answering the others 200. Notes each
/// delivery's webhook id and status, in order.
#[derive(Clone, Default)]
struct Ordered {
    fail_all: Arc<std::sync::atomic::AtomicBool>,
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
        let fail = self.fail_all.load(std::sync::atomic::Ordering::SeqCst)
            || self.failing.lock().unwrap().contains(&id);
        let status = if fail { 500 } else { 200 };
        self.seen.lock().unwrap().push((id, status));
        ResponseTemplate::new(status)
    }
}

impl Ordered {
    fn fail_all(&self, fail: bool) {
        self.fail_all
            .store(fail, std::sync::atomic::Ordering::SeqCst);
    }

    /// What `id` got, in order.
    fn answers(&self, id: &str) -> Vec<u16> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(i, _)| i == id)
            .map(|(_, s)| *s)
            .collect()
    }

    /// Where `id`'s deliveries are in the order of all of them.
    fn positions(&self, id: &str) -> Vec<usize> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .enumerate()
            .filter(|(_, (i, _))| i == id)
            .map(|(n, _)| n)
            .collect()
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
        let second = Duration::from_secs(1);
        c.worker.webhooks.delivery_schedule = vec![Duration::ZERO, second, second, second, second];
        // The failures here are on purpose: the host's circuit stays closed.
        c.worker.webhooks.receiver_failure_threshold = 100;
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

    // Every first attempt fails: the second of key `a` waits for the first's retries.
    ordered.fail_all(true);
    let first = submit_keyed("a").await;
    let second = submit_keyed("a").await;
    let other_key = submit_keyed("b").await;
    let unkeyed = submit(&app, json!(["gas"]), &hooks.uri()).await;
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
    // Not a receiver host: an ordering key is listed nowhere among them.
    let (_, receivers) = app.get_json("/v1/receivers").await;
    let controls = receivers["controls"].as_array().expect("controls");
    assert!(controls.iter().all(|c| c["host"] != "a"), "{receivers}");

    ordered.fail_all(false);
    for id in [&first, &second, &other_key, &unkeyed] {
        webhook_in(&app, id, "delivered", Duration::from_secs(20)).await;
    }
    // The first's failures, then its success, then the second, once.
    let answers = ordered.answers(&first);
    assert_eq!(answers.last(), Some(&200), "{answers:?}");
    assert!(answers.len() >= 2 && answers[..answers.len() - 1].iter().all(|s| *s == 500));
    assert_eq!(
        ordered.answers(&second),
        [200],
        "one attempt, after the first"
    );
    let last_of_first = *ordered.positions(&first).last().unwrap();
    assert!(
        ordered.positions(&second)[0] > last_of_first,
        "in submission order"
    );
    let done = webhook_in(&app, &second, "delivered", Duration::from_secs(1)).await;
    assert!(done.get("waitingFor").is_none(), "{done}");

    // A parked one lets the next go.
    ordered.fail_all(true);
    let doomed = submit_keyed("c").await;
    ordered.failing.lock().unwrap().push(doomed.clone());
    let next = submit_keyed("c").await;
    ordered.fail_all(false);
    webhook_in(&app, &doomed, "parked", Duration::from_secs(30)).await;
    webhook_in(&app, &next, "delivered", Duration::from_secs(20)).await;
    assert_eq!(ordered.answers(&next), [200]);

    // An empty or over-long key is refused.
    for key in [String::new(), "k".repeat(201)] {
        let (status, answer) = app.post_json("/v1/webhooks", &keyed(&key)).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["errors"][0]["field"], "orderingKey", "{answer}");
    }
}
both_modes!(callbacks_with_one_ordering_key_go_one_at_a_time_in_submission_order);

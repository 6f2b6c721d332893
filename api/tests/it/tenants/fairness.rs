//! Tenants take turns in the collect queue: one tenant's burst holds only its share of
//! the queue, so another tenant's collection is not queued behind the whole burst; a
//! tenant's weight is the operator's to set.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::both_modes;
use engine::testing::{BILL, provider};
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::Mode;

use super::{ADMIN, call, eventually, spawn, submit, tenant};

/// Collections the first tenant submits at once.
const BURST: usize = 300;

/// Notes, on one shared list, which receiver each delivery reached, in order.
#[derive(Clone)]
struct Noted {
    name: &'static str,
    seen: Arc<Mutex<Vec<&'static str>>>,
}

impl Respond for Noted {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.seen.lock().unwrap().push(self.name);
        ResponseTemplate::new(200)
    }
}

async fn noted(name: &'static str, seen: &Arc<Mutex<Vec<&'static str>>>) -> MockServer {
    let server = MockServer::start().await;
    let respond = Noted {
        name,
        seen: seen.clone(),
    };
    Mock::given(method("POST"))
        .respond_with(respond)
        .mount(&server)
        .await;
    server
}

both_modes!(another_tenants_collection_is_not_queued_behind_a_burst);
async fn another_tenants_collection_is_not_queued_behind_a_burst(mode: Mode) {
    // Slow enough that the burst takes a while to drain.
    let sources = provider(&["/gas"], BILL, Duration::from_millis(200)).await;
    let app = spawn(mode, &sources, |c| {
        c.worker.tenant_queue_share = 10;
        c.worker.webhook_concurrency = 16;
    })
    .await;
    let _workers = app.workers();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (burst_hooks, other_hooks) = (noted("burst", &seen).await, noted("other", &seen).await);
    let (_, bursty, _) = tenant(&app, "bursty", json!({})).await;
    let (_, other, _) = tenant(&app, "other", json!({})).await;

    let burst_uri = burst_hooks.uri();
    let submissions = (0..BURST).map(|_| submit(&app, &bursty, &burst_uri));
    let burst: Vec<String> = futures::stream::iter(submissions)
        .buffer_unordered(32)
        .collect()
        .await;
    let late = submit(&app, &other, &other_hooks.uri()).await;
    // What was delivered before the other tenant's submission does not count against it.
    let before = seen.lock().unwrap().len();
    let remaining = BURST - before;
    assert!(
        remaining >= 100,
        "the burst drained ({before} delivered) before the other tenant submitted: nothing to measure"
    );

    eventually(
        Duration::from_secs(60),
        "the other tenant's delivery",
        async || seen.lock().unwrap().contains(&"other"),
    )
    .await;
    let ahead = seen
        .lock()
        .unwrap()
        .iter()
        .skip(before)
        .take_while(|name| **name == "burst")
        .count();
    // Behind at most the burst's share and what was running, not behind all of what was
    // left of it.
    assert!(
        ahead < remaining / 2,
        "{ahead} of the burst's {remaining} left were delivered before the other tenant's one"
    );
    eventually(Duration::from_secs(120), "the whole burst", async || {
        seen.lock().unwrap().len() == BURST + 1
    })
    .await;
    let (status, _, webhook) = call(
        &app,
        Method::GET,
        &format!("/v1/webhooks/{}", burst[BURST - 1]),
        Some(&bursty),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(webhook["status"], "delivered", "{webhook}");
    let (_, _, webhook) = call(
        &app,
        Method::GET,
        &format!("/v1/webhooks/{late}"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(webhook["status"], "delivered", "{webhook}");
}

#[tokio::test]
async fn the_operator_sets_a_tenants_weight() {
    let sources = provider(&["/gas"], BILL, Duration::ZERO).await;
    let app = spawn(Mode::Embedded, &sources, |_| {}).await;
    let (id, key, _) = tenant(&app, "heavy", json!({"weight": 3})).await;
    let path = format!("/v1/admin/tenants/{id}");
    let (_, _, shown) = call(&app, Method::GET, &path, Some(ADMIN), None).await;
    assert_eq!(shown["weight"], 3, "{shown}");
    let (status, _, changed) = call(
        &app,
        Method::PATCH,
        &path,
        Some(ADMIN),
        Some(json!({"weight": 5})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["weight"], 5, "{changed}");
    for bad in [
        json!({"weight": 0}),
        json!({"weight": 1001}),
        json!({"weight": 1.5}),
    ] {
        let (status, _, answer) =
            call(&app, Method::PATCH, &path, Some(ADMIN), Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad}: {answer}");
        assert_eq!(answer["errors"][0]["field"], "weight", "{answer}");
    }
    // Not a tenant's own to set.
    let (status, _, _) = call(
        &app,
        Method::PATCH,
        &path,
        Some(&key),
        Some(json!({"weight": 9})),
    )
    .await;
    assert_eq!(status, 403);
}

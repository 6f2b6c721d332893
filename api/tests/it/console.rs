//! What the operator console reads and does: `GET /v1/stats`, the webhook list's filters
//! and keyset paging, bulk redelivery, counters by prefix, the dashboard's gauges, and the
//! console's own files. Providers and receivers are wiremock servers.

use std::time::{Duration, Instant};

use engine::both_modes;
use engine::testing::{BILL, provider, receiver};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

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

async fn submit(app: &TestApp, key: Option<&str>, provider: &str, callback: &str) -> String {
    let body = json!({"provider": provider, "callbackUrl": callback});
    let (status, answer) = call(app, Method::POST, "/v1/webhooks", key, Some(body)).await;
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

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

fn count_of(stats: &Value, status: &str) -> u64 {
    stats["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == status)
        .unwrap_or_else(|| panic!("no {status} in {stats}"))["count"]
        .as_u64()
        .unwrap()
}

/// The ids of `all` at `at`.
fn pick(all: &[String], at: &[usize]) -> Vec<String> {
    at.iter().map(|&i| all[i].clone()).collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect()
}

both_modes!(stats_are_the_tenants_own_and_count_the_last_hour);
async fn stats_are_the_tenants_own_and_count_the_last_hour(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, true).await;
    let _workers = app.workers();
    let (a, key_a) = tenant(&app, "acme").await;
    let (b, key_b) = tenant(&app, "globex").await;
    let ok = receiver(200).await;
    let failing = receiver(500).await;
    let hook = |server: &MockServer| format!("{}/hook", server.uri());

    let delivered = [
        submit(&app, Some(&key_a), "gas", &hook(&ok)).await,
        submit(&app, Some(&key_a), "gas", &hook(&ok)).await,
    ];
    let parked = submit(&app, Some(&key_b), "gas", &hook(&failing)).await;
    for id in &delivered {
        let webhook = wait_status(&app, Some(&key_a), id, "delivered").await;
        // The webhook's page: what each provider gave and the body every attempt sent.
        assert_eq!(webhook["providers"][0]["data"], json!([{"amount": 1}]));
        assert_eq!(webhook["callbackBody"]["id"], id.as_str());
        assert_eq!(
            webhook["callbackBody"]["data"]["gas"],
            json!([{"amount": 1}])
        );
    }
    wait_status(&app, Some(&key_b), &parked, "parked").await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/v1/increment",
        Some(&key_a),
        Some(json!({"key": "k", "value": 1})),
    )
    .await;
    assert_eq!(status, 202);
    app.flush_counters().await;

    let mine = get(&app, "/v1/stats", Some(&key_a)).await;
    assert_eq!(mine["tenantId"], a.as_str());
    assert_eq!(count_of(&mine, "delivered"), 2);
    assert_eq!(count_of(&mine, "parked"), 0);
    let hour = &mine["lastHour"];
    assert_eq!(hour["minutes"].as_array().unwrap().len(), 60);
    let per_minute = |field: &str| -> u64 {
        hour["minutes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (hour["submitted"].as_u64(), per_minute("submitted")),
        (Some(2), 2)
    );
    assert_eq!(
        (hour["delivered"].as_u64(), per_minute("delivered")),
        (Some(2), 2)
    );
    assert_eq!(
        (hour["attempts"].as_u64(), per_minute("failed")),
        (Some(2), 0)
    );
    assert_eq!(hour["successRate"], 1.0);
    assert_eq!(hour["sampleSize"], 2);
    let (p50, p99) = (
        hour["p50Ms"].as_i64().unwrap(),
        hour["p99Ms"].as_i64().unwrap(),
    );
    assert!(0 <= p50 && p50 <= p99, "{hour}");
    let queues: Vec<&str> = mine["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    for queue in ["collect", "deliver", "stream_tick", "counters"] {
        assert!(queues.contains(&queue), "{queues:?}");
    }
    let workers = mine["workers"].as_array().unwrap();
    assert!(
        workers
            .iter()
            .any(|w| w["queue"] == "deliver" && w["alive"] == true),
        "{workers:?}"
    );
    assert_eq!(mine["providers"][0]["name"], "gas");
    assert_eq!(mine["providers"][0]["health"], "up");
    assert!(mine["counters"]["lastFlushAt"].is_string(), "{mine}");
    assert_eq!(mine["counters"]["lastFlushKeys"], 1);

    let theirs = get(&app, "/v1/stats", Some(&key_b)).await;
    assert_eq!(theirs["tenantId"], b.as_str());
    assert_eq!(count_of(&theirs, "parked"), 1);
    assert_eq!(count_of(&theirs, "delivered"), 0);
    assert_eq!(theirs["lastHour"]["attempts"], 1);
    assert_eq!(theirs["lastHour"]["delivered"], 0);
    assert_eq!(theirs["lastHour"]["successRate"], 0.0);
    assert!(theirs["lastHour"].get("p50Ms").is_none(), "{theirs}");

    // The operator: every tenant's, or one's.
    let all = get(&app, "/v1/stats", Some(ADMIN)).await;
    assert!(all.get("tenantId").is_none(), "{all}");
    assert_eq!(
        (count_of(&all, "delivered"), count_of(&all, "parked")),
        (2, 1)
    );
    let one = get(&app, &format!("/v1/stats?tenant={b}"), Some(ADMIN)).await;
    assert_eq!(one["tenantId"], b.as_str());
    assert_eq!(count_of(&one, "delivered"), 0);
    let (status, _) = call(&app, Method::GET, "/v1/stats", None, None).await;
    assert_eq!(status, 401);

    // The same figures for Prometheus, every tenant's (the values are not checked: every
    // app of this test process shares one recorder).
    let metrics = app.get_text("/metrics").await;
    for line in [
        "datahog_webhooks{status=\"parked\"}",
        "datahog_webhooks{status=\"delivered\"}",
        "datahog_provider_health{provider=\"gas\"}",
        "datahog_queue_ready_jobs{queue=\"deliver\"}",
        "datahog_queue_oldest_ready_seconds{queue=\"collect\"}",
        "datahog_process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(line), "no `{line}` in:\n{metrics}");
    }
}

both_modes!(webhook_lists_filter_and_page_by_key);
async fn webhook_lists_filter_and_page_by_key(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, false).await;
    let first = receiver(200).await;
    let second = receiver(200).await;
    let first_host = first.uri().trim_start_matches("http://").to_owned();
    let mut all = Vec::new();
    for provider in ["gas", "gas", "internet"] {
        all.push(submit(&app, None, provider, &format!("{}/a", first.uri())).await);
    }
    for provider in ["internet", "gas"] {
        all.push(submit(&app, None, provider, &format!("{}/b", second.uri())).await);
    }
    let list = |query: String| {
        let app = &app;
        async move { get(app, &format!("/v1/webhooks?{query}"), None).await }
    };

    assert_eq!(
        ids(&list("provider=gas".into()).await),
        pick(&all, &[0, 1, 4])
    );
    assert_eq!(
        ids(&list("provider=internet".into()).await),
        pick(&all, &[2, 3])
    );
    assert_eq!(
        ids(&list(format!("callbackHost={first_host}")).await),
        &all[..3]
    );
    assert_eq!(ids(&list("callbackHost=127.0.0.1".into()).await), all);
    assert!(ids(&list("callbackHost=example.com".into()).await).is_empty());
    let prefix = all[3][..20].to_ascii_lowercase();
    assert_eq!(
        ids(&list(format!("search={prefix}")).await),
        pick(&all, &[3])
    );
    assert_eq!(
        ids(&list(format!("search={}", all[2])).await),
        pick(&all, &[2])
    );

    // A created time range: from the third webhook's creation, and before it.
    let third = get(&app, &format!("/v1/webhooks/{}", all[2]), None).await;
    let at = third["createdAt"].as_str().unwrap().replace('+', "%2B");
    assert_eq!(ids(&list(format!("createdAfter={at}")).await), &all[2..]);
    assert_eq!(ids(&list(format!("createdBefore={at}")).await), &all[..2]);

    // Keyset pages: no total, a cursor until the last page; newest first too.
    let page = list("pageSize=2&after=".into()).await;
    assert_eq!(ids(&page), &all[..2]);
    assert!(page.get("total").is_none(), "{page}");
    let next = page["nextAfter"].as_str().unwrap().to_owned();
    assert_eq!(next, all[1]);
    let page = list(format!("pageSize=2&after={next}")).await;
    assert_eq!(ids(&page), &all[2..4]);
    let page = list(format!(
        "pageSize=2&after={}",
        page["nextAfter"].as_str().unwrap()
    ))
    .await;
    assert_eq!(ids(&page), &all[4..]);
    assert!(page.get("nextAfter").is_none(), "{page}");
    let newest = list("pageSize=3&order=desc&after=".into()).await;
    assert_eq!(ids(&newest), pick(&all, &[4, 3, 2]));
    let older = list(format!("pageSize=3&order=desc&after={}", all[2])).await;
    assert_eq!(ids(&older), pick(&all, &[1, 0]));
    // Numbered pages keep their total.
    let numbered = list("pageSize=2&page=2&provider=gas".into()).await;
    assert_eq!(
        (ids(&numbered), numbered["total"].as_u64()),
        (vec![all[4].clone()], Some(3))
    );

    for (query, field) in [
        ("search=01-not-an-id", "search"),
        ("callbackHost=http://x/y", "callbackHost"),
        ("createdAfter=yesterday", "createdAfter"),
        ("createdBefore=", "createdBefore"),
        ("order=sideways", "order"),
        ("status=lost", "status"),
    ] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/v1/webhooks?{query}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
}

both_modes!(bulk_redelivery_counts_then_redelivers_what_matches);
async fn bulk_redelivery_counts_then_redelivers_what_matches(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, true).await;
    let _workers = app.workers();
    let (_, key_a) = tenant(&app, "acme").await;
    let (_, key_b) = tenant(&app, "globex").await;
    // The first receiver fails the first two posts (one attempt each), then answers 200.
    let recovering = receiver(200).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&recovering)
        .await;
    let failing = receiver(500).await;
    let host = recovering.uri().trim_start_matches("http://").to_owned();
    let fixed = [
        submit(
            &app,
            Some(&key_a),
            "gas",
            &format!("{}/h", recovering.uri()),
        )
        .await,
        submit(
            &app,
            Some(&key_a),
            "gas",
            &format!("{}/h", recovering.uri()),
        )
        .await,
    ];
    let broken = submit(&app, Some(&key_a), "gas", &format!("{}/h", failing.uri())).await;
    for id in fixed.iter().chain([&broken]) {
        wait_status(&app, Some(&key_a), id, "parked").await;
    }
    let bulk = |key: &'static str, body: Value| {
        let app = &app;
        let key = match key {
            "a" => key_a.clone(),
            _ => key_b.clone(),
        };
        async move {
            call(
                app,
                Method::POST,
                "/v1/webhooks/redeliver",
                Some(&key),
                Some(body),
            )
            .await
        }
    };

    // Counting changes nothing; another tenant's filter matches none of these.
    let (status, dry) = bulk("a", json!({"callbackHost": host, "dryRun": true})).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (dry["matched"].as_u64(), dry["redelivered"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(dry["dryRun"], true);
    for id in &fixed {
        assert_eq!(
            get(&app, &format!("/v1/webhooks/{id}"), Some(&key_a)).await["status"],
            "parked"
        );
    }
    let (_, none) = bulk("b", json!({"dryRun": true})).await;
    assert_eq!(none["matched"], 0);
    let (status, refused) = bulk("a", json!({"status": "delivering"})).await;
    assert_eq!(status, 422, "{refused}");

    let (status, done) = bulk("a", json!({"callbackHost": host})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["matched"].as_u64(), done["redelivered"].as_u64()),
        (Some(2), Some(2))
    );
    for id in &fixed {
        let webhook = wait_status(&app, Some(&key_a), id, "delivered").await;
        let attempts = webhook["delivery"]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{webhook}");
        assert_eq!(attempts[1]["trigger"], "manual");
        assert_eq!(attempts[1]["statusCode"], 200);
    }
    assert_eq!(
        get(&app, &format!("/v1/webhooks/{broken}"), Some(&key_a)).await["status"],
        "parked"
    );
    // Nothing of that filter is parked any more.
    let (_, again) = bulk("a", json!({"callbackHost": host, "dryRun": true})).await;
    assert_eq!(again["matched"], 0);
}

both_modes!(counters_are_found_by_key_prefix);
async fn counters_are_found_by_key_prefix(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, false).await;
    for key in [
        "page-views",
        "page-clicks",
        "pages_total",
        "pagesXtotal",
        "other",
    ] {
        let body = json!({"key": key, "value": 2}).to_string();
        let (status, answer) = app.post_json("/v1/increment", &body).await;
        assert_eq!(status, 202, "{answer}");
    }
    app.flush_counters().await;
    let keys = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        keys(get(&app, "/v1/counters?prefix=page-", None).await),
        ["page-clicks", "page-views"]
    );
    // `_` and `%` are characters of the key, not patterns.
    assert_eq!(
        keys(get(&app, "/v1/counters?prefix=pages_", None).await),
        ["pages_total"]
    );
    assert!(keys(get(&app, "/v1/counters?prefix=%25", None).await).is_empty());
    let some = get(&app, "/v1/counters?prefix=p&pageSize=3", None).await;
    assert_eq!((some["total"].as_u64(), keys(some).len()), (Some(4), 3));
    assert_eq!(get(&app, "/v1/counters", None).await["total"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary() {
    let app = TestApp::spawn(Mode::Embedded).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/console/");
    let bare = client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(bare.headers()["location"], "/console/");

    let index = client.get(app.url("/console/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let headers = index.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(index.text().await.unwrap().contains("/console/app.js"));

    let script = client.get(app.url("/console/app.js")).send().await.unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = script.headers()["etag"].clone();
    let again = client
        .get(app.url("/console/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let css = client
        .get(app.url("/console/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");

    let missing = client
        .get(app.url("/console/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

//! Every limit on what comes in, crossed: metric labels, request ids, chunked bodies, slow
//! clients, connections at once, request heads, requests at once, pages, provider lists,
//! error lists, the metrics token.

use std::time::{Duration, Instant};

use engine::both_modes;
use engine::testing::{provider, receiver_answering};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::ResponseTemplate;

use crate::helpers::{Mode, TestApp};

/// Opens a raw connection to the app, for what an HTTP client library will not send.
async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads what the server sends until it closes the connection or `deadline` passes.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(deadline, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

both_modes!(a_flood_of_made_up_methods_and_paths_adds_a_handful_of_series);
async fn a_flood_of_made_up_methods_and_paths_adds_a_handful_of_series(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let client = &app.client;
    for i in 0..1000 {
        let method = reqwest::Method::from_bytes(format!("FLOOD{i}").as_bytes()).unwrap();
        let path = format!("/flood-{i}/x{}", i * 7);
        let response = client.request(method, app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404);
        // Made-up methods on a real route are as many made-up labels.
        let method = reqwest::Method::from_bytes(format!("FLOODED{i}").as_bytes()).unwrap();
        let response = client
            .request(method, app.url("/v1/providers"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
    }
    let metrics = app.get_text("/metrics").await;
    assert!(
        !metrics.contains("flood"),
        "a raw path or method became a label"
    );
    assert!(!metrics.contains("FLOOD"), "a raw method became a label");
    let flooded: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("datahog_http_requests_total{"))
        .filter(|l| l.contains(r#"method="other""#) || l.contains(r#"route="unmatched""#))
        .collect();
    assert!(
        (1..=5).contains(&flooded.len()),
        "{} series: {flooded:#?}",
        flooded.len()
    );
}

both_modes!(request_ids_are_kept_only_when_short_and_visible);
async fn request_ids_are_kept_only_when_short_and_visible(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let answered_id = |value: String| {
        let request = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", value);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let id = &response.headers()["x-request-id"];
            id.to_str().unwrap().to_owned()
        }
    };
    let longest = "r".repeat(128);
    assert_eq!(answered_id(longest.clone()).await, longest);
    for refused in ["q".repeat(10_000), "r".repeat(129), "two words".into()] {
        let id = answered_id(refused.clone()).await;
        assert_ne!(id, refused);
        assert_eq!(id.len(), 26, "a fresh ULID in its place: {id}");
    }
}

both_modes!(a_chunked_body_over_the_limit_is_a_413);
async fn a_chunked_body_over_the_limit_is_a_413(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| c.http.body_limit = 1024).await;
    let mut stream = connect(&app).await;
    let head = "POST /v1/increment HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("200\r\n{}\r\n", " ".repeat(0x200));
    // 8 KiB with no length announced; the server may answer and close before the end.
    for _ in 0..16 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = read_until_closed(&mut stream, Duration::from_secs(20))
        .await
        .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slow_to_send_its_headers_is_cut_off() {
    let app = TestApp::spawn_with(Mode::Embedded, |c| {
        c.http.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    // The rest of the headers never comes: the server must close the connection itself.
    let answer = read_until_closed(&mut stream, Duration::from_secs(30)).await;
    let answer = answer.expect("the connection was closed by the server");
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_while_open_ones_are_served() {
    let app = TestApp::spawn_with(Mode::Embedded, |c| {
        c.http.max_connections = 4;
        c.http.header_read_timeout = Duration::from_secs(120);
    })
    .await;
    // Opened first, so it holds a place; it sends its request once the others are refused.
    let mut keeper = connect(&app).await;
    // The test's HTTP client may hold places of its own: half-sent requests are added until
    // the server closes one as soon as it is accepted.
    let mut held = Vec::new();
    let closed_at_once = loop {
        assert!(held.len() < 16, "never refused with {} held", held.len());
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\n")
            .await
            .unwrap();
        match read_until_closed(&mut stream, Duration::from_millis(300)).await {
            Some(answer) => break answer,
            None => held.push(stream),
        }
    };
    assert_eq!(closed_at_once, "", "closed without an answer");

    keeper
        .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut keeper, Duration::from_secs(20))
        .await
        .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Places are given back when connections close.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut stream = connect(&app).await;
        let request = b"GET /health HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
        let _ = stream.write_all(request).await;
        let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        if answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(Instant::now() < deadline, "places were not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_beyond_the_cap_is_answered_431() {
    let app = TestApp::spawn_with(Mode::Embedded, |c| c.http.max_header_bytes = 8192).await;
    let mut stream = connect(&app).await;
    let mut head = b"GET /health HTTP/1.1\r\nhost: test\r\nx-filler: ".to_vec();
    head.resize(head.len() + 9000, b'a');
    // The header never ends; the server answers once the cap is crossed and may close before
    // the end is written.
    let _ = stream.write_all(&head).await;
    let answer = read_until_closed(&mut stream, Duration::from_secs(20))
        .await
        .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Within the cap, the same header is fine.
    let filler = "a".repeat(4000);
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-filler", filler)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

both_modes!(requests_beyond_the_cap_are_shed_with_retry_after);
async fn requests_beyond_the_cap_are_shed_with_retry_after(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| {
        c.http.max_concurrent_requests = 2;
        c.http.request_timeout = Duration::from_secs(120);
    })
    .await;
    // The caller is resolved once first, so the held requests below pass authentication from
    // memory and wait for their bodies, not for the database.
    assert_eq!(app.get_json("/v1/counters").await.0, 200);
    // Requests whose bodies never end hold the places. The server may take a probe before a
    // holder it was sent after (and shed that holder), so holders are added until a probe is
    // shed; a shed holder is answered at once and holds nothing.
    let head = "POST /v1/increment HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\n\r\n1\r\n{\r\n";
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let shed = loop {
        let mut stream = connect(&app).await;
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = app.client.get(app.url("/health")).send().await.unwrap();
        if response.status() == 503 {
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "never shed with {} held",
            held.len()
        );
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(body["code"], "service_unavailable", "{body}");

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.get_json("/health").await.0 != 200 {
        assert!(Instant::now() < deadline, "places were not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_modes!(pages_hold_at_most_a_hundred_items);
async fn pages_hold_at_most_a_hundred_items(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    for list in ["/v1/counters", "/v1/webhooks", "/v1/streams"] {
        let (status, page) = app.get_json(&format!("{list}?pageSize=100")).await;
        assert_eq!(status, 200, "{list}: {page}");
        let (status, error) = app.get_json(&format!("{list}?pageSize=101")).await;
        assert_eq!(status, 400, "{list}: {error}");
        assert_eq!(error["errors"][0]["field"], "pageSize");
    }
}

both_modes!(a_provider_list_longer_than_the_providers_is_one_error);
async fn a_provider_list_longer_than_the_providers_is_one_error(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let names: Vec<String> = (0..2000).map(|i| format!("made-up-{i}")).collect();
    let body = json!({"provider": names, "callbackUrl": "https://example.com/hook"}).to_string();
    let (status, error) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 422, "{error}");
    let fields = error["errors"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{error}");
    assert_eq!(fields[0]["field"], "provider");

    // Within the count, each name is checked, and the list of errors is bounded.
    let body =
        json!({"provider": ["nope", "gas"], "callbackUrl": "https://example.com/hook"}).to_string();
    let (status, error) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 422, "{error}");
    let named: Vec<&str> = error["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["provider/0"], "{error}");
}

both_modes!(a_metrics_token_guards_metrics);
async fn a_metrics_token_guards_metrics(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| {
        c.http.metrics_token = Some("scrape-me".into());
    })
    .await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("datahog_"));
    // The rest stays open.
    assert_eq!(app.get_json("/health").await.0, 200);
}

both_modes!(a_provider_answering_too_much_is_a_failure_in_its_health);
async fn a_provider_answering_too_much_is_a_failure_in_its_health(mode: Mode) {
    let huge = format!("[{}0]", "1,".repeat(1024 * 1024));
    let sources = provider(&["/gas"], &huge, Duration::ZERO).await;
    let app = TestApp::spawn_with(mode, |c| {
        c.worker.providers.providers = vec![format!("gas={}/gas", sources.uri())];
    })
    .await;
    let _workers = app.workers();
    let body = json!({"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"}).to_string();
    let (status, accepted) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, webhook) = app.get_json(&format!("/v1/webhooks/{id}")).await;
        if webhook["providers"][0]["lastError"] == "response larger than 1 MiB" {
            break;
        }
        assert!(Instant::now() < deadline, "never failed: {webhook}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, providers) = app.get_json("/v1/providers").await;
    let gas = &providers["items"][0];
    assert!(
        gas["consecutiveFailures"].as_u64() >= Some(1),
        "{providers}"
    );
    assert_ne!(gas["health"], "up", "{providers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_read_the_database_by_index_only() {
    use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};

    let app = TestApp::spawn(Mode::Production).await;
    let db = app.db().await;
    let txn = db.begin().await.unwrap();
    // With sequential scans priced out, a query that has no index to use still shows one.
    txn.execute_unprepared("SET LOCAL enable_seqscan = off")
        .await
        .unwrap();
    for query in [
        api::metrics::last_flush().build(DbBackend::Postgres),
        api::metrics::rejections_recorded().build(DbBackend::Postgres),
    ] {
        let explain = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("EXPLAIN {}", query.sql),
            query.values.clone().map(|v| v.0).unwrap_or_default(),
        );
        let plan: Vec<String> = txn
            .query_all_raw(explain)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).unwrap())
            .collect();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{}\n{plan}", query.sql);
        assert!(!plan.contains("Sort"), "{}\n{plan}", query.sql);
    }
    txn.rollback().await.unwrap();
}

both_modes!(a_receiver_answering_too_much_is_kept_to_4_kib);
async fn a_receiver_answering_too_much_is_kept_to_4_kib(mode: Mode) {
    let sources = provider(&["/gas"], "[1]", Duration::ZERO).await;
    let receiver =
        receiver_answering(ResponseTemplate::new(200).set_body_string("x".repeat(1024 * 1024)))
            .await;
    let app = TestApp::spawn_with(mode, |c| {
        c.worker.providers.providers = vec![format!("gas={}/gas", sources.uri())];
    })
    .await;
    let _workers = app.workers();
    let body = json!({"provider": "gas", "callbackUrl": receiver.uri()}).to_string();
    let (status, accepted) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        let (_, webhook) = app.get_json(&format!("/v1/webhooks/{id}")).await;
        if webhook["status"] == "delivered" {
            break webhook;
        }
        assert!(Instant::now() < deadline, "never delivered: {webhook}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kept = delivered["delivery"]["attempts"][0]["responseBody"]
        .as_str()
        .unwrap();
    assert_eq!(kept.len(), 4096);
}

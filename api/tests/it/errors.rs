//! Every error is RFC 9457 problem details with our code and field list, including those
//! made outside the handlers; and every kind of bad input, sent to every route that reads
//! it, is refused with the right status, naming the field in plain words.

use engine::both_modes;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Mode, TestApp};

/// Words of Rust and serde that must never reach a client.
const RUST_WORDS: &[&str] = &[
    "enum", "struct", "i32", "i64", "u32", "u64", "untagged", "serde", "variant", "sequence",
];

/// Sends a request and returns its status, content type, request id and body.
async fn send(request: reqwest::RequestBuilder) -> (u16, String, String, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, request_id) = (header("content-type"), header("x-request-id"));
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, request_id, body)
}

/// Checks that `body` is a complete problem of `status` and `code` for the request
/// `request_id`, in plain words, and returns its `errors`.
fn assert_problem(
    what: &str,
    (status, content_type, request_id, body): &(u16, String, String, Value),
    expected_status: u16,
    code: &str,
) -> Vec<(String, String)> {
    assert_eq!(*status, expected_status, "{what}: {body}");
    assert_eq!(content_type, "application/problem+json", "{what}");
    assert_eq!(body["status"], expected_status, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["type"], format!("/problems/{code}"), "{what}: {body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.ends_with('.'), "{what}: a sentence: {body}");
    assert_eq!(body["instance"], request_id.as_str(), "{what}: {body}");
    let errors: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: `errors` is always a list: {body}"))
        .iter()
        .map(|e| {
            let field = e["field"].as_str().expect("field").to_owned();
            (field, e["message"].as_str().expect("message").to_owned())
        })
        .collect();
    for text in std::iter::once(detail).chain(errors.iter().map(|(_, m)| m.as_str())) {
        let lower = text.to_lowercase();
        assert!(!lower.contains("invalid type:"), "{what}: {text}");
        for word in lower.split(|c: char| !c.is_ascii_alphanumeric()) {
            assert!(!RUST_WORDS.contains(&word), "{what}: `{word}` in {text}");
        }
    }
    errors
}

both_modes!(unknown_routes_wrong_methods_and_oversize_bodies_get_problems);
async fn unknown_routes_wrong_methods_and_oversize_bodies_get_problems(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| c.http.body_limit = 1024).await;

    let answer = send(app.client.get(app.url("/no/such/route"))).await;
    assert_problem("unknown route", &answer, 404, "not_found");

    let request = app
        .client
        .delete(app.url("/v1/vehicles/1/state?at=2022-09-12T10:00:00Z"));
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().contains_key("allow"));

    let oversize = app
        .client
        .post(app.url("/v1/increment"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"key": "{}", "value": 1}}"#, "k".repeat(4096)));
    let answer = send(oversize).await;
    assert_problem("oversize", &answer, 413, "payload_too_large");

    // Without a Content-Length the limit is crossed while reading: 413 all the same.
    let head = chunked_post(&app, "/v1/increment", &"x".repeat(4096)).await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("application/problem+json"), "{head}");
}

/// POSTs `body` with `Transfer-Encoding: chunked`; returns the answer's head.
async fn chunked_post(app: &TestApp, path: &str, body: &str) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(512) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            String::from_utf8_lossy(chunk)
        ));
    }
    request.push_str("0\r\n\r\n");
    // The server may answer and close before the whole body is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned()
}

both_modes!(every_response_carries_a_request_id);
async fn every_response_carries_a_request_id(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let response = app
        .client
        .get(app.url("/v1/vehicles/1/state?at=bad"))
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 26, "a ULID: {generated}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["instance"],
        generated.as_str(),
        "the problem names its request"
    );

    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
}

/// The routes that read a JSON body, each with a body it accepts.
fn body_routes() -> [(&'static str, Value); 4] {
    [
        ("/increment", json!({"key": "k", "value": 1})),
        ("/v1/increment", json!({"key": "k", "value": 1})),
        (
            "/v1/webhooks",
            json!({"provider": ["gas"], "callbackUrl": "http://127.0.0.1:9/hook"}),
        ),
        (
            "/v1/streams",
            json!({"provider": "gas", "intervalSeconds": 60}),
        ),
    ]
}

fn post(app: &TestApp, path: &str, content_type: &str, body: String) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
}

both_modes!(every_kind_of_bad_body_is_refused_in_plain_words);
async fn every_kind_of_bad_body_is_refused_in_plain_words(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    for (path, good) in body_routes() {
        let what = |kind: &str| format!("POST {path} {kind}");
        // Not an object, however valid a JSON value.
        for body in [json!(["k", 5]), json!(5), json!("k"), json!(null)] {
            let answer = send(post(&app, path, "application/json", body.to_string())).await;
            let errors =
                assert_problem(&what(&body.to_string()), &answer, 422, "validation_failed");
            assert_eq!(
                errors,
                [("body".to_owned(), "must be a JSON object".to_owned())]
            );
        }
        // An unknown field, e.g. a typo.
        let mut typo = good.clone();
        typo["callbackURL"] = json!("https://example.com/");
        let answer = send(post(&app, path, "application/json", typo.to_string())).await;
        let errors = assert_problem(&what("typo"), &answer, 422, "validation_failed");
        assert_eq!(errors[0].0, "callbackURL", "{path}");
        assert!(
            errors[0].1.starts_with("is not a field of this body"),
            "{errors:?}"
        );
        // Each field missing, and each field of every wrong kind.
        for field in good.as_object().unwrap().keys() {
            let mut missing = good.clone();
            missing.as_object_mut().unwrap().remove(field);
            if field != "intervalSeconds" {
                let answer = send(post(&app, path, "application/json", missing.to_string())).await;
                let errors = assert_problem(&what("missing"), &answer, 422, "validation_failed");
                assert_eq!(
                    errors,
                    [(field.clone(), "is required".to_owned())],
                    "{path}"
                );
            }
            for wrong in [
                json!({"a": 1}),
                json!(true),
                json!("x y"),
                json!(7),
                json!([[1]]),
            ] {
                if wrong.is_string() && good[field].is_string()
                    || wrong == json!(7) && good[field].is_number()
                {
                    continue;
                }
                let mut bad = good.clone();
                bad[field] = wrong.clone();
                let answer = send(post(&app, path, "application/json", bad.to_string())).await;
                let kind = format!("{field}={wrong}");
                let errors = assert_problem(&what(&kind), &answer, 422, "validation_failed");
                assert!(
                    errors[0].0.starts_with(field.as_str()),
                    "{kind}: {errors:?}"
                );
            }
        }
        // Broken JSON, another content type.
        let answer = send(post(&app, path, "application/json", "{\"key\": ".into())).await;
        assert_problem(&what("broken"), &answer, 400, "malformed_json");
        let answer = send(post(&app, path, "text/plain", good.to_string())).await;
        assert_problem(&what("text/plain"), &answer, 415, "unsupported_media_type");
    }
}

both_modes!(numbers_are_whole_and_in_range);
async fn numbers_are_whole_and_in_range(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let body = |raw: &str| post(&app, "/v1/increment", "application/json", raw.to_owned());
    let answer = send(body(r#"{"key": "n", "value": 60.0}"#)).await;
    assert_eq!(
        (answer.0, &answer.3["value"]),
        (202, &json!(60)),
        "60.0 is 60"
    );
    for (raw, message) in [
        (r#"{"key": "n", "value": 60.5}"#, "must be a whole number"),
        (
            r#"{"key": "n", "value": 9223372036854775808}"#,
            "must be at most 9223372036854775807",
        ),
        (
            r#"{"key": "n", "value": -9223372036854775809}"#,
            "must be at least -9223372036854775808",
        ),
        (
            r#"{"key": "n", "value": "5"}"#,
            "must be a whole number, not a string",
        ),
    ] {
        let errors = assert_problem(raw, &send(body(raw)).await, 422, "validation_failed");
        assert_eq!(errors, [("value".to_owned(), message.to_owned())], "{raw}");
    }
    let stream = post(
        &app,
        "/v1/streams",
        "application/json",
        r#"{"provider": "gas", "intervalSeconds": 60.0}"#.into(),
    );
    let (status, _, _, created) = send(stream).await;
    assert_eq!((status, &created["intervalSeconds"]), (201, &json!(60)));
    let stream = post(
        &app,
        "/v1/streams",
        "application/json",
        r#"{"provider": "gas", "intervalSeconds": 60.5}"#.into(),
    );
    let errors = assert_problem("60.5 s", &send(stream).await, 422, "validation_failed");
    assert_eq!(
        errors,
        [(
            "intervalSeconds".to_owned(),
            "must be a whole number".to_owned()
        )]
    );
}

both_modes!(nested_fields_are_named_by_their_path);
async fn nested_fields_are_named_by_their_path(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let url = "http://127.0.0.1:9/hook";
    for (provider, field) in [
        (json!(["gas", 5]), "provider/1"),
        (json!(["gas", "water"]), "provider/1"),
        (json!(["gas", "gas"]), "provider/1"),
        (json!("water"), "provider"),
    ] {
        let body = json!({"provider": provider, "callbackUrl": url}).to_string();
        let answer = send(post(&app, "/v1/webhooks", "application/json", body)).await;
        let errors = assert_problem(&provider.to_string(), &answer, 422, "validation_failed");
        assert_eq!(errors[0].0, field, "{provider}: {errors:?}");
    }
}

both_modes!(every_bad_parameter_is_refused_in_plain_words);
async fn every_bad_parameter_is_refused_in_plain_words(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let cases: &[(&str, u16, &str)] = &[
        ("/v1/vehicles/abc/state?at=2022-09-12T10:00:00Z", 400, "id"),
        ("/v1/vehicles/1.5/state?at=2022-09-12T10:00:00Z", 400, "id"),
        ("/v1/vehicles/3/state", 400, "at"),
        ("/v1/vehicles/3/state?at=yesterday", 400, "at"),
        ("/vehicles/abc/timestamp/2022-09-12T10:00:00Z", 400, "id"),
        ("/vehicles/3/timestamp/yesterday", 400, "timestamp"),
        ("/v1/counters?page=abc", 400, "page"),
        ("/v1/counters?page=0", 400, "page"),
        ("/v1/counters?pageSize=501", 400, "pageSize"),
        ("/v1/counters?pageSize=1.5", 400, "pageSize"),
        ("/v1/webhooks?status=lost", 400, "status"),
        ("/v1/webhooks?page=-1", 400, "page"),
        ("/v1/streams?status=paused", 400, "status"),
        ("/v1/streams?pageSize=0", 400, "pageSize"),
    ];
    for (path, status, field) in cases {
        let answer = send(app.client.get(app.url(path))).await;
        let errors = assert_problem(path, &answer, *status, "invalid_parameter");
        assert_eq!(errors[0].0, *field, "{path}");
    }
    // An id out of range names no vehicle, like an id that does not exist.
    for path in [
        "/v1/vehicles/2147483648/state?at=2022-09-12T10:00:00Z",
        "/vehicles/99999999999/timestamp/2022-09-12T10:00:00Z",
        "/v1/vehicles/999/state?at=2022-09-12T10:00:00Z",
        "/v1/webhooks/nope",
        "/v1/streams/nope",
        "/v1/counters/nope",
    ] {
        let answer = send(app.client.get(app.url(path))).await;
        let errors = assert_problem(path, &answer, 404, "not_found");
        assert!(errors.is_empty(), "{path}");
    }
    let submission = json!({"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"});
    for key in ["", "with space", &"k".repeat(256)] {
        let request = post(
            &app,
            "/v1/webhooks",
            "application/json",
            submission.to_string(),
        )
        .header("idempotency-key", key);
        let errors = assert_problem(key, &send(request).await, 400, "invalid_parameter");
        assert_eq!(errors[0].0, "Idempotency-Key");
    }
}

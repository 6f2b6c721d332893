//! Every timestamp of every answer is RFC 3339 in UTC with milliseconds.

use std::time::{Duration, Instant};

use engine::testing::receiver;
use serde_json::{Value, json};

use crate::helpers::{Mode, TestApp};

/// `2026-11-30T08:00:00.123Z`, and nothing else.
fn is_millisecond_utc(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

/// Checks every member that holds a time (named `*At`, `*Since`, `at`, `slot`, `minute` or
/// `lastSeen`); returns the names of those it checked.
fn check_times(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                let is_time = name.ends_with("At")
                    || name.ends_with("Since")
                    || name == "at"
                    || name == "slot"
                    || name == "minute"
                    || name == "lastSeen";
                if let (true, Some(text)) = (is_time, member.as_str()) {
                    assert!(is_millisecond_utc(text), "{name}: {text}");
                    found.push(name.clone());
                } else {
                    check_times(member, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| check_times(item, found)),
        _ => {}
    }
}

async fn wait_for(app: &TestApp, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get_json(path).await;
        if status == 200 && ready(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_timestamp_has_milliseconds_in_utc() {
    let hooks = receiver(200).await;
    let app = TestApp::spawn_with(Mode::Embedded, |c| {
        c.worker.providers.providers.clear();
        c.mock.mock_failure_rate = 0.0;
    })
    .await;

    let body = json!({"provider": "gas", "callbackUrl": hooks.uri()}).to_string();
    let (status, accepted) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let body = json!({"provider": "gas", "intervalSeconds": 10}).to_string();
    let (status, stream) = app.post_json("/v1/streams", &body).await;
    assert_eq!(status, 201, "{stream}");
    let stream_id = stream["id"].as_str().unwrap();
    app.post_json("/v1/increment", r#"{"key": "t", "value": 1}"#)
        .await;
    app.flush_counters().await;

    let mut found = Vec::new();
    check_times(&stream, &mut found);
    let webhook = wait_for(&app, &format!("/v1/webhooks/{id}"), |w| {
        w["status"] == "delivered"
    })
    .await;
    check_times(&webhook, &mut found);
    let data = wait_for(&app, &format!("/v1/streams/{stream_id}/data"), |_| true).await;
    check_times(&data, &mut found);
    for path in [
        "/v1/webhooks".to_owned(),
        "/v1/streams".to_owned(),
        format!("/v1/streams/{stream_id}/batches"),
        "/v1/counters".to_owned(),
        "/v1/counters/t".to_owned(),
        "/v1/vehicles/3/state?at=2022-09-12T12:41:41Z".to_owned(),
        "/v1/stats".to_owned(),
    ] {
        check_times(&app.get_json(&path).await.1, &mut found);
    }
    for name in [
        "createdAt",
        "nextRunAt",
        "deadlineAt",
        "collectedAt",
        "deliveredAt",
        "fetchedAt",
        "startedAt",
        "finishedAt",
        "slot",
        "persistedAt",
        "stateSince",
        "at",
        "generatedAt",
        "minute",
        "lastFlushAt",
    ] {
        assert!(
            found.iter().any(|f| f == name),
            "{name} was checked: {found:?}"
        );
    }
}

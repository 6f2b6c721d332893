//! Bulk redelivery: a dry run counts, the real one redelivers what the filter matches, up
//! to its `limit`.

use engine::both_modes;
use engine::testing::receiver;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::Mode;

use super::{call, get, providers, spawn, submit, tenant, wait_status};

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
    // The document lists the configured providers as the only values.
    let (status, refused) = bulk("a", json!({"provider": "AAA", "dryRun": true})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "provider");
    for limit in [json!(0), json!(10_001), json!(1.5), json!("2")] {
        let (status, refused) = bulk("a", json!({"limit": limit, "dryRun": true})).await;
        assert_eq!(status, 422, "{limit}: {refused}");
        assert_eq!(refused["errors"][0]["field"], "limit", "{limit}");
    }

    // `limit` caps one request; the next one takes the rest.
    let (status, first) = bulk("a", json!({"callbackHost": host, "limit": 1})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (
            first["matched"].as_u64(),
            first["redelivered"].as_u64(),
            first["limit"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let (status, done) = bulk("a", json!({"callbackHost": host})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (
            done["matched"].as_u64(),
            done["redelivered"].as_u64(),
            done["limit"].as_u64()
        ),
        (Some(1), Some(1), Some(10_000))
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

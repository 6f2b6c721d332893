//! Signing-secret rotation: both secrets sign during the overlap, only the new one after
//! it, and rotations are limited per day.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use engine::both_modes;
use engine::testing::receiver;
use reqwest::Method;
use serde_json::json;
use wiremock::Request;

use crate::helpers::Mode;

use super::{call, eventually, providers, spawn, submit, tenant};

/// The `v1,` signatures of a request that verify against `secret`, checked with ring.
fn verifying(request: &Request, secret: &str) -> usize {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let signed = format!(
        "{}.{}.{}",
        header("webhook-id"),
        header("webhook-timestamp"),
        String::from_utf8_lossy(&request.body)
    );
    let expected = format!(
        "v1,{}",
        STANDARD.encode(ring::hmac::sign(&key, signed.as_bytes()).as_ref())
    );
    header("webhook-signature")
        .split(' ')
        .filter(|s| *s == expected)
        .count()
}

both_modes!(a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends);
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(mode: Mode) {
    let sources = providers().await;
    let hooks = receiver(200).await;
    let app = spawn(mode, &sources, |c| {
        c.worker.webhooks.secret_rotation_overlap = Duration::from_secs(3);
    })
    .await;
    let _workers = app.workers();
    let (_, key, old) = tenant(&app, "a", json!({})).await;
    let (status, _, rotated) = call(
        &app,
        Method::POST,
        "/v1/signing-secret/rotate",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["previous"][0]["secret"], old.as_str());
    let (_, _, shown) = call(&app, Method::GET, "/v1/signing-secret", Some(&key), None).await;
    assert_eq!(shown, rotated);

    let delivered = async |n: usize| {
        eventually(Duration::from_secs(20), "the callback", async || {
            hooks.received_requests().await.unwrap().len() >= n
        })
        .await;
        hooks.received_requests().await.unwrap().pop().unwrap()
    };
    submit(&app, &key, &hooks.uri()).await;
    let during = delivered(1).await;
    let signatures = during
        .headers
        .get("webhook-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(signatures.starts_with("v1,"), "{signatures}");
    assert_eq!(
        verifying(&during, &new),
        1,
        "the new secret's signature verifies"
    );
    assert_eq!(
        verifying(&during, &old),
        1,
        "the old secret's signature verifies"
    );

    tokio::time::sleep(Duration::from_secs(4)).await;
    submit(&app, &key, &hooks.uri()).await;
    let after = delivered(2).await;
    let signatures = after
        .headers
        .get("webhook-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(signatures.split(' ').count(), 1, "{signatures}");
    assert_eq!(verifying(&after, &new), 1);
    assert_eq!(verifying(&after, &old), 0);
    let (_, _, shown) = call(&app, Method::GET, "/v1/signing-secret", Some(&key), None).await;
    assert_eq!(shown["previous"], json!([]));

    // Five rotations a day, then 429 with Retry-After.
    for _ in 0..4 {
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/v1/signing-secret/rotate",
            Some(&key),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) = call(
        &app,
        Method::POST,
        "/v1/signing-secret/rotate",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rotation_limit"))
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 23 * 3600, "{retry}");
}

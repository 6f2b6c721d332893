//! Wrong keys: remembered for a while without asking the database again, and limited per
//! client address (429 with `Retry-After`), while known keys keep working.

use std::time::{Duration, Instant};

use api::tenants::failures::FAILED_AUTH_PER_SECOND;
use engine::both_modes;
use engine::testing::{host_port, postgres_url};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{Mode, Proxy};

use super::{ADMIN, call, providers, spawn, tenant};

both_modes!(wrong_keys_are_limited_per_address);
async fn wrong_keys_are_limited_per_address(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let (id, key, _) = tenant(&app, "acme", json!({})).await;
    // Known before the guessing starts: memory answers for it.
    let (status, _, _) = call(&app, Method::GET, "/v1/webhooks", Some(&key), None).await;
    assert_eq!(status, 200);

    let burst = (FAILED_AUTH_PER_SECOND * 2.0) as usize;
    for i in 0..burst {
        let wrong = format!("wrong-key-{i}");
        let (status, _, _) = call(&app, Method::GET, "/v1/webhooks", Some(&wrong), None).await;
        assert_eq!(status, 401, "guess {i}");
    }
    for wrong in ["wrong-key-new", "wrong-key-0"] {
        let (status, headers, body) =
            call(&app, Method::GET, "/v1/webhooks", Some(wrong), None).await;
        assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry_after), "{retry_after}");
    }
    // No key is not a guess; a known key passes even from this address.
    let (status, _, _) = call(&app, Method::GET, "/v1/webhooks", None, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&app, Method::GET, "/v1/webhooks", Some(&key), None).await;
    assert_eq!(status, 200);

    // Once the address has waited, a key created now works at once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, created) = call(
        &app,
        Method::POST,
        &format!("/v1/admin/tenants/{id}/keys"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let new_key = created["key"].as_str().unwrap();
    let (status, _, _) = call(&app, Method::GET, "/v1/webhooks", Some(new_key), None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_answered_from_memory() {
    let sources = providers().await;
    let proxy = Proxy::start(host_port(&postgres_url())).await;
    let through = proxy.addr.to_string();
    let app = spawn(Mode::Production, &sources, |c| {
        let url = c.store.database_url.expose_secret().to_owned();
        c.store.database_url = url.replace(&host_port(&url), &through).into();
    })
    .await;
    let (status, _, _) = call(&app, Method::GET, "/v1/webhooks", Some("nope"), None).await;
    assert_eq!(status, 401);
    // The database gone, the same key is still refused, at once.
    proxy.cut();
    let started = Instant::now();
    let (status, _, _) = call(&app, Method::GET, "/v1/webhooks", Some("nope"), None).await;
    assert_eq!(status, 401);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

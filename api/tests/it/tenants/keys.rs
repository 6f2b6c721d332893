//! Tenant keys: the operator's admin routes, a second key and revocation (also across
//! instances), and production refusing to start without keys.

use std::time::Duration;

use engine::both_modes;
use reqwest::Method;
use serde_json::json;

use crate::helpers::Mode;

use super::{ADMIN, CONFIGURED, call, eventually, providers, spawn, tenant};

both_modes!(keys_admin_routes_and_revocation);
async fn keys_admin_routes_and_revocation(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let (id, key, _) = tenant(&app, "acme", json!({"rateLimitPerSecond": 50})).await;

    // Who may call the operator's routes.
    let (status, _, body) = call(&app, Method::GET, "/v1/admin/tenants", None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _, _) = call(&app, Method::GET, "/v1/admin/tenants", Some("wrong"), None).await;
    assert_eq!(status, 401);
    let (status, _, body) = call(&app, Method::GET, "/v1/admin/tenants", Some(&key), None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/v1/admin/tenants",
        Some(CONFIGURED),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // Reading and changing a tenant.
    let (status, _, page) = call(&app, Method::GET, "/v1/admin/tenants", Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "acme"]);
    let (status, _, shown) = call(
        &app,
        Method::GET,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown["rateLimitPerSecond"], 50);
    assert_eq!(
        shown["quotas"],
        json!({"activeStreams": 100, "pendingWebhooks": 100000})
    );
    assert_eq!(shown["keys"].as_array().unwrap().len(), 1);
    assert!(
        shown.to_string().find(&key).is_none(),
        "a key is shown only when created"
    );
    let patch = json!({"name": "acme-2", "quotas": {"activeStreams": 3}});
    let (status, _, changed) = call(
        &app,
        Method::PATCH,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        Some(patch),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "acme-2");
    assert_eq!(changed["quotas"]["activeStreams"], 3);
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/v1/admin/tenants/nope",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/v1/admin/tenants",
        Some(ADMIN),
        Some(json!({"name": "acme-2"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));

    // A second key works beside the first; a revoked key is refused.
    let (status, _, second) = call(
        &app,
        Method::POST,
        &format!("/v1/admin/tenants/{id}/keys"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let second_key = second["key"].as_str().unwrap().to_owned();
    let lookup = "/v1/vehicles/2/state?at=2022-09-12T10:00:00Z";
    for k in [&key, &second_key] {
        let (status, headers, _) = call(&app, Method::GET, lookup, Some(k), None).await;
        assert_eq!(status, 200);
        assert!(headers.contains_key("ratelimit"), "{headers:?}");
        assert_eq!(headers["ratelimit-policy"], "\"tenant\";q=50;w=1");
    }
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/admin/keys/{}", second["id"].as_str().unwrap()),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&app, Method::GET, lookup, Some(&second_key), None).await;
    assert_eq!(status, 401, "a revoked key is refused");
    let (status, _, _) = call(&app, Method::GET, lookup, Some(&key), None).await;
    assert_eq!(status, 200, "the other key still works");
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        "/v1/admin/keys/nope",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The configured keys are the `default` tenant's; without a key nothing is served.
    let (status, _, _) = call(&app, Method::GET, lookup, Some(CONFIGURED), None).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(&app, Method::GET, lookup, None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_to_start_without_keys() {
    use clap::Parser;
    let mut config =
        api::config::ApiConfig::try_parse_from(["api", "--redis-url", "redis://127.0.0.1:1"])
            .unwrap();
    config.http.api_keys.clear();
    let error = config.validate().expect_err("no keys in production");
    let message = error.to_string();
    assert!(
        message.contains("ADMIN_API_KEY") && message.contains("API_KEYS"),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
    config.tenants.auth_disabled = true;
    config
        .validate()
        .expect("AUTH_DISABLED=true says so explicitly");
    config.tenants.auth_disabled = false;
    config.tenants.admin_api_key = Some(ADMIN.to_owned().into());
    config.validate().expect("an admin key is enough");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_instance_is_refused_by_the_others_within_the_cache_time() {
    let sources = providers().await;
    let first = spawn(Mode::Production, &sources, |c| {
        c.tenants.key_cache_ttl = Duration::from_secs(1);
    })
    .await;
    let shared = first.config.store.clone();
    let second = spawn(Mode::Production, &sources, |c| {
        c.store = shared;
        c.tenants.key_cache_ttl = Duration::from_secs(1);
    })
    .await;
    let (id, key, _) = tenant(&first, "a", json!({})).await;
    let lookup = "/v1/vehicles/2/state?at=2022-09-12T10:00:00Z";
    let (status, _, _) = call(&second, Method::GET, lookup, Some(&key), None).await;
    assert_eq!(status, 200, "the second instance knows the key");
    // Its use is recorded (at most once a minute).
    eventually(Duration::from_secs(10), "lastUsedAt", async || {
        let (_, _, shown) = call(
            &first,
            Method::GET,
            &format!("/v1/admin/tenants/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
        shown["keys"][0]["lastUsedAt"].is_string()
    })
    .await;
    let (_, _, shown) = call(
        &first,
        Method::GET,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    let key_id = shown["keys"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = call(
        &first,
        Method::DELETE,
        &format!("/v1/admin/keys/{key_id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 204);
    eventually(
        Duration::from_secs(5),
        "the other instance to refuse it",
        async || call(&second, Method::GET, lookup, Some(&key), None).await.0 == 401,
    )
    .await;
    let (_, _, shown) = call(
        &first,
        Method::GET,
        &format!("/v1/admin/tenants/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert!(shown["keys"][0]["revokedAt"].is_string(), "{shown}");
}

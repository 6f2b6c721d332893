//! The API-key switch: off by default; when on, data routes need a key and ops stay open.
use engine::both_modes;

use crate::helpers::{Mode, TestApp};

const LOOKUP: &str = "/v1/vehicles/2/state?at=2022-09-12T10:00:00Z";

both_modes!(api_keys_guard_data_routes_only);
async fn api_keys_guard_data_routes_only(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| {
        c.tenants.auth_disabled = false;
        c.http.api_keys = vec!["first-key".into(), " second-key ".into()];
    })
    .await;

    let (status, body) = app.get_json(LOOKUP).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    let (status, _) = app
        .get_json("/vehicles/2/timestamp/2022-09-12T10:00:00Z")
        .await;
    assert_eq!(status, 401);

    let wrong = app
        .client
        .get(app.url(LOOKUP))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .client
        .get(app.url(LOOKUP))
        .bearer_auth("second-key")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);

    for open in [
        "/health",
        "/ready",
        "/metrics",
        "/api-docs/openapi.json",
        "/swagger-ui/",
    ] {
        let response = app.client.get(app.url(open)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{open} must stay open");
    }
}

both_modes!(without_api_keys_everything_is_open);
async fn without_api_keys_everything_is_open(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let (status, _) = app.get_json(LOOKUP).await;
    assert_eq!(status, 200);
}

both_modes!(two_authorization_headers_are_refused);
async fn two_authorization_headers_are_refused(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| {
        c.tenants.auth_disabled = false;
        c.http.api_keys = vec!["first-key".into(), "second-key".into()];
    })
    .await;
    // Whichever header a proxy in front reads, this server must not pick another.
    for (first, second) in [
        ("first-key", "nope"),
        ("nope", "first-key"),
        ("first-key", "second-key"),
    ] {
        let response = app
            .client
            .get(app.url(LOOKUP))
            .header("authorization", format!("Bearer {first}"))
            .header("authorization", format!("Bearer {second}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{first}, {second}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_parameter");
        assert_eq!(problem["errors"][0]["field"], "Authorization");
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .header("authorization", "Bearer a")
        .header("authorization", "Bearer b")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 400);
    let one = app
        .client
        .get(app.url(LOOKUP))
        .bearer_auth("first-key")
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
}

//! Every error has the project's JSON shape, including those made outside the handlers.

use serde_json::Value;

use crate::both_modes;
use crate::helpers::{Mode, TestApp};

fn assert_error_shape(body: &Value, status: u16, code: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

both_modes!(unknown_routes_wrong_methods_and_oversize_bodies_get_json_errors);
async fn unknown_routes_wrong_methods_and_oversize_bodies_get_json_errors(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| c.http.body_limit = 1024).await;

    let (status, body) = app.get_json("/no/such/route").await;
    assert_eq!(status, 404);
    assert_error_shape(&body, 404, "not_found");

    let response = app
        .client
        .delete(app.url("/v1/vehicles/1/state?at=2022-09-12T10:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().contains_key("allow"));
    assert_error_shape(&response.json().await.unwrap(), 405, "method_not_allowed");

    let response = app
        .client
        .post(app.url("/health"))
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_error_shape(&response.json().await.unwrap(), 413, "payload_too_large");
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

    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
}

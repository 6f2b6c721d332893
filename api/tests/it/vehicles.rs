//! The vehicle state lookups, on the seed rows, in both modes.

use engine::both_modes;
use serde_json::json;

use crate::helpers::{Mode, TestApp};

both_modes!(classic_route_answers_the_challenge_shape);
async fn classic_route_answers_the_challenge_shape(mode: Mode) {
    let app = TestApp::spawn(mode).await;

    let (status, body) = app
        .get_json("/vehicles/2/timestamp/2022-09-12%2010:00:00+00")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"fromCache": false, "data": {"vehicle": {"id": 2, "make": "AUDI", "model": "A4", "state": "selling"}}})
    );
    let (_, again) = app
        .get_json("/vehicles/2/timestamp/2022-09-12%2010:00:00+00")
        .await;
    assert_eq!(again["fromCache"], true);
    assert_eq!(again["data"], body["data"]);

    let (_, body) = app
        .get_json("/vehicles/3/timestamp/2022-09-12%2010:00:00+00")
        .await;
    assert_eq!(body["data"]["vehicle"]["state"], "selling");
    // The instant of a transition counts as the new state.
    let (_, body) = app
        .get_json("/vehicles/3/timestamp/2022-09-12%2012:41:41+00")
        .await;
    assert_eq!(
        body,
        json!({"fromCache": false, "data": {"vehicle": {"id": 3, "make": "VW", "model": "GOLF", "state": "sold"}}})
    );
    // RFC 3339 is accepted on the classic route too.
    let (status, body) = app
        .get_json("/vehicles/1/timestamp/2022-09-12T10:00:00Z")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["vehicle"]["state"], "quoted");
}

both_modes!(v1_route_answers_state_and_instant);
async fn v1_route_answers_state_and_instant(mode: Mode) {
    let app = TestApp::spawn(mode).await;

    let (status, body) = app
        .get_json("/v1/vehicles/3/state?at=2022-09-12T12:41:41Z")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "vehicle": {"id": 3, "make": "VW", "model": "GOLF"},
            "state": "sold",
            "stateSince": "2022-09-12T12:41:41.000Z",
            "at": "2022-09-12T12:41:41.000Z",
            "fromCache": false
        })
    );
    // A millisecond before the transition, still selling; `at` is answered in UTC.
    let (_, body) = app
        .get_json("/v1/vehicles/3/state?at=2022-09-12T14:41:40.999%2B02:00")
        .await;
    assert_eq!(body["state"], "selling");
    assert_eq!(body["at"], "2022-09-12T12:41:40.999Z");
    assert_eq!(body["stateSince"], "2022-09-11T23:21:38.000Z");
    // The vehicle's own `state` column (its current state) is not the answer.
    let (_, body) = app
        .get_json("/v1/vehicles/3/state?at=2022-09-11T10:00:00Z")
        .await;
    assert_eq!(body["state"], "quoted");
}

both_modes!(one_instant_in_two_spellings_is_one_cache_entry);
async fn one_instant_in_two_spellings_is_one_cache_entry(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let (_, first) = app
        .get_json("/v1/vehicles/2/state?at=2022-09-12T10:00:00Z")
        .await;
    assert_eq!(first["fromCache"], false);
    let (_, second) = app
        .get_json("/v1/vehicles/2/state?at=2022-09-12T12:00:00%2B02:00")
        .await;
    assert_eq!(second["fromCache"], true);
    let (_, classic) = app
        .get_json("/vehicles/2/timestamp/2022-09-12%2010:00:00+00")
        .await;
    assert_eq!(classic["fromCache"], true);
}

both_modes!(unknown_vehicles_and_times_before_the_first_state_are_404);
async fn unknown_vehicles_and_times_before_the_first_state_are_404(mode: Mode) {
    let app = TestApp::spawn(mode).await;

    let (status, body) = app
        .get_json("/v1/vehicles/999/state?at=2022-09-12T10:00:00Z")
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["status"], 404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Vehicle 999 not found")
    );

    let (status, body) = app
        .get_json("/v1/vehicles/3/state?at=2022-09-11T09:11:44Z")
        .await;
    assert_eq!(status, 404);
    assert!(
        body["detail"].as_str().unwrap().contains("had no state"),
        "{body}"
    );

    let (status, _) = app
        .get_json("/vehicles/999/timestamp/2022-09-12%2010:00:00+00")
        .await;
    assert_eq!(status, 404);
}

both_modes!(malformed_parameters_are_400_naming_the_parameter);
async fn malformed_parameters_are_400_naming_the_parameter(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let cases = [
        ("/v1/vehicles/abc/state?at=2022-09-12T10:00:00Z", "id"),
        ("/v1/vehicles/3/state?at=not-a-time", "at"),
        ("/v1/vehicles/3/state", "at"),
        ("/v1/vehicles/3/state?at=2022-09-12", "at"),
        ("/vehicles/abc/timestamp/2022-09-12%2010:00:00+00", "id"),
        ("/vehicles/3/timestamp/yesterday", "timestamp"),
        (
            "/vehicles/3/timestamp/2022-02-30%2010:00:00+00",
            "timestamp",
        ),
    ];
    for (path, field) in cases {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{path}");
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
}

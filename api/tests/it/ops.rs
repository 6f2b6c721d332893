//! Health, readiness and metrics.

use crate::both_modes;
use crate::helpers::{Mode, TestApp};

both_modes!(health_and_readiness);
async fn health_and_readiness(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, body) = app.get_json("/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "ok");
    let redis = if mode == Mode::Production {
        "ok"
    } else {
        "not_configured"
    };
    assert_eq!(body["redis"], redis);
}

both_modes!(metrics_count_requests_and_cache_tiers);
async fn metrics_count_requests_and_cache_tiers(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    for _ in 0..2 {
        app.get_json("/v1/vehicles/1/state?at=2022-09-12T10:00:00Z")
            .await;
    }
    app.get_json("/v1/vehicles/1/state?at=nope").await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"datahog_http_requests_total{method="GET",route="/v1/vehicles/{id}/state",status="200"}"#,
        r#"datahog_http_requests_total{method="GET",route="/v1/vehicles/{id}/state",status="400"}"#,
        r#"datahog_http_request_duration_seconds_bucket{method="GET",route="/v1/vehicles/{id}/state",status="200",le="0.005"}"#,
        r#"datahog_cache_requests_total{cache="vehicle_state",tier="local",result="hit"}"#,
        r#"datahog_cache_requests_total{cache="vehicle_state",tier="local",result="miss"}"#,
    ] {
        assert!(text.contains(expected), "missing {expected}");
    }
    if mode == Mode::Production {
        assert!(text.contains(
            r#"datahog_cache_requests_total{cache="vehicle_state",tier="redis",result="miss"}"#
        ));
    }
    // Every family has its help and its type, and names its unit.
    let families: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split(['{', ' ']).next().unwrap())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
        })
        .collect();
    assert!(families.len() >= 3, "{text}");
    for family in families {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "help of {family}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "type of {family}"
        );
    }
    assert!(text.contains("# TYPE datahog_http_request_duration_seconds histogram"));
}

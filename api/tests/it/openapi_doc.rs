//! The committed OpenAPI document matches the code, and the docs are served offline.

use crate::helpers::{Mode, TestApp};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");

/// Set `UPDATE_OPENAPI=1` to rewrite the committed document from the code.
#[test]
fn committed_document_matches_the_code() {
    let generated = serde_json::to_string_pretty(&api::routes::openapi_document())
        .expect("serialisable")
        + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write openapi/openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p api --test it openapi` and commit it"
    );
}

#[tokio::test]
async fn document_and_swagger_ui_are_served_without_network() {
    let app = TestApp::spawn(Mode::Embedded).await;
    let (status, doc) = app.get_json("/api-docs/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/vehicles/{id}/state",
        "/vehicles/{id}/timestamp/{timestamp}",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    assert_eq!(doc, committed, "the served document is the committed one");

    let page = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("https://"),
        "Swagger UI must not load assets from a CDN"
    );
    for asset in [
        "/swagger-ui/swagger-ui-bundle.js",
        "/swagger-ui/swagger-ui.css",
        "/swagger-ui/swagger-initializer.js",
    ] {
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let init = app.get_text("/swagger-ui/swagger-initializer.js").await;
    assert!(init.contains("/api-docs/openapi.json"));
}

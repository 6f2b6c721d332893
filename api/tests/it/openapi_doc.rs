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
    // Open (this app): a data route's key is optional, the operator's routes need one; the
    // rest is the committed document.
    let security = |doc: &serde_json::Value, path: &str, method: &str| {
        doc["paths"][path][method]["security"].clone()
    };
    let optional = serde_json::json!([{}, {"api_key": []}]);
    assert_eq!(security(&doc, "/v1/webhooks", "post"), optional);
    assert_eq!(security(&doc, "/v1/stats", "get"), optional);
    assert_eq!(
        security(&doc, "/v1/admin/tenants", "post"),
        serde_json::json!([{"api_key": []}])
    );
    assert!(security(&doc, "/health", "get").is_null());
    let mut production = committed.clone();
    api::routes::open_access(&mut production);
    assert_eq!(
        doc, production,
        "the open document is the committed one, open"
    );
    assert_ne!(doc, committed);
    // With keys, the committed document itself.
    let keyed = TestApp::spawn_with(Mode::Embedded, |c| {
        c.tenants.auth_disabled = false;
        c.tenants.admin_api_key = Some("admin-key-for-openapi-tests-0123".to_owned().into());
    })
    .await;
    let (_, served) = keyed.get_json("/api-docs/openapi.json").await;
    assert_eq!(
        served, committed,
        "with keys, the served document is the committed one"
    );

    // The start banner's first link leads to the console.
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(
        page.url().path(),
        "/console/",
        "`/` redirects to the console"
    );
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

/// What the issue found untrue in the document, now true.
#[test]
fn document_tells_the_truth() {
    let doc = api::routes::openapi_document();
    let operation = |path: &str, method: &str| doc["paths"][path][method].clone();
    let parameter = |op: &serde_json::Value, name: &str| {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("parameter {name}"))
    };
    for (path, name) in [
        ("/v1/counters", "page"),
        ("/v1/counters", "pageSize"),
        ("/v1/webhooks", "page"),
        ("/v1/streams", "pageSize"),
    ] {
        assert_eq!(
            parameter(&operation(path, "get"), name)["schema"]["type"],
            "integer"
        );
    }
    let state = operation("/v1/vehicles/{id}/state", "get");
    assert_eq!(parameter(&state, "at")["required"], true);
    let key = parameter(&operation("/v1/webhooks", "post"), "Idempotency-Key");
    assert_eq!(key["schema"]["maxLength"], 255);
    for (path, method, statuses) in [
        (
            "/increment",
            "post",
            &["202", "400", "401", "409", "413", "415", "422", "503"][..],
        ),
        (
            "/v1/webhooks",
            "post",
            &["202", "400", "401", "413", "415", "422", "503"],
        ),
        (
            "/v1/webhooks/{id}/redeliver",
            "post",
            &["202", "401", "404", "409", "503"],
        ),
        (
            "/v1/vehicles/{id}/state",
            "get",
            &["200", "400", "401", "404", "503"],
        ),
    ] {
        let responses = &operation(path, method)["responses"];
        for status in statuses {
            let response = &responses[*status];
            assert!(response.is_object(), "{method} {path} documents {status}");
            assert!(
                response["headers"]["x-request-id"].is_object(),
                "{path} {status}"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{path} {status}"
                );
            }
        }
    }
    let accepted = &operation("/v1/webhooks", "post")["responses"]["202"];
    assert!(accepted["headers"]["Location"].is_object());
    let unavailable = &operation("/v1/increment", "post")["responses"]["503"];
    assert!(unavailable["headers"]["Retry-After"].is_object());
    for schema in ["StreamData", "StreamBatch"] {
        let data = &doc["components"]["schemas"][schema]["properties"]["data"];
        assert_eq!(data["oneOf"][0]["type"], "array", "{schema}: {data}");
    }
    assert_eq!(
        doc["components"]["schemas"]["IncrementRequest"]["additionalProperties"],
        false
    );
}

//! Provider credentials: sent as the headers `PROVIDER_HEADERS` gives, never shown; a
//! tenant sees providers by name and health, the operator their URLs with credentials
//! replaced by `***`.

use engine::testing::{BILL, assert_no_secret, receiver};
use serde_json::json;
use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Mode, TestApp};

use super::{ADMIN, get, submit, tenant, wait_status};

const HEADER_SECRET: &str = "hdr-s3cret-0123456789";
const URL_SECRETS: [&str; 2] = ["pa55w0rd", "t0ken-9876"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_credentials_are_sent_and_never_shown() {
    // Data only for requests bearing the credential; anything else is refused.
    let source = MockServer::start().await;
    Mock::given(path("/gas"))
        .and(header("x-api-key", HEADER_SECRET))
        .respond_with(ResponseTemplate::new(200).set_body_raw(BILL, "application/json"))
        .mount(&source)
        .await;
    Mock::given(path("/gas"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&source)
        .await;
    let addr = source.address();
    let url = format!(
        "http://user:{}@{addr}/gas?token={}",
        URL_SECRETS[0], URL_SECRETS[1]
    );
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.worker.providers.providers = vec![format!("gas={url}")];
        c.worker.providers.provider_headers = Some(format!("gas:X-Api-Key={HEADER_SECRET}").into());
        c.tenants.auth_disabled = false;
        c.tenants.admin_api_key = Some(ADMIN.to_owned().into());
    })
    .await;
    let _workers = app.workers();
    let (_, key) = tenant(&app, "acme").await;
    let hooks = receiver(200).await;
    let id = submit(&app, Some(&key), "gas", &format!("{}/hook", hooks.uri())).await;
    let done = wait_status(&app, Some(&key), &id, "delivered").await;
    assert_eq!(done["outcome"], "completed", "{done}");
    assert_eq!(done["providers"][0]["data"], json!([{"amount": 1}]));

    let secrets = [HEADER_SECRET, URL_SECRETS[0], URL_SECRETS[1]];
    let theirs = get(&app, "/v1/providers", Some(&key)).await;
    assert_eq!(theirs["items"][0]["name"], "gas");
    assert_eq!(theirs["items"][0]["health"], "up");
    assert!(theirs["items"][0].get("url").is_none(), "{theirs}");
    let operators = get(&app, "/v1/providers", Some(ADMIN)).await;
    assert_eq!(
        operators["items"][0]["url"],
        format!("http://***@{addr}/gas?token=***")
    );
    for (what, shown) in [
        ("a tenant's providers", theirs),
        ("the operator's providers", operators),
        ("a tenant's stats", get(&app, "/v1/stats", Some(&key)).await),
        (
            "the operator's stats",
            get(&app, "/v1/stats", Some(ADMIN)).await,
        ),
        ("the webhook", done),
    ] {
        assert_no_secret(&shown.to_string(), what, &secrets);
    }
    assert_no_secret(&app.get_text("/metrics").await, "metrics", &secrets);
    assert_no_secret(
        &format!("{:?}", app.config),
        "the configuration",
        &secrets[..1],
    );
}

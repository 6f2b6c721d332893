//! Submissions while every provider they name is down: the first collection waits for the
//! next probe with the collections already waiting, instead of running only to find the
//! providers down; once the probe succeeds it is collected and delivered like any other.

use std::time::{Duration, Instant};

use engine::both_modes;
use engine::testing::{receiver, requests_to};
use entity::webhook;
use sea_orm::EntityTrait;
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::Mode;

use super::{GAS, providers, spawn, submit, webhook_in};

/// How long the api reuses a provider's health read for a submission, and a margin.
const HEALTH_REUSED: Duration = Duration::from_millis(800);

async fn a_submission_for_providers_known_down_waits_for_their_probe(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(200).await);
    Mock::given(path("/gas"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&sources)
        .await;
    let app = spawn(mode, &sources, |c| {
        c.worker.providers.provider_failure_threshold = 1;
        c.worker.providers.provider_cooldown_min = Duration::from_secs(6);
        c.worker.providers.provider_cooldown_max = Duration::from_secs(6);
    })
    .await;
    let _workers = app.workers();
    // Its first fetch fails: `gas` is down for a cool-down.
    let first = submit(&app, json!("gas"), &hooks.uri()).await;
    let until = Instant::now() + Duration::from_secs(20);
    while requests_to(&sources, "/gas").await == 0 {
        assert!(Instant::now() < until, "gas was never called");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(HEALTH_REUSED).await;
    let calls = requests_to(&sources, "/gas").await;

    let second = submit(&app, json!("gas"), &hooks.uri()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let db = app.db().await;
    let row = webhook::Entity::find_by_id(&second)
        .one(&db)
        .await
        .unwrap()
        .expect("the second webhook");
    assert_eq!(
        row.updated_at, row.created_at,
        "no job touched it: its collection waits for the probe"
    );
    let waits = row.next_run_at.expect("a next run") - row.created_at;
    assert!(
        waits > chrono::Duration::seconds(2),
        "its collection is due at the probe, {waits} after its submission"
    );
    assert_eq!(
        requests_to(&sources, "/gas").await,
        calls,
        "gas not called again"
    );

    // Back up: the probe succeeds and both are delivered.
    sources.reset().await;
    Mock::given(path("/gas"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(GAS, "application/json"))
        .mount(&sources)
        .await;
    for id in [&first, &second] {
        webhook_in(&app, id, "delivered", Duration::from_secs(30)).await;
    }
}
both_modes!(a_submission_for_providers_known_down_waits_for_their_probe);

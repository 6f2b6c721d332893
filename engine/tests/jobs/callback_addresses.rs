//! A worker checks a callback's address again when it connects: one its rules refuse is
//! never called, whatever the submission allowed.

use std::time::Duration;

use engine::testing::{BILL, provider, receiver};
use entity::delivery_attempt::ErrorKind;
use entity::webhook::WebhookStatus;

use crate::helpers::{Mode, TestEngine, webhook_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_checks_the_address_again() {
    // The submission allowed it; the worker's rules refuse it when it connects.
    let (sources, hooks) = (
        provider(&["/gas", "/internet"], BILL, Duration::ZERO).await,
        receiver(200).await,
    );
    let engine = TestEngine::start_with(Mode::Production, |w| webhook_settings(w, &sources)).await;
    let _worker = engine.spawn_worker_with(|w| w.webhooks.callback_allow_private = Some(false));
    let id = engine.submit(&["gas"], &hooks.uri()).await;
    engine
        .webhook_in(&id, WebhookStatus::Parked, Duration::from_secs(20))
        .await;
    let attempts = engine.attempts(&id).await;
    assert!(
        attempts
            .iter()
            .all(|a| a.error_kind == Some(ErrorKind::RefusedAddress)),
        "{attempts:?}"
    );
    assert_eq!(hooks.received_requests().await.unwrap().len(), 0);
}

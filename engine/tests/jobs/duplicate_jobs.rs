//! Jobs handed out twice, as an at-least-once queue may, send nothing twice.

use std::time::Duration;

use engine::both_modes;
use engine::testing::{BILL, provider, receiver, requests_to};
use engine::webhooks::{Collect, Deliver};
use entity::webhook::WebhookStatus;

use crate::helpers::{Mode, TestEngine, webhook_settings};

both_modes!(jobs_that_run_twice_send_nothing_twice);
async fn jobs_that_run_twice_send_nothing_twice(mode: Mode) {
    let (sources, hooks) = (
        provider(&["/gas", "/internet"], BILL, Duration::ZERO).await,
        receiver(200).await,
    );
    let engine = TestEngine::start_with(mode, |w| webhook_settings(w, &sources)).await;
    let _workers = engine.run_workers();
    let id = engine.submit(&["gas", "internet"], &hooks.uri()).await;
    engine
        .webhook_in(&id, WebhookStatus::Delivered, Duration::from_secs(20))
        .await;

    // Duplicates of both jobs, as an at-least-once queue may hand out.
    let queue = &engine.ctx.queue;
    for _ in 0..2 {
        queue
            .push(Collect {
                webhook_id: id.clone(),
                tenant_id: None,
            })
            .await
            .unwrap();
        queue
            .push(Deliver {
                webhook_id: id.clone(),
            })
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hooks.received_requests().await.unwrap().len(), 1);
    assert_eq!(requests_to(&sources, "/gas").await, 1);
}

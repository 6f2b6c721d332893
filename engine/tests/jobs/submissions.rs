//! New webhooks' rows: submissions arriving together are written together (Postgres), and
//! one that the database refuses fails alone.

use chrono::Utc;
use engine::both_modes;
use engine::webhooks::inserts::{Inserts, NewRows};
use entity::webhook::{self, DeliveryTrigger, WebhookStatus};
use entity::webhook_provider;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::{Mode, TestEngine};

fn rows(id: &str) -> NewRows {
    let now = Utc::now();
    let webhook = webhook::Model {
        id: id.to_owned(),
        tenant_id: engine::tenants::DEFAULT_TENANT.into(),
        callback_url: "http://127.0.0.1:9/hook".into(),
        status: WebhookStatus::Collecting,
        outcome: None,
        created_at: now,
        deadline_at: now,
        collected_at: None,
        delivered_at: None,
        updated_at: now,
        payload: None,
        delivery_attempts: 0,
        attempt_limit: 0,
        delivery_snoozes: 0,
        waiting_for: None,
        waiting_on: None,
        ordering_key: None,
        traceparent: None,
        delivery_trigger: DeliveryTrigger::Scheduled,
        // Nobody's job: the sweeper is not running.
        next_run_at: None,
        claimed_by: None,
        queued_task: None,
    };
    NewRows::pending(webhook, &["gas".to_owned()])
}

both_modes!(a_refused_submission_among_many_fails_alone);
async fn a_refused_submission_among_many_fails_alone(mode: Mode) {
    let engine = TestEngine::start(mode).await;
    let db = engine.db();
    let inserts = Inserts::new(db);
    inserts.insert(rows("taken")).await.unwrap();

    // 40 at once, one of them with an id already taken: whatever batches they share, that
    // one is refused and every other is written with its provider row.
    let ids: Vec<String> = (0..40)
        .map(|n| {
            if n == 25 {
                "taken".into()
            } else {
                format!("new-{n}")
            }
        })
        .collect();
    let answers = futures::future::join_all(ids.iter().map(|id| inserts.insert(rows(id)))).await;
    for (id, answer) in ids.iter().zip(&answers) {
        assert_eq!(answer.is_ok(), id != "taken", "{id}: {answer:?}");
    }
    assert_eq!(webhook::Entity::find().count(db).await.unwrap(), 40);
    assert_eq!(
        webhook_provider::Entity::find().count(db).await.unwrap(),
        40
    );
}

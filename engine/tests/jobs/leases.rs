//! A job that lost its webhook's lease stops: it records what it did, and changes nothing
//! else.

use std::time::Duration;

use apalis::prelude::{Data, TaskId};
use chrono::Utc;
use engine::testing::receiver_answering;
use engine::webhooks::Deliver;
use engine::webhooks::deliver;
use entity::delivery_attempt::{self, AttemptStatus};
use entity::webhook::{self, DeliveryTrigger, WebhookOutcome};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use wiremock::ResponseTemplate;

use crate::helpers::{Mode, TestEngine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_lost_its_lease_records_its_attempt_and_queues_nothing() {
    // A failure (recorded on its own) and a success (recorded with the other deliveries
    // finishing at that moment, group_commit::Delivered).
    for status in [500, 200] {
        lost_during_the_post(status).await;
    }
}

/// The lease passes to another task while the receiver holds the POST, which it then
/// answers with `status`.
async fn lost_during_the_post(status: u16) {
    let engine = TestEngine::start(Mode::Production).await;
    let receiver =
        receiver_answering(ResponseTemplate::new(status).set_delay(Duration::from_secs(2))).await;
    let db = engine.db();
    let now = Utc::now();
    let id = ulid::Ulid::generate().to_string();
    webhook::Entity::insert(webhook::ActiveModel {
        id: Set(id.clone()),
        callback_url: Set(receiver.uri()),
        status: Set(webhook::WebhookStatus::Delivering),
        outcome: Set(Some(WebhookOutcome::Completed)),
        tenant_id: Set("default".into()),
        created_at: Set(now),
        deadline_at: Set(now + chrono::Duration::hours(1)),
        collected_at: Set(Some(now)),
        delivered_at: Set(None),
        updated_at: Set(now),
        payload: Set(Some(r#"{"id": "x"}"#.into())),
        delivery_attempts: Set(0),
        attempt_limit: Set(5),
        delivery_snoozes: Set(0),
        waiting_for: Set(None),
        waiting_on: Set(None),
        ordering_key: Set(None),
        traceparent: Set(None),
        delivery_trigger: Set(DeliveryTrigger::Scheduled),
        next_run_at: Set(Some(now)),
        claimed_by: Set(None),
        queued_task: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unwrap();

    let job = Deliver {
        webhook_id: id.clone(),
    };
    let running = tokio::spawn(deliver::run(
        job,
        Data::new(engine.ctx.clone()),
        TaskId::from(ulid::Ulid::generate()),
    ));
    // While the receiver holds the POST, the lease passes to another task.
    let mut posted = false;
    for _ in 0..100 {
        if !receiver.received_requests().await.unwrap().is_empty() {
            posted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(posted, "the job POSTed");
    let later = Utc::now() + chrono::Duration::seconds(60);
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::ClaimedBy,
            Expr::value(Some("another-task")),
        )
        .col_expr(webhook::Column::NextRunAt, Expr::value(Some(later)))
        .filter(webhook::Column::Id.eq(&id))
        .exec(db)
        .await
        .unwrap();
    running.await.unwrap().expect("the job ends without error");

    let row = webhook::Entity::find_by_id(&id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, webhook::WebhookStatus::Delivering, "{status}");
    assert_eq!(row.delivered_at, None);
    assert_eq!(
        row.claimed_by.as_deref(),
        Some("another-task"),
        "the holder's lease is untouched"
    );
    let attempts = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::WebhookId.eq(&id))
        .all(db)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].status, AttemptStatus::Completed);
    assert_eq!(attempts[0].status_code, Some(i32::from(status)));
    // No retry was queued by the job that lost the lease: that is the holder's to decide.
    assert_eq!(engine.queued_tasks("deliver").await, 0);
}

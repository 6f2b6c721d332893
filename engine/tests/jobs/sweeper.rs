//! The sweeper tells a backlog from a lost job: it queues again only webhooks whose job is
//! truly gone, however many are overdue, and the workers then finish them.

use std::time::Duration;

use chrono::Utc;
use engine::both_modes;
use engine::maintenance::sweep::Sweep;
use engine::periodic::Periodic;
use engine::testing::{BILL, provider, receiver};
use entity::webhook::{self, DeliveryTrigger, WebhookStatus};
use entity::webhook_provider;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::helpers::{Mode, TestEngine, webhook_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_requeues_lost_jobs_and_never_a_backlog() {
    // No worker runs: every submitted collection waits in the queue.
    let engine = TestEngine::start_with(Mode::Production, |w| {
        w.providers.providers = vec!["gas=http://127.0.0.1:9/gas".into()];
    })
    .await;
    let backlog = 300;
    for _ in 0..backlog {
        engine.submit(&["gas"], "http://127.0.0.1:9/hook").await;
    }
    // Recorded, but their process died before the push: never queued.
    let db = engine.db();
    let now = Utc::now();
    let lost: Vec<String> = (0..3).map(|_| ulid::Ulid::generate().to_string()).collect();
    for id in &lost {
        webhook::Entity::insert(webhook::ActiveModel {
            id: Set(id.clone()),
            callback_url: Set("http://127.0.0.1:9/hook".into()),
            status: Set(WebhookStatus::Collecting),
            outcome: Set(None),
            tenant_id: Set("default".into()),
            created_at: Set(now),
            deadline_at: Set(now + chrono::Duration::hours(1)),
            collected_at: Set(None),
            delivered_at: Set(None),
            updated_at: Set(now),
            payload: Set(None),
            delivery_attempts: Set(0),
            attempt_limit: Set(0),
            delivery_snoozes: Set(0),
            waiting_for: Set(None),
            waiting_on: Set(None),
            ordering_key: Set(None),
            traceparent: Set(None),
            delivery_trigger: Set(DeliveryTrigger::Scheduled),
            next_run_at: Set(None),
            claimed_by: Set(None),
            queued_task: Set(None),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    // Every one of them is long overdue.
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::NextRunAt,
            Expr::value(Some(now - chrono::Duration::hours(1))),
        )
        .exec(db)
        .await
        .unwrap();
    assert_eq!(engine.queued_tasks("collect").await, backlog);

    let requeued = Sweep::work(&engine.ctx).await.unwrap();
    assert_eq!(
        requeued,
        lost.len() as u64,
        "only the lost jobs are queued again"
    );
    assert_eq!(engine.queued_tasks("collect").await, backlog + lost.len());

    // Still overdue (nobody works them), but now all queued: nothing to do.
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::NextRunAt,
            Expr::value(Some(now - chrono::Duration::hours(1))),
        )
        .exec(db)
        .await
        .unwrap();
    assert_eq!(Sweep::work(&engine.ctx).await.unwrap(), 0);
    assert_eq!(engine.queued_tasks("collect").await, backlog + lost.len());
}

both_modes!(the_sweeper_queues_webhooks_whose_job_vanished);
async fn the_sweeper_queues_webhooks_whose_job_vanished(mode: Mode) {
    let (sources, hooks) = (
        provider(&["/gas", "/internet"], BILL, Duration::ZERO).await,
        receiver(200).await,
    );
    let engine = TestEngine::start_with(mode, |w| {
        webhook_settings(w, &sources);
        w.maintenance.sweep_interval = Duration::from_secs(1);
        w.maintenance.sweep_grace = Duration::from_secs(1);
    })
    .await;
    let _workers = engine.run_workers();
    // Recorded, but the process died before the push: its task was never queued.
    let now = Utc::now();
    let id = ulid::Ulid::generate().to_string();
    let db = engine.db();
    webhook::Entity::insert(webhook::ActiveModel {
        id: Set(id.clone()),
        callback_url: Set(hooks.uri()),
        status: Set(WebhookStatus::Collecting),
        outcome: Set(None),
        tenant_id: Set("default".into()),
        created_at: Set(now),
        deadline_at: Set(now + chrono::Duration::hours(1)),
        collected_at: Set(None),
        delivered_at: Set(None),
        updated_at: Set(now),
        payload: Set(None),
        delivery_attempts: Set(0),
        attempt_limit: Set(0),
        delivery_snoozes: Set(0),
        waiting_for: Set(None),
        waiting_on: Set(None),
        ordering_key: Set(None),
        traceparent: Set(None),
        delivery_trigger: Set(DeliveryTrigger::Scheduled),
        next_run_at: Set(Some(now - chrono::Duration::seconds(5))),
        claimed_by: Set(None),
        queued_task: Set(Some(ulid::Ulid::generate().to_string())),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    webhook_provider::Entity::insert(webhook_provider::ActiveModel {
        webhook_id: Set(id.clone()),
        provider: Set("gas".into()),
        position: Set(0),
        status: Set(webhook_provider::ProviderStatus::Pending),
        attempts: Set(0),
        last_error: Set(None),
        data: Set(None),
        fetched_at: Set(None),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    engine
        .webhook_in(&id, WebhookStatus::Delivered, Duration::from_secs(20))
        .await;
    assert_eq!(hooks.received_requests().await.unwrap().len(), 1);
}

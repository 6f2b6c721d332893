//! The sweeper tells a backlog from a lost job: it queues again only webhooks whose job is
//! truly gone, however many are overdue.

use chrono::Utc;
use engine::context::JobContext;
use engine::maintenance::sweep::Sweep;
use engine::periodic::Periodic;
use entity::webhook;
use redis::AsyncCommands;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;

use crate::helpers::{Mode, TestApp, redis_url};

/// Collect tasks in the app's Redis queue.
async fn queued_collections(app: &TestApp) -> usize {
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis
        .hlen(format!("{}:collect:data", app.config.store.redis_prefix))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_requeues_lost_jobs_and_never_a_backlog() {
    // No worker runs: every submitted collection waits in the queue.
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.worker.providers.providers = vec!["gas=http://127.0.0.1:9/gas".into()];
    })
    .await;
    let backlog = 300;
    let body = json!({"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"}).to_string();
    for _ in 0..backlog {
        assert_eq!(app.post_json("/v1/webhooks", &body).await.0, 202);
    }
    // Recorded, but their process died before the push: never queued.
    let db = app.db().await;
    let now = Utc::now();
    let lost: Vec<String> = (0..3).map(|_| ulid::Ulid::generate().to_string()).collect();
    for id in &lost {
        webhook::Entity::insert(webhook::ActiveModel {
            id: Set(id.clone()),
            callback_url: Set("http://127.0.0.1:9/hook".into()),
            status: Set(webhook::WebhookStatus::Collecting),
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
            delivery_trigger: Set("scheduled".into()),
            next_run_at: Set(None),
            claimed_by: Set(None),
            queued_task: Set(None),
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
    }
    // Every one of them is long overdue.
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::NextRunAt,
            Expr::value(Some(now - chrono::Duration::hours(1))),
        )
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(queued_collections(&app).await, backlog);

    let config = app.config.clone();
    let ctx = JobContext::connect(db, &config.store, config.worker.clone())
        .await
        .unwrap();
    let requeued = Sweep::work(&ctx).await.unwrap();
    assert_eq!(
        requeued,
        lost.len() as u64,
        "only the lost jobs are queued again"
    );
    assert_eq!(queued_collections(&app).await, backlog + lost.len());

    // Still overdue (nobody works them), but now all queued: nothing to do.
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::NextRunAt,
            Expr::value(Some(now - chrono::Duration::hours(1))),
        )
        .exec(&ctx.db)
        .await
        .unwrap();
    assert_eq!(Sweep::work(&ctx).await.unwrap(), 0);
    assert_eq!(queued_collections(&app).await, backlog + lost.len());
}

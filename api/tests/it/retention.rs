//! Retention: rows back-dated past their retention are removed by one prune run, the rest
//! stay, and a pruned webhook answers 404 like one that never existed.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use entity::{
    counter_flush, counter_rejection, delivery_attempt, maintenance_run, stream, stream_batch,
    webhook, webhook_provider,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_modes;
use crate::helpers::{Mode, TestApp};

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// Submits a webhook whose receiver answers `status`, and waits until it reaches `until`.
async fn finished_webhook(app: &TestApp, receiver: &MockServer, until: &str) -> String {
    let body = json!({"provider": "gas", "callbackUrl": receiver.uri()}).to_string();
    let (status, accepted) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, found) = app.get_json(&format!("/v1/webhooks/{id}")).await;
        if found["status"] == until {
            return id;
        }
        assert!(Instant::now() < deadline, "never {until}: {found}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

/// Moves webhook `id`'s last change `age` into the past.
async fn back_date_webhook(db: &DatabaseConnection, id: &str, age: TimeDelta) {
    webhook::Entity::update_many()
        .col_expr(webhook::Column::UpdatedAt, Expr::value(Utc::now() - age))
        .filter(webhook::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
}

async fn rows_of(db: &DatabaseConnection, id: &str) -> (u64, u64) {
    let providers = webhook_provider::Entity::find()
        .filter(webhook_provider::Column::WebhookId.eq(id))
        .count(db)
        .await
        .unwrap();
    let attempts = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::WebhookId.eq(id))
        .count(db)
        .await
        .unwrap();
    (providers, attempts)
}

both_modes!(one_prune_removes_what_is_past_its_retention);
async fn one_prune_removes_what_is_past_its_retention(mode: Mode) {
    let sources = MockServer::start().await;
    Mock::given(path("/gas"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[1]", "application/json"))
        .mount(&sources)
        .await;
    let app = TestApp::spawn_with(mode, |c| {
        c.worker.providers.providers = vec![format!("gas={}/gas", sources.uri())];
        c.worker.streams.stream_retention = 2;
    })
    .await;
    let _workers = app.workers();
    let db = app.db().await;
    let (taker, gone) = (receiver(200).await, receiver(410).await);

    // Webhooks: delivered 31 days ago (past RETENTION), delivered a day ago, parked 91
    // days ago (past PARKED_RETENTION), parked 31 days ago.
    let old_delivered = finished_webhook(&app, &taker, "delivered").await;
    let new_delivered = finished_webhook(&app, &taker, "delivered").await;
    let old_parked = finished_webhook(&app, &gone, "parked").await;
    let new_parked = finished_webhook(&app, &gone, "parked").await;
    back_date_webhook(&db, &old_delivered, days(31)).await;
    back_date_webhook(&db, &new_delivered, days(1)).await;
    back_date_webhook(&db, &old_parked, days(91)).await;
    back_date_webhook(&db, &new_parked, days(31)).await;
    assert_eq!(rows_of(&db, &old_delivered).await, (1, 1));

    // Counter flush and rejection records, maintenance runs: 8 days old and new.
    let now = Utc::now();
    for (name, age) in [("old", days(8)), ("new", TimeDelta::zero())] {
        counter_flush::Entity::insert(counter_flush::ActiveModel {
            batch_id: Set(format!("{name}-batch")),
            keys: Set(1),
            applied_at: Set(now - age),
            duration_ms: Set(1),
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
        counter_rejection::Entity::insert(counter_rejection::ActiveModel {
            batch_id: Set(format!("{name}-batch")),
            tenant_id: Set("default".to_owned()),
            key: Set(name.to_owned()),
            delta: Set(1),
            reason: Set("test".to_owned()),
            created_at: Set(now - age),
            ..Default::default()
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
        maintenance_run::Entity::insert(maintenance_run::ActiveModel {
            job: Set(format!("test-{name}")),
            slot: Set(1),
            claimed_by: Set("test".to_owned()),
            claimed_at: Set(now - age),
            finished_at: Set(None),
            executions: Set(0),
            items: Set(0),
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
    }

    // A stopped stream with five batches: only the oldest is complete, and it is kept.
    stream::Entity::insert(stream::ActiveModel {
        id: Set("s-retention".to_owned()),
        tenant_id: Set("default".to_owned()),
        provider: Set("gas".to_owned()),
        interval_seconds: Set(60),
        status: Set(stream::StreamStatus::Stopped),
        anchor_at: Set(0),
        next_run_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        stopped_at: Set(Some(now)),
    })
    .exec_without_returning(&db)
    .await
    .unwrap();
    for slot in 1..=5 {
        let status = if slot == 1 {
            stream_batch::BatchStatus::Complete
        } else {
            stream_batch::BatchStatus::Failed
        };
        stream_batch::Entity::insert(stream_batch::ActiveModel {
            stream_id: Set("s-retention".to_owned()),
            slot: Set(slot),
            status: Set(status),
            data: Set((slot == 1).then(|| "[1]".to_owned())),
            started_at: Set(now),
            finished_at: Set(Some(now)),
            ..Default::default()
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
    }

    let removed = engine::maintenance::prune::prune(&db, &app.config.worker, Utc::now())
        .await
        .unwrap();
    // Two webhooks with a provider row and an attempt each, one of each record, two
    // stream batches.
    assert_eq!(removed, 2 * 3 + 3 + 2);

    for (id, kept) in [
        (&old_delivered, false),
        (&new_delivered, true),
        (&old_parked, false),
        (&new_parked, true),
    ] {
        let (status, _) = app.get_json(&format!("/v1/webhooks/{id}")).await;
        assert_eq!(status, if kept { 200 } else { 404 }, "{id}");
        let rows = rows_of(&db, id).await;
        assert_eq!(rows, if kept { (1, 1) } else { (0, 0) }, "{id}");
    }
    let flushes: Vec<String> = counter_flush::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.batch_id)
        .collect();
    assert!(flushes.contains(&"new-batch".to_owned()));
    assert!(!flushes.contains(&"old-batch".to_owned()));
    let rejections = counter_rejection::Entity::find().all(&db).await.unwrap();
    assert_eq!(
        rejections
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );
    let runs = maintenance_run::Entity::find()
        .filter(maintenance_run::Column::Job.starts_with("test-"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(
        runs.iter().map(|r| r.job.as_str()).collect::<Vec<_>>(),
        ["test-new"]
    );
    let mut slots: Vec<i64> = stream_batch::Entity::find()
        .filter(stream_batch::Column::StreamId.eq("s-retention"))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.slot)
        .collect();
    slots.sort();
    assert_eq!(slots, [1, 4, 5], "the newest two and the latest complete");
    let (status, data) = app.get_json("/v1/streams/s-retention/data").await;
    assert_eq!(status, 200, "{data}");

    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"datahog_pruned_rows_total{table="webhooks"}"#),
        "{metrics}"
    );

    // Nothing is left past its retention: a second run removes nothing.
    let again = engine::maintenance::prune::prune(&db, &app.config.worker, Utc::now())
        .await
        .unwrap();
    assert_eq!(again, 0);
}

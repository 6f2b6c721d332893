//! Retention: rows back-dated past their retention are removed by one prune run, the rest
//! stay, and a pruned webhook is gone like one that never existed.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use engine::both_modes;
use engine::maintenance::prune::prune;
use engine::testing::{provider, receiver};
use entity::webhook::WebhookStatus;
use entity::{counter_flush, counter_rejection, maintenance_run, stream, stream_batch, webhook};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use wiremock::MockServer;

use crate::helpers::{Mode, TestEngine, rows_of};

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// Submits a webhook for `receiver`, and waits until it is `until`.
async fn finished_webhook(
    engine: &TestEngine,
    receiver: &MockServer,
    until: WebhookStatus,
) -> String {
    let id = engine.submit(&["gas"], &receiver.uri()).await;
    engine.webhook_in(&id, until, Duration::from_secs(20)).await;
    id
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

both_modes!(one_prune_removes_what_is_past_its_retention);
async fn one_prune_removes_what_is_past_its_retention(mode: Mode) {
    // Installed before the prune counts what it removed, as a process does at start.
    let metrics = engine::metrics::prometheus();
    let sources = provider(&["/gas"], "[1]", Duration::ZERO).await;
    let engine = TestEngine::start_with(mode, |w| {
        w.providers.providers = vec![format!("gas={}/gas", sources.uri())];
        w.streams.stream_retention = 2;
    })
    .await;
    let _workers = engine.run_workers();
    let db = engine.db();
    let (taker, gone) = (receiver(200).await, receiver(410).await);

    // Webhooks: delivered 31 days ago (past RETENTION), delivered a day ago, parked 91
    // days ago (past PARKED_RETENTION), parked 31 days ago.
    let old_delivered = finished_webhook(&engine, &taker, WebhookStatus::Delivered).await;
    let new_delivered = finished_webhook(&engine, &taker, WebhookStatus::Delivered).await;
    let old_parked = finished_webhook(&engine, &gone, WebhookStatus::Parked).await;
    let new_parked = finished_webhook(&engine, &gone, WebhookStatus::Parked).await;
    back_date_webhook(db, &old_delivered, days(31)).await;
    back_date_webhook(db, &new_delivered, days(1)).await;
    back_date_webhook(db, &old_parked, days(91)).await;
    back_date_webhook(db, &new_parked, days(31)).await;
    assert_eq!(rows_of(db, &old_delivered).await, (1, 1));

    // Counter flush and rejection records, maintenance runs: 8 days old and new.
    let now = Utc::now();
    for (name, age) in [("old", days(8)), ("new", TimeDelta::zero())] {
        counter_flush::Entity::insert(counter_flush::ActiveModel {
            batch_id: Set(format!("{name}-batch")),
            keys: Set(1),
            applied_at: Set(now - age),
            duration_ms: Set(1),
        })
        .exec_without_returning(db)
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
        .exec_without_returning(db)
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
        .exec_without_returning(db)
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
    .exec_without_returning(db)
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
        .exec_without_returning(db)
        .await
        .unwrap();
    }

    let removed = prune(db, &engine.worker, Utc::now()).await.unwrap();
    // Two webhooks with a provider row and an attempt each, one of each record, two
    // stream batches.
    assert_eq!(removed, 2 * 3 + 3 + 2);

    for (id, kept) in [
        (&old_delivered, false),
        (&new_delivered, true),
        (&old_parked, false),
        (&new_parked, true),
    ] {
        let found = webhook::Entity::find_by_id(id.as_str())
            .one(db)
            .await
            .unwrap();
        assert_eq!(found.is_some(), kept, "{id}");
        let rows = rows_of(db, id).await;
        assert_eq!(rows, if kept { (1, 1) } else { (0, 0) }, "{id}");
    }
    let flushes: Vec<String> = counter_flush::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.batch_id)
        .collect();
    assert!(flushes.contains(&"new-batch".to_owned()));
    assert!(!flushes.contains(&"old-batch".to_owned()));
    let rejections = counter_rejection::Entity::find().all(db).await.unwrap();
    assert_eq!(
        rejections
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );
    let runs = maintenance_run::Entity::find()
        .filter(maintenance_run::Column::Job.starts_with("test-"))
        .all(db)
        .await
        .unwrap();
    assert_eq!(
        runs.iter().map(|r| r.job.as_str()).collect::<Vec<_>>(),
        ["test-new"]
    );
    let mut slots: Vec<i64> = stream_batch::Entity::find()
        .filter(stream_batch::Column::StreamId.eq("s-retention"))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.slot)
        .collect();
    slots.sort();
    assert_eq!(slots, [1, 4, 5], "the newest two and the latest complete");
    // The stream stays, so its data (the latest complete batch, slot 1) can still be read.
    engine::streams::find(db, "s-retention", None)
        .await
        .expect("the stream is kept");

    let metrics = metrics.render();
    assert!(
        metrics.contains(r#"datahog_pruned_rows_total{table="webhooks"}"#),
        "{metrics}"
    );

    // Nothing is left past its retention: a second run removes nothing.
    let again = prune(db, &engine.worker, Utc::now()).await.unwrap();
    assert_eq!(again, 0);
}

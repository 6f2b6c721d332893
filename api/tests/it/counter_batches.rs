//! The counter flush reads the buffer in batches of at most `BATCH_KEYS` keys, and stays
//! exact when it stops between two of them.

use std::collections::BTreeMap;

use engine::counters::BATCH_KEYS;
use engine::counters::flush::{self, Applied};
use entity::counter;
use futures::StreamExt;
use sea_orm::EntityTrait;

use crate::both_modes;
use crate::helpers::{Mode, TestApp};

/// Buffers `delta` for `keys` distinct keys named `{prefix}-{i}`, straight into the buffer.
async fn buffer_keys(app: &TestApp, prefix: &str, keys: usize, delta: i64) {
    let buffer = app.counter_buffer().await;
    let failed = futures::stream::iter(0..keys)
        .map(|i| {
            let buffer = buffer.clone();
            async move {
                buffer
                    .increment("default", &format!("{prefix}-{i}"), delta)
                    .await
            }
        })
        .buffer_unordered(64)
        .filter(|result| std::future::ready(result.is_err()))
        .count()
        .await;
    assert_eq!(failed, 0);
}

both_modes!(a_large_buffer_is_flushed_in_bounded_batches_exactly_once);
async fn a_large_buffer_is_flushed_in_bounded_batches_exactly_once(mode: Mode) {
    let app = TestApp::spawn(mode).await;
    let keys = BATCH_KEYS * 2 + 500;
    buffer_keys(&app, "big", keys, 2).await;
    let (db, buffer) = (app.db().await, app.counter_buffer().await);

    // The first batch is applied, then the flusher dies before removing it; more
    // increments arrive meanwhile, some to keys still waiting in the snapshot.
    let first = buffer.take_batch(true).await.unwrap().expect("a batch");
    assert!(first.started && !first.leftover);
    assert!(
        first.deltas.len() <= BATCH_KEYS + 500,
        "{}",
        first.deltas.len()
    );
    assert!(matches!(
        flush::apply(&db, &first).await.unwrap(),
        Applied::Now { .. }
    ));
    buffer_keys(&app, "big", 100, 1).await;
    let (_, view) = app.get_json("/v1/counters/big-7").await;
    assert_eq!(
        view["value"], 3,
        "buffered, applied and snapshot parts, once each"
    );

    let flushed = flush::flush(&db, &buffer).await.unwrap();
    assert_eq!(flushed[0].batch_id, first.id);
    assert_eq!(flushed[0].applied, Applied::Before);
    assert!(flushed.len() >= 4, "{} batches", flushed.len());
    for batch in &flushed {
        if let Applied::Now { keys, .. } = &batch.applied {
            assert!(*keys <= BATCH_KEYS + 500, "{keys} keys in one batch");
        }
    }

    let totals: BTreeMap<String, i64> = counter::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.key, c.value))
        .collect();
    assert_eq!(totals.len(), keys);
    for i in 0..keys {
        let expected = if i < 100 { 3 } else { 2 };
        assert_eq!(totals[&format!("big-{i}")], expected, "big-{i}");
    }
    assert!(flush::flush(&db, &buffer).await.unwrap().is_empty());
}

//! The counter flush reads the buffer in batches of at most so many keys (`BATCH_KEYS`;
//! fewer here, so that a test buffers a few of them), and stays exact when it stops between
//! two of them.

use engine::both_modes;
use engine::counters::flush::{self, Applied};

use crate::helpers::{Mode, TestEngine};

/// The batches' size in these tests.
const BATCH_KEYS: usize = 2_000;

/// Buffers `delta` for `keys` distinct keys named `{prefix}-{i}`.
async fn buffer_keys(engine: &TestEngine, prefix: &str, keys: usize, delta: i64) {
    let increments: Vec<(String, i64)> = (0..keys)
        .map(|i| (format!("{prefix}-{i}"), delta))
        .collect();
    engine.buffer(&increments).await;
}

both_modes!(a_large_buffer_is_flushed_in_bounded_batches_exactly_once);
async fn a_large_buffer_is_flushed_in_bounded_batches_exactly_once(mode: Mode) {
    let engine = TestEngine::start(mode).await;
    let keys = BATCH_KEYS * 2 + 500;
    buffer_keys(&engine, "big", keys, 2).await;
    let db = engine.db();
    let buffer = &engine.ctx.counters.clone().with_batch_keys(BATCH_KEYS);

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
        flush::apply(db, &first).await.unwrap(),
        Applied::Now { .. }
    ));
    buffer_keys(&engine, "big", 100, 1).await;
    assert_eq!(
        engine.counter("big-7").await.value,
        3,
        "buffered, applied and snapshot parts, once each"
    );

    let flushed = flush::flush(db, buffer).await.unwrap();
    assert_eq!(flushed[0].batch_id, first.id);
    assert_eq!(flushed[0].applied, Applied::Before);
    assert!(flushed.len() >= 4, "{} batches", flushed.len());
    for batch in &flushed {
        if let Applied::Now { keys, .. } = &batch.applied {
            assert!(*keys <= BATCH_KEYS + 500, "{keys} keys in one batch");
        }
    }

    let totals = engine.persisted().await;
    assert_eq!(totals.len(), keys);
    for i in 0..keys {
        let expected = if i < 100 { 3 } else { 2 };
        assert_eq!(totals[&format!("big-{i}")], expected, "big-{i}");
    }
    assert!(flush::flush(db, buffer).await.unwrap().is_empty());
}

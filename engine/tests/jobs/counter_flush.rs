//! A counter flush stopped anywhere is finished by the next, and flushes running at once
//! count every increment once.

use engine::both_modes;
use engine::counters::flush;
use engine::testing::counter_workload;

use crate::helpers::{Mode, TestEngine};

both_modes!(a_flush_stopped_before_its_commit_is_finished_by_the_next);
async fn a_flush_stopped_before_its_commit_is_finished_by_the_next(mode: Mode) {
    let engine = TestEngine::start(mode).await;
    let (first, mut sums) = counter_workload("a", 300, 10);
    engine.buffer(&first).await;
    let buffer = &engine.ctx.counters;

    // Moved into a batch, then the flusher dies.
    let taken = buffer.take_batch(true).await.unwrap().expect("a batch");
    assert!(!taken.leftover);
    let (second, more) = counter_workload("b", 200, 10);
    engine.buffer(&second).await;
    sums.extend(more);

    let flushed = flush::flush(engine.db(), buffer).await.unwrap();
    assert_eq!(
        flushed.len(),
        2,
        "the leftover batch, then the pending increments"
    );
    assert_eq!(flushed[0].batch_id, taken.id);
    assert_eq!(engine.persisted().await, sums);
}

both_modes!(a_flush_stopped_after_its_commit_is_not_applied_twice);
async fn a_flush_stopped_after_its_commit_is_not_applied_twice(mode: Mode) {
    let engine = TestEngine::start(mode).await;
    let (increments, sums) = counter_workload("c", 300, 10);
    engine.buffer(&increments).await;
    let (db, buffer) = (engine.db(), &engine.ctx.counters);

    // Applied and committed, then the flusher dies before removing the batch.
    let batch = buffer.take_batch(true).await.unwrap().expect("a batch");
    assert!(matches!(
        flush::apply(db, &batch).await.unwrap(),
        flush::Applied::Now { .. }
    ));
    let view = engine.counter("c-1").await;
    assert_eq!(
        view.value, sums["c-1"],
        "the applied batch is not counted twice"
    );
    assert_eq!(view.pending, 0);

    let flushed = flush::flush(db, buffer).await.unwrap();
    assert_eq!(flushed[0].applied, flush::Applied::Before);
    assert_eq!(engine.persisted().await, sums);
}

both_modes!(two_flushes_at_once_count_once);
async fn two_flushes_at_once_count_once(mode: Mode) {
    let engine = TestEngine::start(mode).await;
    let (increments, sums) = counter_workload("d", 500, 20);
    engine.buffer(&increments).await;
    let (db, buffer) = (engine.db(), &engine.ctx.counters);
    let (one, two) = tokio::join!(flush::flush(db, buffer), flush::flush(db, buffer));
    one.unwrap();
    two.unwrap();
    assert_eq!(engine.persisted().await, sums);
}

//! Stream runs across worker processes: one fetch per slot however many workers run, no
//! replay of slots missed while none ran, and runs lost or abandoned by a worker repaired.

use std::time::{Duration, Instant};

use engine::tenants::DEFAULT_TENANT;
use engine::testing::{BILL, provider};
use entity::stream;
use entity::stream_batch::{self, BatchStatus};
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::helpers::{Mode, TestEngine};

/// An engine in production mode whose `gas` provider is `server`, then `tweak`ed.
async fn start(
    server: &wiremock::MockServer,
    tweak: impl FnOnce(&mut engine::config::WorkerConfig),
) -> TestEngine {
    let providers = vec![format!("gas={}/gas", server.uri())];
    TestEngine::start_with(Mode::Production, move |w| {
        w.providers.providers = providers;
        tweak(w);
    })
    .await
}

fn complete(batches: &[stream_batch::Model]) -> usize {
    batches
        .iter()
        .filter(|b| b.status == BatchStatus::Complete)
        .count()
}

/// Waits until stream `id` has `n` complete batches; all its batches, newest first.
async fn until_batches(
    engine: &TestEngine,
    id: &str,
    n: usize,
    deadline: Duration,
) -> Vec<stream_batch::Model> {
    let until = Instant::now() + deadline;
    loop {
        let found = engine.batches(id).await;
        if complete(&found) >= n {
            return found;
        }
        assert!(
            Instant::now() < until,
            "only {} complete batches: {found:?}",
            complete(&found)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stream of `gas` every `interval` seconds, started now; its id.
async fn create(engine: &TestEngine, interval: i64) -> String {
    let ctx = &engine.ctx;
    engine::streams::create(&ctx.db, &ctx.queue, DEFAULT_TENANT, "gas", interval)
        .await
        .expect("a new stream")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_make_one_fetch_per_slot_and_a_restarted_worker_carries_on() {
    let server = provider(&["/gas"], BILL, Duration::ZERO).await;
    let engine = start(&server, |_| {}).await;
    let first = engine.spawn_worker();
    let second = engine.spawn_worker();
    let id = create(&engine, 1).await;
    let found = until_batches(&engine, &id, 4, Duration::from_secs(20)).await;
    let requests = server.received_requests().await.unwrap().len();
    assert!(
        requests <= found.len() + 1,
        "{requests} fetches for {} runs",
        found.len()
    );

    // Both stop between slots; one comes back after several slots went by.
    drop(first);
    drop(second);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = engine.batches(&id).await;
    let back = Instant::now();
    let _third = engine.spawn_worker();
    let after = until_batches(&engine, &id, complete(&before) + 3, Duration::from_secs(20)).await;
    let new: Vec<i64> = after
        .iter()
        .map(|b| b.slot)
        .filter(|s| !before.iter().any(|b| b.slot == *s))
        .collect();
    let elapsed = back.elapsed().as_secs() as usize;
    assert!(
        new.len() <= elapsed + 2,
        "missed slots are not replayed: {} runs in {elapsed} s",
        new.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_re_arms_a_stream_whose_run_vanished() {
    let server = provider(&["/gas"], BILL, Duration::ZERO).await;
    let engine = start(&server, |w| {
        w.maintenance.sweep_interval = Duration::from_secs(1);
        w.maintenance.sweep_grace = Duration::from_secs(1);
    })
    .await;
    let _workers = engine.run_workers();
    let now = chrono::Utc::now();
    let id = ulid::Ulid::generate().to_string();
    stream::Entity::insert(stream::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set("default".into()),
        provider: Set("gas".into()),
        interval_seconds: Set(60),
        status: Set(stream::StreamStatus::Active),
        anchor_at: Set(now.timestamp() - 600),
        next_run_at: Set(Some(now.timestamp() - 120)),
        created_at: Set(now),
        updated_at: Set(now),
        stopped_at: Set(None),
    })
    .exec_without_returning(engine.db())
    .await
    .unwrap();
    let found = until_batches(&engine, &id, 1, Duration::from_secs(20)).await;
    assert_eq!(
        found.len(),
        1,
        "one run for the missed slots, not ten: {found:?}"
    );
    let shown = engine::streams::find(engine.db(), &id, None).await.unwrap();
    assert!(shown.next_run_at.is_some(), "{shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_died_mid_way_is_finished_as_failed_and_the_stream_goes_on() {
    let server = provider(&["/gas"], BILL, Duration::ZERO).await;
    let engine = start(&server, |w| {
        w.maintenance.sweep_interval = Duration::from_secs(1);
        w.maintenance.sweep_grace = Duration::from_secs(1);
        w.worker_job_timeout = Duration::from_secs(5);
    })
    .await;
    let _workers = engine.run_workers();
    // Its worker died while calling the provider: the batch is left running, the next
    // run's job lost with it.
    let now = chrono::Utc::now();
    let id = ulid::Ulid::generate().to_string();
    let anchor = now.timestamp() - 600;
    let db = engine.db();
    stream::Entity::insert(stream::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set("default".into()),
        provider: Set("gas".into()),
        interval_seconds: Set(60),
        status: Set(stream::StreamStatus::Active),
        anchor_at: Set(anchor),
        next_run_at: Set(Some(anchor + 540)),
        created_at: Set(now),
        updated_at: Set(now),
        stopped_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    stream_batch::Entity::insert(stream_batch::ActiveModel {
        stream_id: Set(id.clone()),
        slot: Set(anchor + 480),
        status: Set(BatchStatus::Running),
        started_at: Set(now - chrono::Duration::seconds(60)),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await
    .unwrap();

    let until = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found = engine.batches(&id).await;
        if complete(&found) >= 1 && found.iter().all(|b| b.status != BatchStatus::Running) {
            break found;
        }
        assert!(Instant::now() < until, "the stuck run stayed: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let statuses: Vec<BatchStatus> = found.iter().map(|b| b.status).collect();
    assert_eq!(
        statuses,
        [BatchStatus::Complete, BatchStatus::Failed],
        "{found:?}"
    );
    assert!(
        found[1]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("worker died"),
        "{found:?}"
    );
}

//! A backlog of due tasks bigger than apalis-redis's fetch script can promote at once (it
//! unpacks every due id in one Lua call, which fails above ~8,000) does not wedge a queue:
//! the worker moves due tasks to the ready list in bounded chunks, so a collection queued
//! behind 12,000 due tasks is still collected and delivered. The ready list holds at most
//! `READY_HIGH_WATER` tasks and is refilled half latest due first, so a new collection does not
//! wait behind a whole backlog.

use std::time::Duration;

use engine::queue::Queue;
use engine::testing::{
    BILL, Settings, eventually, fresh_postgres_database, provider, receiver, redis_url, unique_name,
};
use engine::webhooks::Collect;
use entity::webhook;
use entity::webhook::WebhookStatus;
use futures::StreamExt;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{submit_one, worker_command};

/// More due tasks than one Lua `unpack` takes.
const BACKLOG: usize = 12_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_due_tasks_beyond_one_unpack_does_not_wedge_the_collect_queue() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let providers = provider(&["/gas"], BILL, Duration::ZERO).await;
    let receiver = receiver(200).await;
    let (_, _, queue) = stores(&database_url, &prefix).await;
    // Collections of webhooks that do not exist: each finds nothing to claim. All are due
    // at once, as an outage's waiting collections are at the probe time.
    let pushes = (0..BACKLOG).map(|i| {
        let queue = queue.clone();
        async move {
            let job = Collect {
                webhook_id: format!("missing-{i}"),
                tenant_id: None,
            };
            queue.push_as(job, Queue::task_id(), None).await.unwrap();
        }
    });
    futures::stream::iter(pushes)
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let id = submit_one(&database_url, &redis_url(), &prefix, "gas", &receiver.uri()).await;

    let mut worker = worker_command(&database_url, &redis_url(), &prefix)
        .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
        .env("CALLBACK_ALLOW_PRIVATE", "true")
        .env("WEBHOOK_CONCURRENCY", "64")
        .spawn()
        .expect("start the worker binary");
    let db = Database::connect(&database_url).await.unwrap();
    let delivered = eventually(Duration::from_secs(120), async || {
        webhook::Entity::find_by_id(&id)
            .one(&db)
            .await
            .unwrap()
            .is_some_and(|w| w.status == WebhookStatus::Delivered)
    })
    .await;
    super::terminate(&mut worker).await;
    assert!(delivered, "the collection behind the backlog was delivered");
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

/// The settings of a test process on this database and prefix, its database and its queue.
async fn stores(database_url: &str, prefix: &str) -> (Settings, DatabaseConnection, Queue) {
    let settings = Settings::on(database_url, Some(&redis_url()), prefix);
    let (db, queue) = super::connect_stores(&settings).await;
    (settings, db, queue)
}

/// Submits `n` collections of `gas` for `callback`, as the api would; their ids.
async fn submit_many(
    settings: &Settings,
    db: &DatabaseConnection,
    queue: &Queue,
    n: usize,
    callback: &str,
) -> Vec<String> {
    let submissions = (0..n).map(|_| {
        let webhooks = &settings.worker.webhooks;
        async move { engine::testing::submit(db, queue, webhooks, &["gas"], callback).await }
    });
    futures::stream::iter(submissions)
        .buffer_unordered(32)
        .collect()
        .await
}

/// Once `started` of a `backlog` of collections are delivered, submits one more and waits
/// for its delivery: whether it was delivered, and how many of the backlog still waited then.
async fn one_more_while_draining(
    settings: &Settings,
    db: &DatabaseConnection,
    queue: &Queue,
    callback: &str,
    backlog: usize,
    started: usize,
) -> (bool, usize) {
    let delivered = async || {
        webhook::Entity::find()
            .filter(webhook::Column::Status.eq(WebhookStatus::Delivered))
            .count(db)
            .await
            .unwrap() as usize
    };
    assert!(
        eventually(Duration::from_secs(60), async || delivered().await
            >= started)
        .await,
        "the backlog started to drain"
    );
    let webhooks = &settings.worker.webhooks;
    let fresh = engine::testing::submit(db, queue, webhooks, &["gas"], callback).await;
    let fresh_delivered = eventually(Duration::from_secs(120), async || {
        webhook::Entity::find_by_id(&fresh)
            .one(db)
            .await
            .unwrap()
            .is_some_and(|w| w.status == WebhookStatus::Delivered)
    })
    .await;
    let waiting = backlog.saturating_sub(delivered().await.saturating_sub(1));
    (fresh_delivered, waiting)
}

/// Collections due at once, more than the ready list holds: the rest wait in the backlog.
const SLOW_BACKLOG: usize = 4_000;

/// A collection submitted while a backlog drains is taken among the freshest as the ready
/// list refills: it is delivered while most of the backlog still waits, not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_collection_overtakes_a_draining_backlog() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    // Each collection takes a provider call of 100 ms: the backlog drains for seconds.
    let providers = provider(&["/gas"], BILL, Duration::from_millis(100)).await;
    let receiver = receiver(200).await;
    let (settings, db, queue) = stores(&database_url, &prefix).await;
    let backlog = submit_many(&settings, &db, &queue, SLOW_BACKLOG, &receiver.uri()).await;

    let mut worker = worker_command(&database_url, &redis_url(), &prefix)
        .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
        .env("CALLBACK_ALLOW_PRIVATE", "true")
        .env("WEBHOOK_CONCURRENCY", "64")
        .spawn()
        .expect("start the worker binary");
    let (fresh_delivered, waiting) =
        one_more_while_draining(&settings, &db, &queue, &receiver.uri(), SLOW_BACKLOG, 100).await;
    super::terminate(&mut worker).await;
    assert!(fresh_delivered, "the fresh collection was delivered");
    assert_eq!(backlog.len(), SLOW_BACKLOG);
    // First in, first out would deliver it after the whole backlog.
    assert!(
        waiting >= SLOW_BACKLOG / 4,
        "only {waiting} of {SLOW_BACKLOG} backlogged collections were still waiting when the fresh one was delivered"
    );
}

/// Collections left waiting by a provider outage.
const OUTAGE_BACKLOG: usize = 3_000;

/// A worker whose provider `gas` (the mock `providers`) has been down long enough for
/// `OUTAGE_BACKLOG` collections to run once and wait for it, with `cooldown` between
/// probes; the provider is then back, answering after `delay`.
async fn outage_backlog(
    (database_url, prefix): (&str, &str),
    (settings, db, queue): &(Settings, DatabaseConnection, Queue),
    providers: &MockServer,
    callback: &str,
    cooldown: &str,
    delay: Duration,
) -> tokio::process::Child {
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(providers)
        .await;
    let worker = worker_command(database_url, &redis_url(), prefix)
        .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
        .env("CALLBACK_ALLOW_PRIVATE", "true")
        .env("WEBHOOK_CONCURRENCY", "64")
        .env("PROVIDER_COOLDOWN_MIN", cooldown)
        .env("PROVIDER_COOLDOWN_MAX", cooldown)
        .spawn()
        .expect("start the worker binary");
    submit_many(settings, db, queue, OUTAGE_BACKLOG, callback).await;
    // Each ran once and handed its lease back to wait.
    let first_runs_done = async || {
        let snoozed = webhook::Entity::find()
            .filter(webhook::Column::ClaimedBy.is_null())
            .filter(Expr::col(webhook::Column::UpdatedAt).gt(Expr::col(webhook::Column::CreatedAt)))
            .count(db)
            .await
            .unwrap();
        snoozed as usize == OUTAGE_BACKLOG
    };
    assert!(
        eventually(Duration::from_secs(90), first_runs_done).await,
        "every collection ran once and waits for the provider"
    );
    providers.reset().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(BILL, "application/json")
                .set_delay(delay),
        )
        .mount(providers)
        .await;
    worker
}

/// After an outage of a provider probed every `cooldown` that answers in `delay` once back,
/// one more collection is submitted once `started` of the backlog are delivered: how many
/// of the backlog still waited when it was delivered (it must be).
async fn waiting_when_one_more_is_delivered(
    cooldown: &str,
    delay: Duration,
    started: usize,
) -> usize {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let providers = MockServer::start().await;
    let receiver = receiver(200).await;
    let stores = stores(&database_url, &prefix).await;
    let (settings, db, queue) = &stores;
    let mut worker = outage_backlog(
        (&database_url, &prefix),
        &stores,
        &providers,
        &receiver.uri(),
        cooldown,
        delay,
    )
    .await;
    let (fresh_delivered, waiting) = one_more_while_draining(
        settings,
        db,
        queue,
        &receiver.uri(),
        OUTAGE_BACKLOG,
        started,
    )
    .await;
    super::terminate(&mut worker).await;
    assert!(fresh_delivered, "the new collection was delivered");
    waiting
}

/// The collections an outage leaves waiting come back through their own queue, so once
/// the provider is back a new submission is collected at once, not behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_collection_is_not_queued_behind_an_outage_backlog() {
    // Back, but slow: the backlog drains for 20 s or more.
    let waiting = waiting_when_one_more_is_delivered("1s", Duration::from_millis(500), 50).await;
    // Behind the backlog, it would have waited for the 1,000 tasks the ready list holds.
    assert!(
        waiting >= OUTAGE_BACKLOG - 500,
        "only {waiting} of {OUTAGE_BACKLOG} waiting collections were left when the new one was delivered"
    );
}

/// A collection submitted when the provider is back but before its next probe waits for
/// that probe with the whole backlog, all due at one instant; once the probe succeeds it
/// is taken first (the latest submitted first among tasks due together), and goes at once
/// (jobs arriving during the probe wait for its outcome, not for a whole probe lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_submitted_before_the_probe_goes_first_once_it_succeeds() {
    // A cool-down long enough for the whole backlog to wait for one probe.
    let waiting = waiting_when_one_more_is_delivered("15s", Duration::from_millis(200), 0).await;
    // At a random place in the backlog it would wait for half of it, on average.
    assert!(
        waiting >= OUTAGE_BACKLOG - 300,
        "only {waiting} of {OUTAGE_BACKLOG} waiting collections were left when the new one was delivered"
    );
}

/// Callbacks held while their receiver is down.
const HELD_CALLBACKS: usize = 2_000;

/// Callbacks waiting on a receiver that is down do not wedge the deliver queue: once it is
/// back, every one is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_held_for_a_down_receiver_are_all_delivered_once_it_is_back() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let providers = provider(&["/gas"], BILL, Duration::ZERO).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&receiver)
        .await;
    let (settings, db, queue) = stores(&database_url, &prefix).await;
    submit_many(&settings, &db, &queue, HELD_CALLBACKS, &receiver.uri()).await;

    let mut worker = worker_command(&database_url, &redis_url(), &prefix)
        .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
        .env("CALLBACK_ALLOW_PRIVATE", "true")
        .env("WEBHOOK_CONCURRENCY", "64")
        // Attempts enough to outlast the outage; the circuit holds the rest without any.
        .env("DELIVERY_SCHEDULE", "0s,1s,1s,1s,1s,1s,1s,1s,1s,1s")
        .env("RECEIVER_COOLDOWN_MIN", "1s")
        .env("RECEIVER_COOLDOWN_MAX", "2s")
        .spawn()
        .expect("start the worker binary");
    let count = async |status: WebhookStatus| {
        webhook::Entity::find()
            .filter(webhook::Column::Status.eq(status))
            .count(&db)
            .await
            .unwrap() as usize
    };
    // Every collection done: the callbacks wait on the receiver.
    let held = eventually(Duration::from_secs(120), async || {
        count(WebhookStatus::Collecting).await == 0
    })
    .await;
    assert!(held, "every collection ended");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = receiver.received_requests().await.unwrap().len();

    receiver.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let delivered = eventually(Duration::from_secs(180), async || {
        count(WebhookStatus::Delivered).await == HELD_CALLBACKS
    })
    .await;
    let parked = count(WebhookStatus::Parked).await;
    super::terminate(&mut worker).await;
    assert!(
        delivered,
        "{} of {HELD_CALLBACKS} delivered, {parked} parked",
        count(WebhookStatus::Delivered).await
    );
    // The circuit held them: far fewer POSTs than callbacks reached the receiver while down.
    assert!(refused < HELD_CALLBACKS / 2, "{refused} POSTs while down");
    let accepted = receiver.received_requests().await.unwrap();
    let ids: std::collections::HashSet<String> = accepted
        .iter()
        .filter_map(|r| r.headers.get("webhook-id"))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), HELD_CALLBACKS, "each callback was delivered");
    assert_eq!(accepted.len(), HELD_CALLBACKS, "and exactly once");
}

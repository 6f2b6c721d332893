//! A backlog of due tasks bigger than apalis-redis's fetch script can promote at once (it
//! unpacks every due id in one Lua call, which fails above ~8,000) does not wedge a queue:
//! the worker moves due tasks to the ready list in bounded chunks, so a collection queued
//! behind 12,000 due tasks is still collected and delivered.

use std::time::Duration;

use engine::queue::Queue;
use engine::testing::{
    BILL, Settings, eventually, fresh_postgres_database, provider, receiver, redis_url, unique_name,
};
use engine::webhooks::Collect;
use entity::webhook;
use entity::webhook::WebhookStatus;
use futures::StreamExt;
use sea_orm::{Database, EntityTrait};

use super::{submit_one, worker_command};

/// More due tasks than one Lua `unpack` takes.
const BACKLOG: usize = 12_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_due_tasks_beyond_one_unpack_does_not_wedge_the_collect_queue() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let providers = provider(&["/gas"], BILL, Duration::ZERO).await;
    let receiver = receiver(200).await;
    let settings = Settings::on(&database_url, Some(&redis_url()), &prefix);
    let queue = Queue::connect(&settings.store, &settings.worker)
        .await
        .unwrap();
    // Collections of webhooks that do not exist: each finds nothing to claim. All are due
    // at once, as an outage's waiting collections are at the probe time.
    let pushes = (0..BACKLOG).map(|i| {
        let queue = queue.clone();
        async move {
            let job = Collect {
                webhook_id: format!("missing-{i}"),
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

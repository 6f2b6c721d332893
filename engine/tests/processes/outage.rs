//! A Redis outage in the middle of work: the worker process waits it out, reports it, and
//! finishes the work itself once Redis is back; no supervisor needed.

use std::time::Duration;

use engine::testing::{
    BILL, Proxy, eventually, fresh_postgres_database, host_port, provider, receiver, redis_url,
    unique_name,
};
use entity::webhook;
use sea_orm::{Database, EntityTrait};

use super::{submit_one, terminate, worker_command};

/// The worker's `datahog_dependency_up` line for `dependency`, if it reports one.
async fn dependency_up(metrics: &str, dependency: &str) -> Option<String> {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!(r#"datahog_dependency_up{{dependency="{dependency}"}} "#);
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_waits_out_a_redis_outage_and_finishes_its_work() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let proxy = Proxy::start(host_port(&redis_url())).await;
    let redis_through_proxy = format!("redis://{}/", proxy.addr);
    let providers = provider(&["/gas"], BILL, Duration::from_secs(2)).await;
    let receiver = receiver(200).await;
    let metrics = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut worker = worker_command(&database_url, &redis_through_proxy, &prefix)
        .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
        .env("CALLBACK_ALLOW_PRIVATE", "true")
        .env("WORKER_MISSED_HEARTBEATS", "2")
        .env("SWEEP_INTERVAL", "1s")
        .env("SWEEP_GRACE", "2s")
        .env("METRICS_LISTEN", metrics.to_string())
        .spawn()
        .expect("start the worker binary");

    let id = submit_one(&database_url, &redis_url(), &prefix, "gas", &receiver.uri()).await;
    let fetching = eventually(Duration::from_secs(30), async || {
        !providers.received_requests().await.unwrap().is_empty()
    })
    .await;
    assert!(fetching, "the worker called the provider");

    // Redis goes away while the collection waits on the provider.
    proxy.cut();
    let seen_down = eventually(Duration::from_secs(30), async || {
        dependency_up(&metrics.to_string(), "redis")
            .await
            .as_deref()
            == Some("0")
    })
    .await;
    assert!(seen_down, "the worker reports Redis down");
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is still running during the outage"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is still running during the outage"
    );

    proxy.restore().await;
    let reader = Database::connect(&database_url).await.unwrap();
    let delivered = eventually(Duration::from_secs(90), async || {
        let row = webhook::Entity::find_by_id(&id).one(&reader).await;
        row.ok()
            .flatten()
            .is_some_and(|w| w.status == webhook::WebhookStatus::Delivered)
    })
    .await;
    assert!(
        delivered,
        "the same worker finished the webhook after the outage"
    );
    assert_eq!(
        dependency_up(&metrics.to_string(), "redis")
            .await
            .as_deref(),
        Some("1"),
        "the worker reports Redis up again"
    );
    let calls = receiver.received_requests().await.unwrap();
    assert!(!calls.is_empty(), "the receiver got the callback");
    assert!(
        calls.iter().all(|c| c.headers["webhook-id"] == id.as_str()),
        "every callback is this webhook's"
    );
    assert!(
        terminate(&mut worker).await.success(),
        "a clean exit on SIGTERM after the outage"
    );
}

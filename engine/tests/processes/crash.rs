//! Workers killed in the middle of their work: another worker process finishes it, and
//! the recorded history never has fewer attempts than the receiver saw.

use std::time::Duration;

use engine::testing::{
    BILL, eventually, fresh_postgres_database, provider, receiver, redis_url, unique_name,
};
use entity::delivery_attempt::{self, AttemptStatus};
use entity::webhook;
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter, QueryOrder};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use super::{submit_one, worker_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_cut_short_by_a_killed_worker_is_finished_by_another() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let providers = provider(&["/gas"], BILL, Duration::from_secs(2)).await;
    let receiver = receiver(200).await;
    let start = || {
        worker_command(&database_url, &redis_url(), &prefix)
            .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
            .env("CALLBACK_ALLOW_PRIVATE", "true")
            .env("WORKER_MISSED_HEARTBEATS", "2")
            .spawn()
            .expect("start the worker binary")
    };
    let mut first = start();

    let id = submit_one(&database_url, &redis_url(), &prefix, "gas", &receiver.uri()).await;

    // The first worker is waiting on the provider: kill it there.
    let fetching = eventually(Duration::from_secs(30), async || {
        !providers.received_requests().await.unwrap().is_empty()
    })
    .await;
    assert!(fetching, "the first worker called the provider");
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    let metrics_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut second = worker_command(&database_url, &redis_url(), &prefix)
        .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
        .env("CALLBACK_ALLOW_PRIVATE", "true")
        .env("METRICS_LISTEN", metrics_addr.to_string())
        .spawn()
        .expect("start the worker binary");
    let reader = Database::connect(&database_url).await.unwrap();
    let delivered = eventually(Duration::from_secs(60), async || {
        let row = webhook::Entity::find_by_id(&id).one(&reader).await;
        row.ok()
            .flatten()
            .is_some_and(|w| w.status == webhook::WebhookStatus::Delivered)
    })
    .await;
    assert!(delivered, "the second worker finished the webhook");
    let calls = receiver.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1, "one callback");
    assert_eq!(calls[0].headers["webhook-id"], id.as_str());
    // The second worker counted what it did, on its metrics listener.
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"datahog_delivery_attempts_total{result="delivered"} 1"#),
        "{metrics}"
    );
    second.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_during_its_post_leaves_the_attempt_counted() {
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let providers = provider(&["/gas"], BILL, Duration::ZERO).await;
    // The first POST is held long enough to kill its worker before it hears back.
    let receiver = receiver(200).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    let start = || {
        worker_command(&database_url, &redis_url(), &prefix)
            .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
            .env("CALLBACK_ALLOW_PRIVATE", "true")
            .env("WORKER_MISSED_HEARTBEATS", "2")
            .spawn()
            .expect("start the worker binary")
    };
    let mut first = start();
    let id = submit_one(&database_url, &redis_url(), &prefix, "gas", &receiver.uri()).await;
    let posting = eventually(Duration::from_secs(30), async || {
        !receiver.received_requests().await.unwrap().is_empty()
    })
    .await;
    assert!(posting, "the first worker POSTed the callback");
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    let reader = Database::connect(&database_url).await.unwrap();
    let recorded = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::WebhookId.eq(&id))
        .all(&reader)
        .await
        .unwrap();
    assert_eq!(
        recorded.len(),
        1,
        "the attempt was recorded before its POST"
    );
    assert_eq!(recorded[0].status, AttemptStatus::InFlight);

    // Another worker recovers the killed one's task: the same task id claims the webhook
    // again, and must make (and record) a new attempt.
    let mut second = start();
    let delivered = eventually(Duration::from_secs(60), async || {
        let row = webhook::Entity::find_by_id(&id).one(&reader).await;
        row.ok()
            .flatten()
            .is_some_and(|w| w.status == webhook::WebhookStatus::Delivered)
    })
    .await;
    assert!(delivered, "the second worker delivered the webhook");
    let posts = receiver.received_requests().await.unwrap();
    assert!(
        posts.iter().all(|p| p.headers["webhook-id"] == id.as_str()),
        "every POST carries the webhook's id"
    );
    let attempts = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::WebhookId.eq(&id))
        .order_by_asc(delivery_attempt::Column::Number)
        .all(&reader)
        .await
        .unwrap();
    assert_eq!(
        attempts.len(),
        posts.len(),
        "one recorded attempt per POST the receiver saw: {attempts:?}"
    );
    let statuses: Vec<AttemptStatus> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [AttemptStatus::Unknown, AttemptStatus::Completed],
        "{attempts:?}"
    );
    assert_eq!(attempts[1].status_code, Some(200));
    let webhook = webhook::Entity::find_by_id(&id)
        .one(&reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(webhook.delivery_attempts, 2);
    second.start_kill().unwrap();
}

//! A Redis restart: the api's connection to it is replaced before a request needs it.

use std::time::Duration;

use engine::testing::{eventually, receiver};

use crate::helpers::{Mode, PrivateRedis, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_submission_after_a_redis_restart_is_accepted() {
    let mut redis = PrivateRedis::start(&[]);
    let url = redis.url.clone();
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.store.redis_url = Some(url.into());
    })
    .await;
    let hooks = receiver(200).await;
    let body =
        serde_json::json!({"provider": "gas", "callbackUrl": format!("{}/hook", hooks.uri())})
            .to_string();
    let (status, answer) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{answer}");

    redis.restart().await;
    // At once, no request in between: before the dependency probe's next ping, the
    // connection must already be a new one.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, answer) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(
        status, 202,
        "the first submission after the restart: {answer}"
    );
    let ready = eventually(Duration::from_secs(5), async || {
        app.get_json("/ready").await.0 == 200
    })
    .await;
    assert!(ready, "ready after the restart");
}

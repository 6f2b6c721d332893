//! Redis's persistence settings, as `/ready` and `/metrics` report them: a Redis without an
//! append-only file loses acknowledged work on a restart.

use std::time::Duration;

use engine::testing::eventually;

use crate::helpers::{Mode, PrivateRedis, TestApp};

/// What `/ready` says of Redis's durability, once ready.
async fn durability_of(app: &TestApp) -> serde_json::Value {
    let ready = eventually(Duration::from_secs(10), async || {
        app.get_json("/ready").await.0 == 200
    })
    .await;
    assert!(ready, "never ready");
    app.get_json("/ready").await.1["redisDurability"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_can_lose_acknowledged_work_is_reported() {
    // The test Redis runs without an append-only file.
    let app = TestApp::spawn(Mode::Production).await;
    assert_eq!(durability_of(&app).await, "at_risk");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"datahog_redis_durability{state="at_risk"} 1"#),
        "{metrics}"
    );

    let durable = PrivateRedis::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let url = durable.url.clone();
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.store.redis_url = Some(url.into());
    })
    .await;
    assert_eq!(durability_of(&app).await, "durable");

    // Embedded: no Redis, nothing to report.
    let embedded = TestApp::spawn(Mode::Embedded).await;
    let (_, body) = embedded.get_json("/ready").await;
    assert!(body.get("redisDurability").is_none(), "{body}");
}

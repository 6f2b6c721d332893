//! Redis's persistence settings, as `/ready` and `/metrics` report them: a Redis without an
//! append-only file loses acknowledged work on a restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use engine::testing::eventually;

use crate::helpers::{Mode, TestApp};

/// A `redis-server` of this test's own, on a free loopback port; killed when dropped.
struct PrivateRedis {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start(args: &[&str]) -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a data directory");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        PrivateRedis {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            _dir: dir,
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

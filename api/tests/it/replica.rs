//! Vehicle lookups and the read-only lists read a streaming replica
//! (`DATABASE_REPLICA_URL`): they go on answering while the primary is stopped, and the
//! replica's lag is a metric. Against a primary and a
//! replica of the test's own (scripts/test starts them with `pg_basebackup -R`), since the
//! test stops that primary.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::{Mode, TestApp};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} must name the replica pair's primary and replica: run the tests with scripts/test")
    })
}

/// Runs a shell command the test script prepared (stopping or starting the primary).
fn run(command: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .expect("sh");
    assert!(status.success(), "`{command}` failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_lists_read_the_replica_and_answer_while_the_primary_is_stopped() {
    let (primary, replica) = (env("REPLICA_PRIMARY_URL"), env("REPLICA_URL"));
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.store.database_url = primary.into();
        c.store.database_replica_url = Some(replica.into());
    })
    .await;

    // The migrations ran on the primary; the replica has them a moment later.
    let lookup = "/v1/vehicles/3/state?at=2022-09-12T13:00:00Z";
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get_json(lookup).await;
        if status == 200 {
            assert_eq!(body["state"], "sold", "{body}");
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the replica never answered: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = app.get_text("/metrics").await;
    let lag = metrics
        .lines()
        .find(|l| l.starts_with("datahog_database_replica_lag_seconds "))
        .unwrap_or_else(|| panic!("no replica lag in {metrics}"));
    let seconds: f64 = lag.rsplit(' ').next().unwrap().parse().expect("a number");
    assert!((0.0..60.0).contains(&seconds), "{lag}");

    // The read-only lists read the replica too: a webhook submitted on the primary is
    // listed once the replica replayed it, and still while the primary is stopped. No worker
    // runs, so nothing is fetched for it and nothing sent.
    let hook = r#"{"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"}"#;
    let (status, accepted) = app.post_json("/v1/webhooks", hook).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().expect("an id").to_owned();
    let listed = |body: &serde_json::Value| {
        body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|w| w["id"] == id.as_str()))
    };
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get_json("/v1/webhooks").await;
        if status == 200 && listed(&body) {
            break;
        }
        assert!(Instant::now() < give_up, "never listed: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    run(&env("REPLICA_PRIMARY_STOP"));
    let lists = [
        app.get_json("/v1/webhooks").await,
        app.get_json("/v1/streams").await,
        app.get_json("/v1/counters").await,
    ];
    // Instants not asked before, so no cache answers for the database.
    let cases = [
        ("/v1/vehicles/1/state?at=2022-09-10T12:00:00Z", "quoted"),
        ("/v1/vehicles/2/state?at=2022-09-11T18:00:00Z", "selling"),
        ("/v1/vehicles/3/state?at=2022-09-11T10:00:00Z", "quoted"),
    ];
    let mut answers = Vec::new();
    for (path, state) in cases {
        let (status, body) = app.get_json(path).await;
        answers.push((status, body.clone()));
        if status == 200 {
            assert_eq!(body["state"], state, "{body}");
            assert_eq!(body["fromCache"], false, "{body}");
        }
    }
    // A write needs the primary: refused while it is away (nothing is kept, so nothing
    // is ever sent to this address).
    let submission = r#"{"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"}"#;
    let (write, refusal) = app.post_json("/v1/webhooks", submission).await;
    run(&env("REPLICA_PRIMARY_START"));
    for (status, body) in &answers {
        assert_eq!(
            *status, 200,
            "a lookup failed with the primary stopped: {body}"
        );
    }
    assert_eq!(write, 503, "{refusal}");
    for (status, body) in &lists {
        assert_eq!(
            *status, 200,
            "a list failed with the primary stopped: {body}"
        );
    }
    assert!(listed(&lists[0].1), "{}", lists[0].1);
}

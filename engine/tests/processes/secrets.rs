//! The worker never prints a secret: not in `--help`, not in its log.

use std::process::Stdio;
use std::time::Duration;

use engine::testing::{
    TEST_SECRET, assert_no_secret, fresh_postgres_database, redis_url, unique_name,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const DATABASE_PASSWORD: &str = "pg-pass-3d71c0";
const METRICS_TOKEN: &str = "metrics-token-a4b19e";

/// Every secret the worker is given, as a leak would show it.
fn secrets() -> [&'static str; 3] {
    [
        DATABASE_PASSWORD,
        METRICS_TOKEN,
        TEST_SECRET.trim_start_matches("whsec_"),
    ]
}

fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://postgres:{DATABASE_PASSWORD}@{rest}")
}

fn worker(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .env("DATABASE_URL", with_password(database_url))
        .env("DATABASE_MAX_CONNECTIONS", "3")
        .env("REDIS_URL", redis_url())
        .env("REDIS_PREFIX", unique_name())
        .env("WEBHOOK_SECRET", TEST_SECRET)
        .env("METRICS_TOKEN", METRICS_TOKEN)
        .env("METRICS_LISTEN", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_log_show_no_secret() {
    let output = worker("postgres://localhost/x")
        .arg("--help")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("METRICS_TOKEN"), "{help}");
    assert_no_secret(&help, "--help", &secrets());

    let mut child = worker(&fresh_postgres_database().await).spawn().unwrap();
    // Read until the workers are started: connected, migrated, every queue up.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut log = String::new();
    let started = tokio::time::timeout(Duration::from_secs(30), async {
        while !log.contains("starting workers") {
            if stdout.read_line(&mut log).await.unwrap() == 0 {
                break;
            }
        }
    })
    .await;
    child.start_kill().unwrap();
    stdout.read_to_string(&mut log).await.unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    assert!(started.is_ok() && log.contains("starting workers"), "{log}");
    assert_no_secret(&log, "the log", &secrets());
}

//! Secrets never print: not in the configuration's `Debug`, not in `--help`, not in the
//! log of a running process.

use std::process::Stdio;
use std::time::{Duration, Instant};

use api::config::ApiConfig;
use clap::Parser;
use engine::testing::assert_no_secret;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::helpers::{TEST_SECRET, fresh_postgres_database, redis_url, unique_name};

const DATABASE_PASSWORD: &str = "pg-pass-7c1e9a";
const REDIS_PASSWORD: &str = "redis-pass-0b4d2f";
const API_KEY: &str = "api-key-5e8a31";
const METRICS_TOKEN: &str = "metrics-token-9f2c64";
const ADMIN_KEY: &str = "admin-key-3d70b5";

/// Every secret the configuration holds, as a leak would show it.
fn secrets() -> [&'static str; 6] {
    [
        DATABASE_PASSWORD,
        REDIS_PASSWORD,
        API_KEY,
        METRICS_TOKEN,
        ADMIN_KEY,
        TEST_SECRET.trim_start_matches("whsec_"),
    ]
}

/// The secrets as environment variables; `database_url` is where the server really is.
fn secret_env(database_url: &str, redis_url: &str) -> Vec<(&'static str, String)> {
    let with_password = |url: &str, password: &str| {
        let (scheme, rest) = url.split_once("://").unwrap();
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("{scheme}://postgres:{password}@{rest}")
    };
    vec![
        (
            "DATABASE_URL",
            with_password(database_url, DATABASE_PASSWORD),
        ),
        ("REDIS_URL", redis_url.to_owned()),
        ("WEBHOOK_SECRET", TEST_SECRET.to_owned()),
        ("API_KEYS", format!("{API_KEY},second-{API_KEY}")),
        ("METRICS_TOKEN", METRICS_TOKEN.to_owned()),
        ("ADMIN_API_KEY", ADMIN_KEY.to_owned()),
    ]
}

#[test]
fn the_configuration_debug_shows_no_secret() {
    let config = ApiConfig::try_parse_from([
        "api",
        "--database-url",
        &format!("postgres://app:{DATABASE_PASSWORD}@db.internal/datahog"),
        "--redis-url",
        &format!("redis://:{REDIS_PASSWORD}@cache.internal:6379/"),
        "--webhook-secret",
        TEST_SECRET,
        "--api-keys",
        &format!("{API_KEY},other-{API_KEY}"),
        "--metrics-token",
        METRICS_TOKEN,
        "--admin-api-key",
        ADMIN_KEY,
    ])
    .unwrap();
    assert_no_secret(&format!("{config:?}"), "Debug", &secrets());
    assert_no_secret(&format!("{config:#?}"), "pretty Debug", &secrets());
    assert_no_secret(
        &config.store.database_for_log(),
        "the logged database",
        &secrets(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_shows_no_secret_set_in_the_environment() {
    let redis = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .arg("--help")
        .envs(secret_env("postgres://localhost/x", &redis))
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("METRICS_TOKEN"), "{help}");
    assert_no_secret(&help, "--help", &secrets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_and_request_log_shows_no_secret() {
    let database_url = fresh_postgres_database().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("DATABASE_MAX_CONNECTIONS", "3")
        .env("REDIS_PREFIX", unique_name())
        .env("LOG_LEVEL", "debug")
        .env("LOG_FORMAT", "json")
        .envs(secret_env(&database_url, &redis_url()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = String::new();
    let base = loop {
        let line = stdout.next_line().await.unwrap().expect("the api starts");
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.strip_prefix("datahog API:") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
        }
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/ready")).send().await.is_err() {
        assert!(Instant::now() < deadline, "never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (path, key) in [
        ("/v1/providers", API_KEY),
        ("/v1/admin/tenants", ADMIN_KEY),
        ("/metrics", METRICS_TOKEN),
        ("/v1/providers", "wrong"),
    ] {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
    }
    child.start_kill().unwrap();
    let mut rest = String::new();
    let mut stdout = stdout.into_inner();
    stdout.read_to_string(&mut rest).await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    log.push_str(&rest);
    log.push_str(&stderr);
    assert!(log.contains("datahog API starting"), "{log}");
    assert_no_secret(&log, "the log", &secrets());
}

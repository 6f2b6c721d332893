//! Mock data providers (`gas`, `internet`) that fail like real ones: a share of 500s,
//! latency, and outages scripted at start (`gas=30s..90s`) or at run time
//! (`POST /admin/providers/gas/down?seconds=60`). For the demo, tests and benchmarks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

/// How the mock providers behave.
#[derive(Debug, Clone, Args)]
pub struct MockConfig {
    /// Share of requests answered with a 500, from 0 to 1.
    #[arg(long, env = "MOCK_FAILURE_RATE", default_value_t = 0.2)]
    pub mock_failure_rate: f64,

    /// Delay before every answer.
    #[arg(long, env = "MOCK_LATENCY", default_value = "0ms", value_parser = humantime::parse_duration)]
    pub mock_latency: Duration,

    /// Scripted outages, comma-separated `provider=FROM..TO` in time since start
    /// (e.g. `gas=30s..90s`): the provider answers 503 in that window.
    #[arg(long, env = "MOCK_OUTAGES", value_delimiter = ',')]
    pub mock_outages: Vec<String>,

    /// Requests per second each provider answers; above it, `429` with `Retry-After: 1`
    /// (0: no limit).
    #[arg(long, env = "MOCK_RATE_LIMIT", default_value_t = 0)]
    pub mock_rate_limit: u32,
}

/// A provider's outage window, from the mock's start.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outage {
    provider: String,
    from: Duration,
    to: Duration,
}

impl MockConfig {
    /// Checks the values; the error names the variable.
    pub fn validate(&self) -> Result<(), engine::config::ConfigError> {
        if !(0.0..=1.0).contains(&self.mock_failure_rate) {
            return Err(engine::config::ConfigError {
                variable: "MOCK_FAILURE_RATE",
                reason: "must be from 0 to 1".into(),
            });
        }
        self.outages().map(drop)
    }

    fn outages(&self) -> Result<Vec<Outage>, engine::config::ConfigError> {
        let invalid = |entry: &str| engine::config::ConfigError {
            variable: "MOCK_OUTAGES",
            reason: format!("`{entry}` is not `provider=FROM..TO` (e.g. `gas=30s..90s`)"),
        };
        let mut outages = Vec::new();
        for entry in self
            .mock_outages
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            let (provider, window) = entry.split_once('=').ok_or_else(|| invalid(entry))?;
            let (from, to) = window.split_once("..").ok_or_else(|| invalid(entry))?;
            let parse = |d: &str| humantime::parse_duration(d.trim()).map_err(|_| invalid(entry));
            let (from, to) = (parse(from)?, parse(to)?);
            if to <= from {
                return Err(invalid(entry));
            }
            outages.push(Outage {
                provider: provider.trim().to_owned(),
                from,
                to,
            });
        }
        Ok(outages)
    }
}

/// The providers the mock serves, with their bills.
fn bills(provider: &str) -> Option<Value> {
    match provider {
        "gas" => Some(json!([
            {"billedOn": "2026-04-07T15:03:14.257Z", "amount": 22.27},
            {"billedOn": "2026-05-07T15:03:14.257Z", "amount": 30.00},
            {"billedOn": "2026-06-07T15:03:14.257Z", "amount": 18.91},
        ])),
        "internet" => Some(json!([
            {"billedOn": "2026-02-07T15:03:14.257Z", "amount": 15.12},
            {"billedOn": "2026-03-07T15:03:14.257Z", "amount": 15.12},
            {"billedOn": "2026-04-07T15:03:14.257Z", "amount": 32.52},
        ])),
        _ => None,
    }
}

#[derive(Default)]
struct Counts {
    requests: u64,
    failures: u64,
    limited: u64,
    /// The second (since the mock's start) the window counts, and the requests in it.
    window: (u64, u32),
    /// The most requests any one second's window counted.
    peak: u32,
    /// When the first and the last request came, in ms since the mock's start: with
    /// `requests`, the rate a provider was called at.
    first_ms: Option<u64>,
    last_ms: u64,
}

struct Mock {
    config: MockConfig,
    outages: Vec<Outage>,
    started: Instant,
    down_until: Mutex<HashMap<String, Instant>>,
    counts: Mutex<HashMap<String, Counts>>,
}

impl Mock {
    fn down(&self, provider: &str) -> bool {
        let now = Instant::now();
        let since_start = now - self.started;
        let scripted = self
            .outages
            .iter()
            .any(|o| o.provider == provider && (o.from..o.to).contains(&since_start));
        let admin = self
            .down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(provider)
            .is_some_and(|until| now < *until);
        scripted || admin
    }
}

/// The mock's routes: `GET /providers/{name}`, and the admin calls.
pub fn router(config: MockConfig) -> Result<Router, engine::config::ConfigError> {
    config.validate()?;
    let mock = Arc::new(Mock {
        outages: config.outages()?,
        config,
        started: Instant::now(),
        down_until: Mutex::default(),
        counts: Mutex::default(),
    });
    Ok(Router::new()
        .route("/providers/{name}", get(provider))
        .route("/admin/providers/{name}/down", post(take_down))
        .route("/admin/providers/{name}/up", post(bring_up))
        .route("/admin/stats", get(stats))
        .route("/admin/stats/reset", post(reset_stats))
        .with_state(mock))
}

async fn provider(State(mock): State<Arc<Mock>>, Path(name): Path<String>) -> Response {
    let Some(body) = bills(&name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such provider"})),
        )
            .into_response();
    };
    if !mock.config.mock_latency.is_zero() {
        tokio::time::sleep(mock.config.mock_latency).await;
    }
    let failed = mock.down(&name) || fastrand::f64() < mock.config.mock_failure_rate;
    let limited = {
        let elapsed = mock.started.elapsed();
        let second = elapsed.as_secs();
        let mut counts = mock.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(name.clone()).or_default();
        count.requests += 1;
        let ms = elapsed.as_millis() as u64;
        count.first_ms.get_or_insert(ms);
        count.last_ms = ms;
        if count.window.0 != second {
            count.window = (second, 0);
        }
        count.window.1 += 1;
        count.peak = count.peak.max(count.window.1);
        let limit = mock.config.mock_rate_limit;
        let limited = limit > 0 && count.window.1 > limit;
        count.limited += u64::from(limited);
        count.failures += u64::from(failed && !limited);
        limited
    };
    if limited {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(json!({"error": "rate limited"})),
        )
            .into_response()
    } else if mock.down(&name) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "provider is down for maintenance"})),
        )
            .into_response()
    } else if failed {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "internal error"})),
        )
            .into_response()
    } else {
        Json(body).into_response()
    }
}

#[derive(Deserialize)]
struct DownFor {
    seconds: u64,
}

async fn take_down(
    State(mock): State<Arc<Mock>>,
    Path(name): Path<String>,
    Query(down): Query<DownFor>,
) -> Response {
    if bills(&name).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let until = Instant::now() + Duration::from_secs(down.seconds);
    mock.down_until
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.clone(), until);
    tracing::info!(provider = %name, seconds = down.seconds, "mock provider taken down");
    Json(json!({"provider": name, "downForSeconds": down.seconds})).into_response()
}

async fn bring_up(State(mock): State<Arc<Mock>>, Path(name): Path<String>) -> Response {
    mock.down_until
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&name);
    Json(json!({"provider": name, "down": false})).into_response()
}

async fn stats(State(mock): State<Arc<Mock>>) -> Json<Value> {
    let counts = mock.counts.lock().unwrap_or_else(|e| e.into_inner());
    let stats: serde_json::Map<String, Value> = counts
        .iter()
        .map(|(name, c)| {
            let entry = json!({
                "requests": c.requests, "failures": c.failures, "limited": c.limited,
                "peakPerSecond": c.peak, "firstMs": c.first_ms, "lastMs": c.last_ms,
            });
            (name.clone(), entry)
        })
        .collect();
    Json(Value::Object(stats))
}

/// Forgets every count, so the next `stats` describe only what came after.
async fn reset_stats(State(mock): State<Arc<Mock>>) -> StatusCode {
    mock.counts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    StatusCode::NO_CONTENT
}

/// Serves the mock on `listener` until `stop` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: MockConfig,
    stop: tokio_util::sync::CancellationToken,
) -> Result<(), std::io::Error> {
    let app = router(config).map_err(std::io::Error::other)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mock: MockConfig,
    }

    async fn start(args: &[&str]) -> String {
        let mut argv = vec!["x"];
        argv.extend_from_slice(args);
        let config = Cli::try_parse_from(argv).unwrap().mock;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(serve(listener, config, stop.child_token()));
        std::mem::forget(stop);
        base
    }

    async fn status(method: reqwest::Method, url: String) -> u16 {
        let client = reqwest::Client::new();
        client
            .request(method, url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn serves_bills_fails_and_goes_down_on_request() {
        let base = start(&[
            "--mock-failure-rate",
            "0",
            "--mock-outages",
            "internet=0s..1h",
        ])
        .await;
        let get = |p: &str| status(reqwest::Method::GET, format!("{base}{p}"));
        assert_eq!(get("/providers/gas").await, 200);
        assert_eq!(get("/providers/water").await, 404);
        assert_eq!(get("/providers/internet").await, 503, "scripted outage");
        let down = format!("{base}/admin/providers/gas/down?seconds=60");
        assert_eq!(status(reqwest::Method::POST, down).await, 200);
        assert_eq!(get("/providers/gas").await, 503);
        let up = format!("{base}/admin/providers/gas/up");
        assert_eq!(status(reqwest::Method::POST, up).await, 200);
        assert_eq!(get("/providers/gas").await, 200);

        let limited = start(&["--mock-failure-rate", "0", "--mock-rate-limit", "2"]).await;
        let url = format!("{limited}/providers/gas");
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(status(reqwest::Method::GET, url.clone()).await);
        }
        // Within one second (or two, if the run crossed a second): at most 2 answered each.
        let over = answers.iter().filter(|&&s| s == 429).count();
        assert!(
            answers.iter().all(|s| [200, 429].contains(s)),
            "{answers:?}"
        );
        assert!(over <= 1 && answers[0] == 200, "{answers:?}");
        let limited_after = format!("{limited}/providers/internet");
        let retry_after = reqwest::Client::new();
        let mut seen = None;
        for _ in 0..10 {
            let answer = retry_after.get(&limited_after).send().await.unwrap();
            if answer.status() == 429 {
                seen = answer.headers().get("retry-after").cloned();
                break;
            }
        }
        assert_eq!(seen.unwrap(), "1", "above the limit: 429 with Retry-After");

        let failing = start(&["--mock-failure-rate", "1"]).await;
        let url = format!("{failing}/providers/gas");
        assert_eq!(status(reqwest::Method::GET, url).await, 500);
    }

    #[test]
    fn reads_outage_windows() {
        let cli =
            Cli::try_parse_from(["x", "--mock-outages", "gas=30s..90s,internet=0s..1m"]).unwrap();
        let outages = cli.mock.outages().unwrap();
        assert_eq!(outages[0].from, Duration::from_secs(30));
        assert_eq!(outages[1].to, Duration::from_secs(60));
        for bad in ["gas", "gas=30s", "gas=90s..30s", "gas=a..b"] {
            let cli = Cli::try_parse_from(["x", "--mock-outages", bad]).unwrap();
            assert!(cli.mock.validate().is_err(), "{bad}");
        }
    }
}

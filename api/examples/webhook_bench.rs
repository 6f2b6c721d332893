//! End-to-end webhook collections, for `scripts/bench`: submits N collections (two
//! providers each) to a running API, receives their callbacks on its own receiver, and
//! prints collections per second, the time from submission to callback, and how many
//! callback requests arrived (a redelivered callback counts again).
//!
//! Closed loop (RATE 0 or absent): CONCURRENCY submissions in flight at a time, as fast as
//! the api takes them. Open loop (RATE > 0): one submission every 1/RATE s whatever the
//! answers do, and latency counted from when each was due, so a slow api cannot hide its
//! queueing behind fewer submissions.
//!
//! `cargo run --release -p api --example webhook_bench -- http://127.0.0.1:8080 RECEIVER_ADDR N CONCURRENCY [RATE]`
//!
//! It waits for the callbacks up to `BENCH_WAIT_SECONDS` (120) after the last submission.
//! With `BENCH_RECEIVER_DOWN_SECONDS` set, its receiver answers 503 for that long after the
//! start (a callback counts only once answered 2xx), so the callbacks pile up as a backlog.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures::StreamExt;
use tokio::sync::Notify;

/// When each webhook's callback arrived.
struct Arrivals {
    at: Mutex<HashMap<String, Instant>>,
    requests: AtomicU64,
    changed: Notify,
    /// Until when the receiver is down.
    down_until: Instant,
}

async fn receive(State(arrivals): State<Arc<Arrivals>>, headers: HeaderMap) -> StatusCode {
    let now = Instant::now();
    arrivals.requests.fetch_add(1, Ordering::Relaxed);
    if now < arrivals.down_until {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        arrivals
            .at
            .lock()
            .unwrap()
            .entry(id.to_owned())
            .or_insert(now);
        arrivals.changed.notify_one();
    }
    StatusCode::NO_CONTENT
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

/// Posts the same submission, answering the new webhook's id and when it was due.
struct Submitter {
    client: reqwest::Client,
    url: String,
    body: String,
}

impl Submitter {
    async fn one(&self, due: Instant) -> anyhow::Result<(String, Instant)> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 202,
            "submission answered {}",
            response.status()
        );
        let accepted: serde_json::Value = response.json().await?;
        let id = accepted["id"].as_str().unwrap_or_default().to_owned();
        Ok((id, due))
    }
}

/// Submits `total` at `rate` per second, each due at its own slot whatever the earlier
/// ones are doing.
async fn open_loop(
    submit: &Submitter,
    total: usize,
    rate: f64,
) -> Vec<anyhow::Result<(String, Instant)>> {
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut running = futures::stream::FuturesUnordered::new();
    let mut done = Vec::with_capacity(total);
    for n in 0..total {
        let due = start + period.mul_f64(n as f64);
        // Collect the answers that came in while waiting for the next slot.
        let sleep = tokio::time::sleep_until(due.into());
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                Some(answer) = running.next(), if !running.is_empty() => done.push(answer),
            }
        }
        running.push(submit.one(due));
    }
    while let Some(answer) = running.next().await {
        done.push(answer);
    }
    done
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let api = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let receiver_addr = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let total: usize = args.get(3).map_or(Ok(2000), |n| n.parse())?;
    let concurrency: usize = args.get(4).map_or(Ok(64), |n| n.parse())?;

    let down: u64 = std::env::var("BENCH_RECEIVER_DOWN_SECONDS").map_or(Ok(0), |s| s.parse())?;
    let arrivals = Arc::new(Arrivals {
        at: Mutex::default(),
        requests: AtomicU64::default(),
        changed: Notify::new(),
        down_until: Instant::now() + Duration::from_secs(down),
    });
    let listener = tokio::net::TcpListener::bind(&receiver_addr).await?;
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The api requires a key in production; the bench passes its own in BENCH_API_KEY.
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(key) = std::env::var("BENCH_API_KEY") {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {key}").parse()?,
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()?;
    let body = serde_json::json!({
        "provider": ["gas", "internet"],
        "callbackUrl": format!("http://{receiver_addr}/hook"),
    })
    .to_string();
    let rate: f64 = args.get(5).map_or(Ok(0.0), |n| n.parse())?;
    let submit = Submitter {
        client,
        url: format!("{api}/v1/webhooks"),
        body,
    };
    let started = Instant::now();
    let submissions = if rate > 0.0 {
        open_loop(&submit, total, rate).await
    } else {
        futures::stream::iter(0..total)
            .map(|_| submit.one(Instant::now()))
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>()
            .await
    };
    let submitted_in = started.elapsed();
    let mut sent_at = HashMap::new();
    let mut refused = 0;
    for submission in submissions {
        match submission {
            Ok((id, sent)) => {
                sent_at.insert(id, sent);
            }
            Err(error) => {
                refused += 1;
                eprintln!("{error}");
            }
        }
    }

    let wait: u64 = std::env::var("BENCH_WAIT_SECONDS").map_or(Ok(120), |s| s.parse())?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let arrived = arrivals.at.lock().unwrap().len();
        if arrived >= sent_at.len() || Instant::now() > deadline {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), arrivals.changed.notified()).await;
    }
    let requests = arrivals.requests.load(Ordering::Relaxed);
    let arrivals = arrivals.at.lock().unwrap();
    let last = arrivals.values().max().copied().unwrap_or(started);
    let mut latencies: Vec<f64> = sent_at
        .iter()
        .filter_map(|(id, sent)| {
            arrivals
                .get(id)
                .map(|at| (*at - *sent).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let seconds = (last - started).as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "collections": total,
            "delivered": latencies.len(),
            "refused": refused,
            "seconds": seconds,
            "rate": latencies.len() as f64 / seconds,
            "submit_rate": sent_at.len() as f64 / submitted_in.as_secs_f64(),
            "offered_rate": rate,
            "callback_requests": requests,
            "p50_ms": percentile(&latencies, 0.5),
            "p99_ms": percentile(&latencies, 0.99),
        })
    );
    Ok(())
}

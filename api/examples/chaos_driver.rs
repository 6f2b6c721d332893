//! The load and the judge of `scripts/chaos`: submits webhooks and increments to a running
//! API for a while, receives the callbacks on its own receiver (which the script can take
//! down and bring back), then waits for the platform to settle and compares what was
//! acknowledged with what the database and the receiver hold. Prints one JSON object.
//!
//! `chaos_driver API_URL RECEIVER_ADDR DATABASE_URL STOP_FILE SETTLE_SECONDS`: the load
//! runs until `STOP_FILE` exists.
//!
//! A backlog on demand: when `STOP_FILE.burst` appears holding a number N, the driver takes
//! it away and submits N webhooks at once (32 in flight), counted like the others; it then
//! writes `STOP_FILE.burst-done` (how many were acknowledged) and, every second until none
//! is left, `STOP_FILE.burst-left` (how many of them are not yet delivered or parked).
//!
//! The receiver answers `POST /hook` (200, or 503 while down) and `POST /admin/down`,
//! `POST /admin/up`. Each increment goes to a key of its own, so an increment whose answer
//! never arrived (the API was killed mid-request) can be told apart from the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use entity::webhook::WebhookStatus;
use entity::{counter, delivery_attempt, webhook};
use sea_orm::{
    ColumnTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

/// How often one webhook and one increment are sent.
const EVERY: Duration = Duration::from_millis(100);

/// What the receiver saw.
#[derive(Default)]
struct Receiver {
    down: AtomicBool,
    while_down: AtomicU64,
    posts: Mutex<HashMap<String, u64>>,
}

async fn hook(State(receiver): State<Arc<Receiver>>, headers: HeaderMap) -> StatusCode {
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        *receiver
            .posts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_owned())
            .or_default() += 1;
    }
    if receiver.down.load(Ordering::SeqCst) {
        receiver.while_down.fetch_add(1, Ordering::SeqCst);
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// What the API answered.
#[derive(Default)]
struct Answers {
    webhooks: Vec<String>,
    increments: BTreeMap<String, i64>,
    unknown_increments: BTreeMap<String, i64>,
    statuses: BTreeMap<u16, u64>,
    unreachable: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 6,
        "usage: chaos_driver API_URL RECEIVER_ADDR DATABASE_URL STOP_FILE SETTLE_SECONDS"
    );
    let (api, receiver_addr, database_url) = (&args[1], &args[2], &args[3]);
    let stop = std::path::PathBuf::from(&args[4]);
    let settle = Duration::from_secs(args[5].parse()?);

    let receiver = Arc::new(Receiver::default());
    let listener = tokio::net::TcpListener::bind(receiver_addr).await?;
    let app =
        Router::new()
            .route("/hook", post(hook))
            .route(
                "/admin/down",
                post(|State(r): State<Arc<Receiver>>| async move {
                    r.down.store(true, Ordering::SeqCst)
                }),
            )
            .route(
                "/admin/up",
                post(|State(r): State<Arc<Receiver>>| async move {
                    r.down.store(false, Ordering::SeqCst)
                }),
            )
            .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The api requires a key in production; scripts/chaos passes its own in CHAOS_API_KEY.
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(key) = std::env::var("CHAOS_API_KEY") {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {key}").parse()?,
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .default_headers(headers)
        .build()?;
    let webhook_body = serde_json::json!({
        "provider": ["gas", "internet"],
        "callbackUrl": format!("http://{receiver_addr}/hook"),
    })
    .to_string();
    let answers = Arc::new(Mutex::new(Answers::default()));
    let mut tick = tokio::time::interval(EVERY);
    let mut sent = 0u64;
    let mut requests = Vec::new();
    let burst_file = stop.with_extension("burst");
    while !stop.exists() {
        tick.tick().await;
        if let Some(count) = take_burst(&burst_file) {
            let (client, api, body, answers) = (
                client.clone(),
                api.clone(),
                webhook_body.clone(),
                answers.clone(),
            );
            let (database_url, stop) = (database_url.clone(), stop.clone());
            requests.push(tokio::spawn(async move {
                let ids = burst(&client, &api, &body, count, &answers).await;
                if let Err(error) = watch_burst(&database_url, &stop, ids).await {
                    eprintln!("watching the burst failed: {error:#}");
                }
            }));
        }
        sent += 1;
        let (client, api, body, answers) = (
            client.clone(),
            api.clone(),
            webhook_body.clone(),
            answers.clone(),
        );
        requests.push(tokio::spawn(async move {
            submit_webhook(&client, &api, body, &answers).await;
            increment(&client, &api, &format!("chaos-{sent}"), &answers).await;
        }));
    }
    for request in requests {
        request.await?;
    }

    let db = Database::connect(database_url.as_str()).await?;
    let answers = Arc::try_unwrap(answers)
        .map_err(|_| anyhow::anyhow!("requests still running"))?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let until = Instant::now() + settle;
    let report = loop {
        let report = judge(&db, &answers, &receiver).await?;
        if report.settled() || Instant::now() > until {
            break report;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    println!("{}", report.json(&answers, &receiver));
    Ok(())
}

/// The number in the burst file, which is taken away, if the script has written one.
fn take_burst(path: &std::path::Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let count = text.trim().parse().ok()?;
    std::fs::remove_file(path).ok()?;
    Some(count)
}

/// Submits `count` webhooks, 32 in flight; the ids acknowledged.
async fn burst(
    client: &reqwest::Client,
    api: &str,
    body: &str,
    count: usize,
    answers: &Arc<Mutex<Answers>>,
) -> Vec<String> {
    let ids = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let next = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..32)
        .map(|_| {
            let (client, api, body, answers, ids, next) = (
                client.clone(),
                api.to_owned(),
                body.to_owned(),
                answers.clone(),
                ids.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < count as u64 {
                    if let Some(id) = submit_webhook(&client, &api, body.clone(), &answers).await {
                        ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        let _ = sender.await;
    }
    std::mem::take(&mut *ids.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Writes how many were acknowledged, then how many are left every second until none is.
async fn watch_burst(
    database_url: &str,
    stop: &std::path::Path,
    ids: Vec<String>,
) -> anyhow::Result<()> {
    write_atomically(&stop.with_extension("burst-done"), ids.len())?;
    let db = Database::connect(database_url).await?;
    loop {
        let mut left = 0;
        // In chunks: one statement's parameters are bounded.
        for chunk in ids.chunks(10_000) {
            match webhook::Entity::find()
                .filter(webhook::Column::Id.is_in(chunk.iter().cloned()))
                .filter(
                    webhook::Column::Status
                        .is_not_in([WebhookStatus::Delivered, WebhookStatus::Parked]),
                )
                .count(&db)
                .await
            {
                Ok(n) => left += n,
                // The run restarts Postgres; a failed look is taken again.
                Err(_) => left += chunk.len() as u64,
            }
        }
        write_atomically(&stop.with_extension("burst-left"), left)?;
        // The script stops the load only once the backlog drained or it gave up waiting.
        if left == 0 || stop.exists() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Writes a number so that a reader never sees half of it.
fn write_atomically(path: &std::path::Path, value: impl std::fmt::Display) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, value.to_string())?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// Sends one webhook; records its id if acknowledged, and returns it.
async fn submit_webhook(
    client: &reqwest::Client,
    api: &str,
    body: String,
    answers: &Mutex<Answers>,
) -> Option<String> {
    let answer = client
        .post(format!("{api}/v1/webhooks"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(_) => {
            answers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unreachable += 1;
            return None;
        }
    };
    let status = response.status().as_u16();
    let id = if status == 202 {
        let accepted: serde_json::Value = response.json().await.unwrap_or_default();
        accepted["id"].as_str().map(str::to_owned)
    } else {
        None
    };
    let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner());
    *answers.statuses.entry(status).or_default() += 1;
    answers.webhooks.extend(id.clone());
    id
}

/// Adds a value to `key`; acknowledged, or (no answer at all) of unknown outcome.
async fn increment(client: &reqwest::Client, api: &str, key: &str, answers: &Mutex<Answers>) {
    let value = 1 + (key.len() as i64 % 5);
    let answer = client
        .post(format!("{api}/increment"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"key": key, "value": value}).to_string())
        .send()
        .await;
    let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner());
    match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            *answers.statuses.entry(status).or_default() += 1;
            if status == 202 {
                answers.increments.insert(key.to_owned(), value);
            } else if status >= 500 {
                // A 503 after the command reached Redis cannot tell whether it applied.
                answers.unknown_increments.insert(key.to_owned(), value);
            }
        }
        Err(_) => {
            answers.unreachable += 1;
            answers.unknown_increments.insert(key.to_owned(), value);
        }
    }
}

/// The figures of one look at the database and the receiver.
struct Report {
    delivered: u64,
    parked: u64,
    lost: u64,
    stuck: u64,
    under_counted: u64,
    counter_difference: u64,
    unknown_applied: u64,
}

impl Report {
    fn settled(&self) -> bool {
        self.stuck == 0 && self.counter_difference == 0
    }

    fn json(&self, answers: &Answers, receiver: &Receiver) -> serde_json::Value {
        let other_5xx: u64 = answers
            .statuses
            .iter()
            .filter(|(s, _)| **s >= 500 && **s != 503)
            .map(|(_, n)| n)
            .sum();
        serde_json::json!({
            "acknowledged": answers.webhooks.len(),
            "delivered": self.delivered,
            "parked": self.parked,
            "lost": self.lost,
            "stuck": self.stuck,
            "under_counted": self.under_counted,
            "receiver_posts_while_down": receiver.while_down.load(Ordering::SeqCst),
            "increments_acknowledged": answers.increments.len(),
            "counter_difference": self.counter_difference,
            "increments_unknown": answers.unknown_increments.len(),
            "increments_unknown_applied": self.unknown_applied,
            "answers_503": answers.statuses.get(&503).copied().unwrap_or(0),
            "answers_other_5xx": other_5xx,
            "unreachable": answers.unreachable,
        })
    }
}

/// Compares what was acknowledged with what the database and the receiver hold.
async fn judge(
    db: &DatabaseConnection,
    answers: &Answers,
    receiver: &Receiver,
) -> anyhow::Result<Report> {
    let statuses: HashMap<String, WebhookStatus> = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Id)
        .column(webhook::Column::Status)
        .into_tuple::<(String, WebhookStatus)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut recorded: HashMap<String, u64> = HashMap::new();
    for id in delivery_attempt::Entity::find()
        .select_only()
        .column(delivery_attempt::Column::WebhookId)
        .into_tuple::<String>()
        .all(db)
        .await?
    {
        *recorded.entry(id).or_default() += 1;
    }
    let counters: HashMap<String, i64> = counter::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.key, c.value))
        .collect();
    let posts = receiver.posts.lock().unwrap_or_else(|e| e.into_inner());
    let mut report = Report {
        delivered: 0,
        parked: 0,
        lost: 0,
        stuck: 0,
        under_counted: 0,
        counter_difference: 0,
        unknown_applied: 0,
    };
    for id in &answers.webhooks {
        match statuses.get(id) {
            None => report.lost += 1,
            Some(WebhookStatus::Delivered) => report.delivered += 1,
            Some(WebhookStatus::Parked) => report.parked += 1,
            Some(_) => report.stuck += 1,
        }
        let seen = posts.get(id).copied().unwrap_or(0);
        if recorded.get(id).copied().unwrap_or(0) < seen {
            report.under_counted += 1;
        }
    }
    for (key, value) in &answers.increments {
        if counters.get(key) != Some(value) {
            report.counter_difference += 1;
        }
    }
    for (key, value) in &answers.unknown_increments {
        match counters.get(key) {
            Some(v) if v == value => report.unknown_applied += 1,
            // Neither applied nor not: counted twice, or partly.
            Some(_) => report.counter_difference += 1,
            None => {}
        }
    }
    Ok(report)
}

//! A receiver host that is down gets one probe per cool-down, not every waiting webhook's
//! attempts; once it answers, every webhook is delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use engine::health::HealthView;
use engine::testing::{provider, receiver_answering};
use entity::webhook;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use wiremock::{Request, Respond, ResponseTemplate};

use crate::helpers::{Mode, TestEngine};

/// A receiver that answers 503 while `down`, counting what it gets meanwhile.
struct Receiver {
    down: Arc<AtomicBool>,
    while_down: Arc<AtomicUsize>,
}

impl Respond for Receiver {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.down.load(Ordering::SeqCst) {
            self.while_down.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(200)
        }
    }
}

/// Each receiver circuit with failures on record, by host, and its health, as
/// `GET /v1/receivers` lists them to the operator.
async fn troubled_hosts(engine: &TestEngine) -> Vec<(String, HealthView)> {
    let troubled = engine.ctx.receivers.troubled().await.unwrap();
    troubled.into_iter().map(|t| (t.host, t.view)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_sees_only_probes_then_gets_everything() {
    let providers = provider(&["/gas"], "[1]", Duration::ZERO).await;
    let down = Arc::new(AtomicBool::new(true));
    let while_down = Arc::new(AtomicUsize::new(0));
    let receiver = receiver_answering(Receiver {
        down: down.clone(),
        while_down: while_down.clone(),
    })
    .await;
    let (threshold, concurrency, cooldown) = (3, 4, Duration::from_secs(1));
    let gas = format!("gas={}/gas", providers.uri());
    let engine = TestEngine::start_with(Mode::Production, move |c| {
        c.providers.providers = vec![gas];
        let w = &mut c.webhooks;
        w.delivery_schedule = vec![Duration::ZERO; 1]
            .into_iter()
            .chain(vec![Duration::from_secs(1); 7])
            .collect();
        w.receiver_failure_threshold = threshold;
        w.receiver_concurrency = concurrency;
        w.receiver_cooldown_min = cooldown;
        w.receiver_cooldown_max = 2 * cooldown;
    })
    .await;
    let _workers = engine.run_workers();
    let outage = Instant::now();
    let webhooks = 200;
    let callback = format!("{}/hook", receiver.uri());
    for _ in 0..webhooks {
        engine.submit(&["gas"], &callback).await;
    }
    let host = format!("http://{}", receiver.address());
    let mut open = false;
    while !open && outage.elapsed() < Duration::from_secs(30) {
        open = troubled_hosts(&engine)
            .await
            .iter()
            .any(|(troubled, view)| *troubled == host && view.down);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(open, "the receiver's circuit opened");
    // The outage goes on for a few cool-downs while the webhooks wait.
    tokio::time::sleep(4 * cooldown).await;
    down.store(false, Ordering::SeqCst);
    let outage = outage.elapsed();

    let db = engine.db();
    let until = Instant::now() + Duration::from_secs(90);
    let delivered = loop {
        let delivered = webhook::Entity::find()
            .filter(webhook::Column::Status.eq(webhook::WebhookStatus::Delivered))
            .count(db)
            .await
            .unwrap();
        if delivered == webhooks || Instant::now() > until {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(delivered, webhooks, "every webhook was delivered");

    // While down: the failures that opened the circuit (at most one per delivery slot past
    // the threshold), then one probe per cool-down.
    let probes = outage.as_secs() as usize / cooldown.as_secs() as usize + 2;
    let seen = while_down.load(Ordering::SeqCst);
    let bound = threshold as usize + concurrency as usize + probes;
    assert!(seen <= bound, "{seen} POSTs while down, more than {bound}");
    // Waiting used up no attempts, and the history has every POST the receiver saw.
    let all = webhook::Entity::find().all(db).await.unwrap();
    let attempts: i32 = all.iter().map(|w| w.delivery_attempts).sum();
    let posts = receiver.received_requests().await.unwrap().len();
    assert_eq!(attempts as usize, posts);
    assert_eq!(posts, webhooks as usize + seen);
    assert_eq!(troubled_hosts(&engine).await, [], "the host is up again");
}

/// A receiver that answers `status` with `Retry-After: 1` to its first `asks` requests, then
/// 200, keeping when each request came.
struct AsksToWait {
    status: u16,
    asks: usize,
    seen: Arc<std::sync::Mutex<Vec<Instant>>>,
}

impl Respond for AsksToWait {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() <= self.asks {
            ResponseTemplate::new(self.status).insert_header("Retry-After", "1")
        } else {
            ResponseTemplate::new(200)
        }
    }
}

/// An engine whose schedule has one attempt only, delivering `gas` to a receiver asking
/// to wait `asks` times with `status`; the webhook's id, the engine and what the receiver saw.
async fn one_attempt_to(
    mode: Mode,
    status: u16,
    asks: usize,
    snooze_limit: u32,
) -> (
    String,
    TestEngine,
    Arc<std::sync::Mutex<Vec<Instant>>>,
    wiremock::MockServer,
    wiremock::MockServer,
) {
    let providers = provider(&["/gas"], "[1]", Duration::ZERO).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let receiver = receiver_answering(AsksToWait {
        status,
        asks,
        seen: seen.clone(),
    })
    .await;
    let gas = format!("gas={}/gas", providers.uri());
    let engine = TestEngine::start_with(mode, move |c| {
        c.providers.providers = vec![gas];
        c.webhooks.delivery_schedule = vec![Duration::ZERO];
        c.webhooks.delivery_snooze_limit = snooze_limit;
    })
    .await;
    let id = engine
        .submit(&["gas"], &format!("{}/hook", receiver.uri()))
        .await;
    (id, engine, seen, providers, receiver)
}

engine::both_modes!(a_receiver_asking_to_wait_is_waited_for_without_spending_attempts);
async fn a_receiver_asking_to_wait_is_waited_for_without_spending_attempts(mode: Mode) {
    for status in [429, 503] {
        let (id, engine, seen, _providers, _receiver) = one_attempt_to(mode, status, 2, 10).await;
        let _workers = engine.run_workers();
        // One attempt in the schedule: only because the two asks did not count is the
        // callback delivered instead of parked.
        engine
            .webhook_in(
                &id,
                webhook::WebhookStatus::Delivered,
                Duration::from_secs(30),
            )
            .await;
        let webhook = engine.webhook(&id).await;
        assert_eq!(webhook.delivery_attempts, 1);
        assert_eq!(webhook.delivery_snoozes, 2);
        let attempts = engine.attempts(&id).await;
        let codes: Vec<_> = attempts.iter().map(|a| a.status_code).collect();
        assert_eq!(codes, [Some(status as i32), Some(status as i32), Some(200)]);
        assert!(attempts.iter().all(|a| a.number == 1), "{attempts:?}");
        // Each wait was the second the receiver asked for.
        let seen = seen.lock().unwrap().clone();
        for pair in seen.windows(2) {
            let waited = pair[1] - pair[0];
            assert!(waited >= Duration::from_millis(900), "{waited:?}");
        }
        // The host is not held as failing for asking to wait.
        assert!(
            engine.ctx.receivers.troubled().await.unwrap().is_empty(),
            "{status}"
        );
    }
}

engine::both_modes!(a_receiver_asking_to_wait_past_the_snooze_limit_fails_the_attempt);
async fn a_receiver_asking_to_wait_past_the_snooze_limit_fails_the_attempt(mode: Mode) {
    let (id, engine, seen, _providers, _receiver) = one_attempt_to(mode, 429, 10, 1).await;
    let _workers = engine.run_workers();
    engine
        .webhook_in(&id, webhook::WebhookStatus::Parked, Duration::from_secs(30))
        .await;
    let webhook = engine.webhook(&id).await;
    assert_eq!(
        (webhook.delivery_attempts, webhook.delivery_snoozes),
        (1, 1)
    );
    assert_eq!(engine.attempts(&id).await.len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

//! A provider in a long outage gets one probe per cool-down, not every waiting job's
//! request, from every worker process sharing its health; once it answers, every webhook
//! is delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use engine::both_modes;
use engine::testing::{BILL, provider, receiver, requests_to};
use entity::webhook::WebhookStatus;
use wiremock::matchers::path;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::{Mode, TestEngine, webhook_settings};

/// Answers 503 until `until`, then the bill; counts what reached it while down.
struct Outage {
    until: Instant,
    refused: Arc<AtomicUsize>,
}

impl Respond for Outage {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if Instant::now() < self.until {
            self.refused.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(200).set_body_raw(BILL, "application/json")
        }
    }
}

both_modes!(a_long_outage_is_probed_not_hammered);
async fn a_long_outage_is_probed_not_hammered(mode: Mode) {
    let (sources, hooks) = (
        provider(&["/gas", "/internet"], BILL, Duration::ZERO).await,
        receiver(200).await,
    );
    let outage = Duration::from_secs(5);
    let refused = Arc::new(AtomicUsize::new(0));
    Mock::given(path("/internet"))
        .respond_with(Outage {
            until: Instant::now() + outage,
            refused: refused.clone(),
        })
        .with_priority(1)
        .mount(&sources)
        .await;
    let concurrency = 4;
    let engine = TestEngine::start_with(mode, |w| {
        webhook_settings(w, &sources);
        w.webhook_concurrency = concurrency;
        w.providers.provider_failure_threshold = 2;
    })
    .await;
    let _workers = engine.run_workers();
    // In production, two worker processes share the provider's health through Redis.
    let _second = (mode == Mode::Production).then(|| engine.spawn_worker());
    let processes = if mode == Mode::Production { 2 } else { 1 };
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(engine.submit(&["gas", "internet"], &hooks.uri()).await);
    }
    let health = &engine.ctx.health;
    let until = Instant::now() + Duration::from_secs(10);
    let down = loop {
        let view = health.view("internet").await.unwrap();
        if view.down {
            break view;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for the provider to be down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(down.next_probe_at.is_some(), "{down:?}");
    for id in &ids {
        engine
            .webhook_in(id, WebhookStatus::Delivered, Duration::from_secs(30))
            .await;
    }
    // Before it went down: at most the jobs already running; after: one probe per
    // cool-down (0.5 s, then 1 s) over the 5 s outage, whatever the 20 waiting jobs do.
    let probes = 1 + outage.as_millis() as usize / 500;
    let bound = processes * concurrency as usize + 2 + probes;
    let reached = refused.load(Ordering::SeqCst);
    assert!(
        reached <= bound,
        "{reached} requests reached the provider while down (bound {bound})"
    );
    assert_eq!(
        requests_to(&sources, "/gas").await,
        20,
        "gas was fetched once per webhook"
    );
    let up = health.view("internet").await.unwrap();
    assert!(!up.down && up.failures == 0, "up again: {up:?}");
}

both_modes!(a_provider_asking_to_wait_is_waited_for_not_failed);
async fn a_provider_asking_to_wait_is_waited_for_not_failed(mode: Mode) {
    let (sources, hooks) = (
        provider(&["/gas"], BILL, Duration::ZERO).await,
        receiver(200).await,
    );
    // Three times 429 with Retry-After: 1, then the bill.
    Mock::given(path("/gas"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&sources)
        .await;
    let engine = TestEngine::start_with(mode, |w| {
        webhook_settings(w, &sources);
        // Three failures would take it down: a provider asking to wait is no failure.
        w.providers.provider_failure_threshold = 2;
    })
    .await;
    let _workers = engine.run_workers();
    let started = Instant::now();
    let id = engine.submit(&["gas"], &hooks.uri()).await;
    // While the provider asks to wait, no failure is ever on record.
    while engine.webhook(&id).await.status != WebhookStatus::Delivered {
        let health = engine.ctx.health.view("gas").await.unwrap();
        assert!(
            !health.down && health.failures == 0,
            "no failure on record: {health:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "each Retry-After was waited: {:?}",
        started.elapsed()
    );
    assert_eq!(requests_to(&sources, "/gas").await, 4);
    let webhook = engine.webhook(&id).await;
    assert_eq!(
        webhook.outcome,
        Some(entity::webhook::WebhookOutcome::Completed)
    );
}

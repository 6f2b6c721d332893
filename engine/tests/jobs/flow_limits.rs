//! The limits on a provider or receiver as two worker processes share them through Redis:
//! two limiters on one Redis (as two processes hold) count against the same places and
//! the same instants.

use std::time::Duration;

use engine::flow::{Grant, Limiter, Limits};
use engine::queue::redis::connection;
use engine::testing::{redis_url, unique_name};

fn limiter(prefix: &str) -> Limiter {
    let conn = connection(&redis_url(), Duration::from_secs(5)).expect("a Redis URL");
    Limiter::new(Some(conn), prefix)
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn two_processes_share_a_concurrency_limit_and_places_come_back() {
    let prefix = unique_name();
    let (one, two) = (limiter(&prefix), limiter(&prefix));
    let limits = Limits {
        max_concurrent: Some(2),
        max_per_second: None,
    };
    let first = one.acquire("provider:gas", limits, LEASE).await.unwrap();
    let second = two.acquire("provider:gas", limits, LEASE).await.unwrap();
    assert!(matches!(first, Grant::Go { slot: Some(_), .. }));
    assert!(matches!(second, Grant::Go { slot: Some(_), .. }));
    let third = one.acquire("provider:gas", limits, LEASE).await.unwrap();
    assert!(
        matches!(third, Grant::Wait(wait) if wait >= Duration::from_secs(1)),
        "{third:?}"
    );
    // Another key has its own places.
    let other = two
        .acquire("provider:internet", limits, LEASE)
        .await
        .unwrap();
    assert!(matches!(other, Grant::Go { .. }));

    // A place given back (dropped) is free again once the release lands.
    drop(first);
    let mut freed = false;
    for _ in 0..50 {
        if let Grant::Go { .. } = two.acquire("provider:gas", limits, LEASE).await.unwrap() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "the place was never given back");
}

#[tokio::test]
async fn a_dead_holders_place_frees_when_its_lease_ends() {
    let prefix = unique_name();
    let one = limiter(&prefix);
    let limits = Limits {
        max_concurrent: Some(1),
        max_per_second: None,
    };
    let short = Duration::from_millis(300);
    let held = one.acquire("k", limits, short).await.unwrap();
    // The holder dies without giving it back.
    std::mem::forget(held);
    assert!(matches!(
        one.acquire("k", limits, short).await.unwrap(),
        Grant::Wait(_)
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(
        one.acquire("k", limits, short).await.unwrap(),
        Grant::Go { .. }
    ));
}

#[tokio::test]
async fn two_processes_share_a_rate_and_the_far_ones_come_back_spread_out() {
    let prefix = unique_name();
    let (one, two) = (limiter(&prefix), limiter(&prefix));
    let limits = Limits {
        max_concurrent: None,
        max_per_second: Some(10.0),
    };
    // When each request may go (or come back), on this process's clock: the gaps between
    // them do not depend on how long each call took.
    let mut goes = Vec::new();
    let mut backs = Vec::new();
    for i in 0..30 {
        let limiter = if i % 2 == 0 { &one } else { &two };
        let grant = limiter
            .acquire("receiver:t:h", limits, LEASE)
            .await
            .unwrap();
        let now = tokio::time::Instant::now();
        match grant {
            Grant::Go { after, .. } => goes.push(now + after),
            Grant::Wait(wait) => {
                assert!(
                    wait > Duration::from_secs(1),
                    "told to come back within the horizon: {wait:?}"
                );
                backs.push(now + wait);
            }
        }
    }
    // About one second's worth goes, each a tenth of a second after the one before (less
    // what the calls' own latency blurs).
    assert!((10..=15).contains(&goes.len()), "{} went", goes.len());
    for pair in goes.windows(2) {
        assert!(pair[1] - pair[0] > Duration::from_millis(60), "{goes:?}");
    }
    // The rest are told to come back one interval apart.
    assert!(!backs.is_empty());
    for pair in backs.windows(2) {
        assert!(pair[1] - pair[0] > Duration::from_millis(60), "{backs:?}");
    }
}

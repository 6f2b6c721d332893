//! When the next delivery attempt is due: the configured schedule, spread by jitter, and
//! lengthened (within a bound) by the receiver's `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The delay before attempt `next` (1-based) of a schedule, or `None` when it is exhausted.
pub fn delay_before(schedule: &[Duration], next: usize) -> Option<Duration> {
    schedule.get(next.checked_sub(1)?).copied()
}

/// `delay` spread by ±`jitter` (a fraction), so receivers that failed together are not
/// retried together.
pub fn jittered(delay: Duration, jitter: f64) -> Duration {
    let spread = 1.0 + jitter * (2.0 * fastrand::f64() - 1.0);
    delay.mul_f64(spread.max(0.0))
}

/// The wait a receiver asked for with `Retry-After` (seconds or an HTTP date).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    (at - now).to_std().ok()
}

/// The wait before the next attempt: the scheduled delay, unless the receiver asked for
/// longer, which is granted up to `max`.
pub fn next_delay(scheduled: Duration, retry_after: Option<Duration>, max: Duration) -> Duration {
    match retry_after {
        Some(asked) => scheduled.max(asked.min(max)),
        None => scheduled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_jitter_and_retry_after() {
        let schedule = [Duration::ZERO, Duration::from_secs(5)];
        assert_eq!(delay_before(&schedule, 1), Some(Duration::ZERO));
        assert_eq!(delay_before(&schedule, 2), Some(Duration::from_secs(5)));
        assert_eq!(delay_before(&schedule, 3), None);
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10), 0.2);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let (five, hour) = (Duration::from_secs(5), Duration::from_secs(3600));
        assert_eq!(
            next_delay(five, Some(Duration::from_secs(60)), hour),
            Duration::from_secs(60)
        );
        assert_eq!(next_delay(five, Some(Duration::from_secs(1)), hour), five);
        assert_eq!(
            next_delay(five, Some(Duration::from_secs(99_999)), hour),
            hour
        );
    }
}

//! What a finished delivery attempt leaves its webhook in, decided without the database:
//! delivered, another attempt at a time, or parked.

use chrono::{DateTime, Utc};
use entity::webhook::WebhookStatus;

use crate::config::WebhookConfig;
use crate::delivery::{AttemptResult, retry};

/// The outcome of one attempt for its webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver acknowledged it (2xx).
    Delivered,
    /// The next attempt is due then.
    Retry(DateTime<Utc>),
    /// The receiver asked to wait (429 or 503 with `Retry-After`): the next attempt then,
    /// and this one is not counted against the schedule.
    Snooze(DateTime<Utc>),
    /// No attempt is left, or the receiver answered 410 Gone.
    Park,
}

impl Verdict {
    /// The verdict on attempt `number` of at most `limit`, ended `now`, after `snoozes`
    /// earlier requests to wait: the wait the receiver asked for (429 or 503 with
    /// `Retry-After`, up to its maximum) while it has snoozes left, else the schedule's next
    /// delay (jittered), or later if the receiver asked.
    pub fn of(
        settings: &WebhookConfig,
        (number, limit): (i32, i32),
        snoozes: i32,
        result: &AttemptResult,
        now: DateTime<Utc>,
    ) -> Self {
        if result.delivered() {
            return Verdict::Delivered;
        }
        if result.gone() {
            return Verdict::Park;
        }
        let asked = result
            .retry_after
            .as_deref()
            .and_then(|v| retry::parse_retry_after(v, now));
        if let Some(asked) = asked.filter(|_| result.asks_to_wait())
            && i64::from(snoozes) < i64::from(settings.delivery_snooze_limit)
        {
            let wait = Ord::min(asked, settings.delivery_retry_after_max);
            return Verdict::Snooze(now + wait);
        }
        if number >= limit {
            return Verdict::Park;
        }
        let Some(scheduled) = retry::delay_before(&settings.delivery_schedule, number as usize + 1)
        else {
            return Verdict::Park;
        };
        Verdict::Retry(
            now + retry::next_delay(
                retry::jittered(scheduled, settings.delivery_jitter),
                asked,
                settings.delivery_retry_after_max,
            ),
        )
    }

    /// The webhook's status after it.
    pub fn status(self) -> WebhookStatus {
        match self {
            Verdict::Delivered => WebhookStatus::Delivered,
            Verdict::Retry(_) | Verdict::Snooze(_) => WebhookStatus::Delivering,
            Verdict::Park => WebhookStatus::Parked,
        }
    }

    /// When the next attempt is due, if there is one.
    pub fn next_at(self) -> Option<DateTime<Utc>> {
        match self {
            Verdict::Retry(at) | Verdict::Snooze(at) => Some(at),
            Verdict::Delivered | Verdict::Park => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        webhooks: WebhookConfig,
    }

    /// A schedule of three attempts (now, 5 s, 30 s), without jitter.
    fn settings() -> WebhookConfig {
        let cli = Cli::parse_from([
            "test",
            "--delivery-schedule",
            "0s,5s,30s",
            "--delivery-jitter",
            "0",
            "--delivery-retry-after-max",
            "1h",
        ]);
        cli.webhooks
    }

    fn answered(status: u16, retry_after: Option<&str>) -> AttemptResult {
        AttemptResult {
            started_at: Utc::now(),
            duration: Duration::from_millis(5),
            status: Some(status),
            error_kind: None,
            error_message: None,
            body: None,
            retry_after: retry_after.map(str::to_owned),
        }
    }

    #[test]
    fn a_2xx_is_delivered_whatever_attempt_it_was() {
        let now = Utc::now();
        assert_eq!(
            Verdict::of(&settings(), (3, 3), 0, &answered(204, None), now),
            Verdict::Delivered
        );
    }

    #[test]
    fn a_failure_retries_on_the_schedule_then_parks() {
        let now = Utc::now();
        let s = settings();
        let failed = answered(500, None);
        assert_eq!(
            Verdict::of(&s, (1, 3), 0, &failed, now),
            Verdict::Retry(now + TimeDelta::seconds(5))
        );
        assert_eq!(
            Verdict::of(&s, (2, 3), 0, &failed, now),
            Verdict::Retry(now + TimeDelta::seconds(30))
        );
        assert_eq!(Verdict::of(&s, (3, 3), 0, &failed, now), Verdict::Park);
        assert_eq!(Verdict::Park.status(), WebhookStatus::Parked);
        assert_eq!(Verdict::Park.next_at(), None);
    }

    #[test]
    fn gone_parks_at_once_and_retry_after_waits_longer() {
        let now = Utc::now();
        let s = settings();
        assert_eq!(
            Verdict::of(&s, (1, 3), 0, &answered(410, None), now),
            Verdict::Park
        );
        // A 500 asking to wait is a failure; its Retry-After still lengthens the wait.
        let failed = Verdict::of(&s, (1, 3), 0, &answered(500, Some("120")), now);
        assert_eq!(failed, Verdict::Retry(now + TimeDelta::seconds(120)));
        assert_eq!(failed.status(), WebhookStatus::Delivering);
    }

    #[test]
    fn a_receiver_asking_to_wait_snoozes_until_its_snoozes_run_out() {
        let now = Utc::now();
        let s = settings();
        for status in [429, 503] {
            let asked = answered(status, Some("120"));
            // Even on the last attempt: this one does not count.
            assert_eq!(
                Verdict::of(&s, (3, 3), 0, &asked, now),
                Verdict::Snooze(now + TimeDelta::seconds(120))
            );
            let limit = s.delivery_snooze_limit as i32;
            assert_eq!(
                Verdict::of(&s, (1, 3), limit - 1, &asked, now),
                Verdict::Snooze(now + TimeDelta::seconds(120))
            );
            // Spent: a failed attempt like any other, which still waits as asked.
            assert_eq!(
                Verdict::of(&s, (1, 3), limit, &asked, now),
                Verdict::Retry(now + TimeDelta::seconds(120))
            );
            assert_eq!(Verdict::of(&s, (3, 3), limit, &asked, now), Verdict::Park);
        }
        // Without a Retry-After, a 429 is a failure.
        assert_eq!(
            Verdict::of(&s, (1, 3), 0, &answered(429, None), now),
            Verdict::Retry(now + TimeDelta::seconds(5))
        );
        // A wait past the maximum is cut to it.
        let long = Verdict::of(&s, (1, 3), 0, &answered(429, Some("86400")), now);
        assert_eq!(long, Verdict::Snooze(now + TimeDelta::hours(1)));
        assert_eq!(long.status(), WebhookStatus::Delivering);
    }
}

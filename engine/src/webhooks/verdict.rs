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
    /// No attempt is left, or the receiver answered 410 Gone.
    Park,
}

impl Verdict {
    /// The verdict on attempt `number` of at most `limit`, ended `now`: the schedule's next
    /// delay (jittered), or later if the receiver asked (`Retry-After`, up to its maximum).
    pub fn of(
        settings: &WebhookConfig,
        number: i32,
        limit: i32,
        result: &AttemptResult,
        now: DateTime<Utc>,
    ) -> Self {
        if result.delivered() {
            return Verdict::Delivered;
        }
        if result.gone() || number >= limit {
            return Verdict::Park;
        }
        let Some(scheduled) = retry::delay_before(&settings.delivery_schedule, number as usize + 1)
        else {
            return Verdict::Park;
        };
        let asked = result
            .retry_after
            .as_deref()
            .and_then(|v| retry::parse_retry_after(v, now));
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
            Verdict::Retry(_) => WebhookStatus::Delivering,
            Verdict::Park => WebhookStatus::Parked,
        }
    }

    /// When the next attempt is due, if there is one.
    pub fn next_at(self) -> Option<DateTime<Utc>> {
        match self {
            Verdict::Retry(at) => Some(at),
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
            Verdict::of(&settings(), 3, 3, &answered(204, None), now),
            Verdict::Delivered
        );
    }

    #[test]
    fn a_failure_retries_on_the_schedule_then_parks() {
        let now = Utc::now();
        let s = settings();
        let failed = answered(500, None);
        assert_eq!(
            Verdict::of(&s, 1, 3, &failed, now),
            Verdict::Retry(now + TimeDelta::seconds(5))
        );
        assert_eq!(
            Verdict::of(&s, 2, 3, &failed, now),
            Verdict::Retry(now + TimeDelta::seconds(30))
        );
        assert_eq!(Verdict::of(&s, 3, 3, &failed, now), Verdict::Park);
        assert_eq!(Verdict::Park.status(), WebhookStatus::Parked);
        assert_eq!(Verdict::Park.next_at(), None);
    }

    #[test]
    fn gone_parks_at_once_and_retry_after_waits_longer() {
        let now = Utc::now();
        let s = settings();
        assert_eq!(
            Verdict::of(&s, 1, 3, &answered(410, None), now),
            Verdict::Park
        );
        let asked = Verdict::of(&s, 1, 3, &answered(429, Some("120")), now);
        assert_eq!(asked, Verdict::Retry(now + TimeDelta::seconds(120)));
        assert_eq!(asked.status(), WebhookStatus::Delivering);
    }
}

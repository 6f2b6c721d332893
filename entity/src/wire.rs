//! Each stored value as the wire contract names it, and back: the only place that maps
//! one to the other.

use openapi::webhooks as wire;

use crate::delivery_attempt::AttemptStatus;
use crate::webhook::{WebhookOutcome, WebhookStatus};

impl From<WebhookStatus> for wire::WebhookStatus {
    fn from(status: WebhookStatus) -> Self {
        match status {
            WebhookStatus::Collecting => wire::WebhookStatus::Collecting,
            WebhookStatus::Delivering => wire::WebhookStatus::Delivering,
            WebhookStatus::Delivered => wire::WebhookStatus::Delivered,
            WebhookStatus::Parked => wire::WebhookStatus::Parked,
        }
    }
}

impl From<wire::WebhookStatus> for WebhookStatus {
    fn from(status: wire::WebhookStatus) -> Self {
        match status {
            wire::WebhookStatus::Collecting => WebhookStatus::Collecting,
            wire::WebhookStatus::Delivering => WebhookStatus::Delivering,
            wire::WebhookStatus::Delivered => WebhookStatus::Delivered,
            wire::WebhookStatus::Parked => WebhookStatus::Parked,
        }
    }
}

impl From<WebhookOutcome> for wire::Outcome {
    fn from(outcome: WebhookOutcome) -> Self {
        match outcome {
            WebhookOutcome::Completed => wire::Outcome::Completed,
            WebhookOutcome::Failed => wire::Outcome::Failed,
        }
    }
}

impl From<wire::Outcome> for WebhookOutcome {
    fn from(outcome: wire::Outcome) -> Self {
        match outcome {
            wire::Outcome::Completed => WebhookOutcome::Completed,
            wire::Outcome::Failed => WebhookOutcome::Failed,
        }
    }
}

impl From<AttemptStatus> for wire::AttemptStatus {
    fn from(status: AttemptStatus) -> Self {
        match status {
            AttemptStatus::InFlight => wire::AttemptStatus::InFlight,
            AttemptStatus::Completed => wire::AttemptStatus::Completed,
            AttemptStatus::Unknown => wire::AttemptStatus::Unknown,
        }
    }
}

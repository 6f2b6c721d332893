//! Where a webhook, each of its providers and each delivery attempt stands.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where one provider stands for one webhook: `pending` until its data arrives
/// (`fetched`), or `failed` when the collection deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderProgressStatus {
    /// Not fetched yet; retried while the deadline has not passed.
    Pending,
    /// Its data is stored.
    Fetched,
    /// The deadline passed before its data arrived.
    Failed,
}

/// A provider's shared health: `up`; `failing` after a failure (still called); `down` after
/// `PROVIDER_FAILURE_THRESHOLD` consecutive failures (only one probe per cool-down reaches it);
/// a success brings it back `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderHealth {
    /// Its last call succeeded.
    Up,
    /// Recent failures, still called.
    Failing,
    /// Only probes reach it until it answers again.
    Down,
}

/// What made a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptTrigger {
    /// The retry schedule.
    Scheduled,
    /// `POST /v1/webhooks/{id}/redeliver`.
    Manual,
}

/// Why a delivery attempt got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptErrorKind {
    /// The receiver did not answer within `DELIVERY_TIMEOUT`.
    Timeout,
    /// No connection could be made (DNS, refused, reset).
    Connect,
    /// The callback's host resolved only to addresses callbacks may not reach.
    RefusedAddress,
    /// The request failed otherwise.
    Request,
}

/// Where a webhook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// Fetching its providers.
    Collecting,
    /// Collected; the callback is being delivered (or waits for its next attempt).
    Delivering,
    /// The receiver acknowledged the callback with a 2xx.
    Delivered,
    /// Every scheduled attempt failed, or the receiver answered 410: waits for a redelivery.
    Parked,
}

impl WebhookStatus {
    /// Every status.
    pub const ALL: [WebhookStatus; 4] = [
        WebhookStatus::Collecting,
        WebhookStatus::Delivering,
        WebhookStatus::Delivered,
        WebhookStatus::Parked,
    ];

    /// Its name, as stored and as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Collecting => "collecting",
            WebhookStatus::Delivering => "delivering",
            WebhookStatus::Delivered => "delivered",
            WebhookStatus::Parked => "parked",
        }
    }

    /// The status called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// How a collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every provider's data arrived.
    Completed,
    /// The collection deadline passed first; `errors` says what is missing.
    Failed,
}

impl Outcome {
    /// Its name, as stored and as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Outcome::Completed, Outcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

/// Where a delivery attempt stands: recorded before its POST, completed after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The POST is being made.
    InFlight,
    /// The POST ended: its answer or failure is recorded.
    Completed,
    /// Its worker died during the POST: the receiver may have it (same `webhook-id`).
    Unknown,
}

//! Bodies of the webhook endpoints, and the callback body receivers get.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// `POST /v1/webhooks`: collect from `provider` (one name or several), then POST the
/// aggregate to `callbackUrl`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"provider": ["gas", "internet"], "callbackUrl": "https://example.com/hooks/bills"}))]
pub struct SubmitWebhook {
    /// A configured provider's name, or a non-empty list of distinct names.
    pub provider: ProviderSelection,
    /// Absolute http(s) URL, at most 2048 characters, on a public address.
    #[schema(max_length = 2048, format = "uri")]
    pub callback_url: String,
}

/// One provider name, or several.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProviderSelection {
    /// One provider.
    One(String),
    /// Several providers, each once.
    Many(Vec<String>),
}

impl ProviderSelection {
    /// The names, as given.
    pub fn names(&self) -> Vec<&str> {
        match self {
            ProviderSelection::One(name) => vec![name.as_str()],
            ProviderSelection::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }
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

/// The webhook is recorded and its collection queued.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAccepted {
    /// The webhook's id (also the `webhook-id` of its callback).
    pub id: String,
    /// `collecting` when new; the current status for a repeated `Idempotency-Key`.
    pub status: WebhookStatus,
    /// Where to follow it (also in `Location`).
    pub status_url: String,
}

/// A webhook: its collection, provider by provider, and its delivery, attempt by attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// The webhook's id.
    pub id: String,
    /// Where it stands.
    pub status: WebhookStatus,
    /// How the collection ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Where the callback goes.
    pub callback_url: String,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When collection gives up on missing providers.
    pub deadline_at: DateTime<Utc>,
    /// When collection ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<DateTime<Utc>>,
    /// When the callback was last acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Each provider's progress, in the submitted order.
    pub providers: Vec<ProviderProgress>,
    /// The callback's delivery.
    pub delivery: Delivery,
}

/// One provider's progress for one webhook.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderProgress {
    /// The provider.
    pub name: String,
    /// `pending`, `fetched`, or `failed` (deadline passed).
    pub status: String,
    /// Requests made to it for this webhook.
    pub attempts: i32,
    /// Why the last request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When its data arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
}

/// The delivery of a webhook's callback.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Attempts so far, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The attempt after which the webhook parks.
    pub attempt_limit: i32,
}

/// One POST to the callback URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub number: i32,
    /// Whether its outcome is known.
    pub status: AttemptStatus,
    /// `scheduled`, or `manual` for a redelivery.
    pub trigger: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: i64,
    /// The receiver's status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    /// Why it failed without an answer: `timeout`, `connect`, `refused_address`, `request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// The failure's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The first 4 KiB of the receiver's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// When the next attempt was scheduled for, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
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

/// A webhook in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSummary {
    /// The webhook's id.
    pub id: String,
    /// Where it stands.
    pub status: WebhookStatus,
    /// How the collection ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Where the callback goes.
    pub callback_url: String,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far.
    pub delivery_attempts: i32,
    /// When its next job is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<DateTime<Utc>>,
}

/// One page of webhooks, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPage {
    /// The webhooks of this page.
    pub items: Vec<WebhookSummary>,
    /// This page, from 1.
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Webhooks matching the filter.
    pub total: u64,
}

/// `GET /v1/webhooks`: filter and page.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WebhookListQuery {
    /// Only webhooks in this status: `collecting`, `delivering`, `delivered` or `parked`.
    #[param(example = "parked")]
    pub status: Option<String>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1, example = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500, example = 50)]
    pub page_size: Option<String>,
}

/// What a callback receiver gets, signed per Standard Webhooks (`webhook-id` is `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    /// The webhook's id.
    pub id: String,
    /// `completed`, or `failed` when the deadline passed with providers missing.
    pub status: Outcome,
    /// Each provider's data, under its name.
    #[schema(value_type = Object)]
    pub data: BTreeMap<String, serde_json::Value>,
    /// Why each missing provider is missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    /// When the webhook was submitted.
    pub created_at: DateTime<Utc>,
    /// When collection ended.
    pub completed_at: DateTime<Utc>,
}

/// A configured provider and its health, shared by every worker.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The provider's name.
    pub name: String,
    /// Where it is fetched from.
    pub url: String,
    /// How long a request to it may take, in milliseconds.
    pub timeout_ms: u64,
    /// `up`, `failing` (recent failures, still called) or `down` (only probes reach it).
    pub health: String,
    /// Failures since its last success.
    pub consecutive_failures: u32,
    /// Since when it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_since: Option<DateTime<Utc>>,
    /// When the next probe may reach it, while down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_probe_at: Option<DateTime<Utc>>,
}

/// Every configured provider.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    /// In configuration order.
    pub items: Vec<ProviderStatus>,
}

/// A callback receiver host and its health, shared by every worker.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// The host callbacks go to: `scheme://host:port`.
    pub host: String,
    /// `failing` (recent failures, still delivered to) or `down` (its circuit is open:
    /// only one probe per cool-down reaches it; the other deliveries wait).
    pub health: String,
    /// Failed deliveries since its last success.
    pub consecutive_failures: u32,
    /// Since when it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_since: Option<DateTime<Utc>>,
    /// When the next probe may reach it, while down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_probe_at: Option<DateTime<Utc>>,
}

/// Every receiver host with failures on record; a host not listed is up.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiverList {
    /// By host.
    pub items: Vec<ReceiverStatus>,
}

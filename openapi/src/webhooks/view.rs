//! A webhook as its submission is acknowledged and as `GET /v1/webhooks/{id}` shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    AttemptErrorKind, AttemptStatus, AttemptTrigger, CallbackBody, Outcome, ProviderProgressStatus,
    WebhookStatus, provider_data_schema,
};

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
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// Where it stands.
    pub status: WebhookStatus,
    /// How the collection ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Where the callback goes.
    pub callback_url: String,
    /// When it was submitted.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When collection gives up on missing providers.
    #[serde(with = "crate::json::timestamp")]
    pub deadline_at: DateTime<Utc>,
    /// When collection ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub collected_at: Option<DateTime<Utc>>,
    /// When the callback was last acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Each provider's progress, in the submitted order.
    pub providers: Vec<ProviderProgress>,
    /// The callback body every attempt sends, once collection has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_body: Option<CallbackBody>,
    /// The callback's delivery.
    pub delivery: Delivery,
    /// Its ordering key, if submitted with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// While it waits without spending an attempt: why (`provider_down`,
    /// `provider_limit`, `provider_paused`, `provider_busy`, `receiver_down`,
    /// `receiver_limit`, `receiver_paused`, `receiver_busy`, `ordering`, `turn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// What it waits on: a provider's name, a receiver's host, its ordering key, or (for
    /// `turn`) its tenant's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<String>,
}

/// One provider's progress for one webhook.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderProgress {
    /// The provider.
    pub name: String,
    /// Where it stands.
    #[schema(value_type = ProviderProgressStatus)]
    pub status: String,
    /// Requests made to it for this webhook.
    pub attempts: i32,
    /// Why the last request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When its data arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub fetched_at: Option<DateTime<Utc>>,
    /// The provider's answer, once fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = provider_data_schema)]
    pub data: Option<serde_json::Value>,
}

/// The delivery of a webhook's callback.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Attempts so far, oldest first. An attempt the receiver answered asking to wait (429
    /// or 503 with `Retry-After`) is listed but not counted: the next one has its number.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The attempt after which the webhook parks.
    pub attempt_limit: i32,
    /// How many times the receiver asked to wait; past `DELIVERY_SNOOZE_LIMIT` such an
    /// answer counts as a failed attempt.
    pub snoozes: i32,
}

/// One POST to the callback URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub number: i32,
    /// Whether its outcome is known.
    pub status: AttemptStatus,
    /// What made it.
    #[schema(value_type = AttemptTrigger)]
    pub trigger: String,
    /// When it started.
    #[serde(with = "crate::json::timestamp")]
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: i64,
    /// The receiver's status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    /// Why it failed without an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<AttemptErrorKind>)]
    pub error_kind: Option<String>,
    /// The failure's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The first 4 KiB of the receiver's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// When the next attempt was scheduled for, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

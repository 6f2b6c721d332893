//! Bodies of the webhook endpoints, and the callback body receivers get.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

/// The pattern every callback URL matches: http(s), a host name or an IPv4 address, an
/// optional port, path and query; no user info, no fragment.
pub const CALLBACK_URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}",
    r"|(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)",
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?",
    r"(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$",
);

/// Longest callback URL accepted.
pub const MAX_CALLBACK_URL_LENGTH: usize = 2048;

/// `POST /v1/webhooks`: collect from `provider` (one name or several), then POST the
/// aggregate to `callbackUrl`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"provider": ["gas", "internet"], "callbackUrl": "https://example.com/hooks/bills"}))]
pub struct SubmitWebhook {
    /// A configured provider's name, or a non-empty list of distinct names.
    pub provider: ProviderSelection,
    /// Absolute http(s) URL with a host name or IPv4 address, at most 2048 characters, on a
    /// public address unless the server allows private callbacks.
    #[validate(
        length(max = 2048, message = "must be at most 2048 characters"),
        custom(function = "callback_url_shape")
    )]
    #[schema(max_length = 2048, example = "https://example.com/hooks/bills")]
    pub callback_url: String,
}

fn callback_url_shape(url: &str) -> Result<(), ValidationError> {
    static PATTERN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(CALLBACK_URL_PATTERN).expect("a valid pattern"));
    if url.len() <= MAX_CALLBACK_URL_LENGTH && !PATTERN.is_match(url) {
        return Err(ValidationError::new("callback_url").with_message(
            "must be an absolute http or https URL with a host name or IPv4 address, \
             no user name and no fragment"
                .into(),
        ));
    }
    Ok(())
}

/// A configured provider's name. The document lists the providers the server was
/// configured with.
#[derive(Debug, Clone, ToSchema)]
#[schema(example = "gas")]
pub struct ProviderName(pub String);

/// One provider name, or a non-empty list of distinct names.
#[derive(Debug, Clone)]
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

    /// The field naming the `index`th provider: `provider` for one, `provider/1` in a list.
    pub fn field(&self, index: usize) -> String {
        match self {
            ProviderSelection::One(_) => "provider".to_owned(),
            ProviderSelection::Many(_) => format!("provider/{index}"),
        }
    }
}

impl<'de> Deserialize<'de> for ProviderSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SelectionVisitor)
    }
}

struct SelectionVisitor;

impl<'de> Visitor<'de> for SelectionVisitor {
    type Value = ProviderSelection;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a provider name or a list of provider names")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<ProviderSelection, E> {
        Ok(ProviderSelection::One(name.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProviderSelection, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = seq.next_element::<String>()? {
            names.push(name);
        }
        Ok(ProviderSelection::Many(names))
    }
}

impl utoipa::PartialSchema for ProviderSelection {
    fn schema() -> RefOr<Schema> {
        let name = || Ref::from_schema_name("ProviderName");
        OneOfBuilder::new()
            .item(name())
            .item(
                ArrayBuilder::new()
                    .items(name())
                    .min_items(Some(1))
                    .unique_items(true),
            )
            .description(Some(
                "A configured provider's name, or a non-empty list of distinct names.",
            ))
            .into()
    }
}

impl ToSchema for ProviderSelection {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            "ProviderName".to_owned(),
            <ProviderName as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// The schema of a provider's answer as stored: the JSON array or object it sent.
pub fn provider_data_schema() -> Schema {
    let one_of = OneOfBuilder::new()
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(SchemaType::AnyValue)))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object)))
        .description(Some(
            "The provider's answer as it sent it: a JSON array or object.",
        ))
        .build();
    Schema::OneOf(one_of)
}

/// Each provider's answer under its name.
pub fn provider_data_map_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .additional_properties(Some(provider_data_schema()))
            .build(),
    )
}

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
    /// Attempts so far, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
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
    /// Delivery attempts so far.
    pub delivery_attempts: i32,
    /// When its next job is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub next_run_at: Option<DateTime<Utc>>,
}

/// One page of webhooks, in the order asked for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPage {
    /// The webhooks of this page.
    pub items: Vec<WebhookSummary>,
    /// This page, from 1 (numbered paging; 1 when paging with `after`).
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Webhooks matching the filter; counted only for numbered paging (`page`), not with
    /// `after`, so that paging through millions stays fast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The `after` that fetches the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// `GET /v1/webhooks`: filter, then page by number (`page`) or after an id (`after`).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WebhookListQuery {
    /// Only webhooks in this status.
    #[param(value_type = Option<WebhookStatus>, example = "parked")]
    pub status: Option<String>,
    /// Only webhooks that collect from this provider.
    #[param(example = "gas")]
    pub provider: Option<String>,
    /// Only webhooks whose callback URL is on this host (`host` or `host:port`).
    #[param(
        example = "example.com",
        max_length = 260,
        pattern = "^[A-Za-z0-9._:\\[\\]-]*$"
    )]
    pub callback_host: Option<String>,
    /// Only webhooks submitted at or after this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>, example = "2026-01-01T00:00:00Z")]
    pub created_after: Option<String>,
    /// Only webhooks submitted before this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>, example = "2026-01-02T00:00:00Z")]
    pub created_before: Option<String>,
    /// A webhook id, or the start of one (case does not matter).
    #[param(
        example = "01J",
        max_length = 26,
        pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]*$"
    )]
    pub search: Option<String>,
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[param(value_type = Option<ListOrder>, example = "desc")]
    pub order: Option<String>,
    /// Keyset paging: the `nextAfter` of the previous page (empty for the first page).
    /// Fast at any depth; the page has no `total`.
    pub after: Option<String>,
    /// Numbered paging: the page, from 1 (default 1); ignored when `after` is given.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000, example = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 50)]
    pub page_size: Option<String>,
    /// Only this tenant's webhooks; for the operator's key (tenant keys always list their own).
    pub tenant: Option<String>,
}

/// `POST /v1/webhooks/redeliver`: every webhook matching the filter gets one more delivery
/// attempt; with `dryRun`, only counts them.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"status": "parked", "callbackHost": "example.com", "dryRun": true}))]
pub struct BulkRedeliver {
    /// `parked` (the default) or `delivered`: webhooks in other statuses are not
    /// redeliverable.
    #[schema(value_type = Option<RedeliverableStatus>)]
    pub status: Option<String>,
    /// Only webhooks that collect from this provider.
    #[schema(value_type = Option<ProviderName>)]
    pub provider: Option<String>,
    /// Only webhooks whose callback URL is on this host (`host` or `host:port`).
    #[schema(max_length = 260, pattern = "^[A-Za-z0-9._:\\[\\]-]*$")]
    pub callback_host: Option<String>,
    /// Only webhooks submitted at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Only webhooks submitted before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// A webhook id, or the start of one.
    #[schema(max_length = 26, pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]*$")]
    pub search: Option<String>,
    /// Count only; redeliver nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The order of a list by id, which is the order of submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// The statuses a webhook can be redelivered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedeliverableStatus {
    /// Every attempt failed; the default of a bulk redelivery.
    Parked,
    /// A 2xx was received; it may be sent again.
    Delivered,
}

/// What a bulk redelivery matched and did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkRedeliverResult {
    /// Webhooks matching the filter when the request arrived.
    pub matched: u64,
    /// Webhooks given a new attempt (0 for a dry run). Fewer than `matched` when some
    /// were redelivered meanwhile by someone else, or past `limit`.
    pub redelivered: u64,
    /// The most one request redelivers; repeat the request for the rest.
    pub limit: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
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
    #[schema(schema_with = provider_data_map_schema)]
    pub data: BTreeMap<String, serde_json::Value>,
    /// Why each missing provider is missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    /// When the webhook was submitted.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When collection ended.
    #[serde(with = "crate::json::timestamp")]
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
    /// Its shared health.
    #[schema(value_type = ProviderHealth)]
    pub health: String,
    /// Failures since its last success.
    pub consecutive_failures: u32,
    /// Since when it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub down_since: Option<DateTime<Utc>>,
    /// When the next probe may reach it, while down.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
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

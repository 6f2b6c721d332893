//! `GET /v1/webhooks` and `POST /v1/webhooks/redeliver`: filters, pages and their results.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{Outcome, ProviderName, WebhookStatus};

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
    /// The most webhooks this request redelivers, 1 to 10,000 (the default,
    /// `MAX_BULK_REDELIVER`); repeat the request for the rest.
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[validate(range(min = 1, max = 10_000, message = "must be from 1 to 10000"))]
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

/// The most webhooks one bulk redelivery gives an attempt; the rest wait for the next
/// request, so that one click cannot hold a connection for minutes.
pub const MAX_BULK_REDELIVER: u64 = 10_000;

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
    /// The most this request redelivered (its `limit`, or 10,000); repeat the request for
    /// the rest.
    pub limit: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

//! Bodies of the stream endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::webhooks::ProviderName;

/// The interval of a stream when none is asked for.
pub const DEFAULT_INTERVAL_SECONDS: i64 = 300;
/// The longest interval a stream may ask for.
pub const MAX_INTERVAL_SECONDS: i64 = 86_400;

/// `POST /v1/streams`: fetch `provider` every `intervalSeconds`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"provider": "gas", "intervalSeconds": 300}))]
pub struct CreateStream {
    /// A configured provider's name.
    #[schema(value_type = ProviderName)]
    pub provider: String,
    /// Seconds between runs, a whole number from `STREAM_MIN_INTERVAL` (10 by default) to
    /// 86,400; default 300.
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[schema(minimum = 10, maximum = 86400, default = 300)]
    pub interval_seconds: Option<i64>,
}

/// Where a stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    /// It runs on its slots.
    Active,
    /// It was stopped; it never fetches until started again.
    Stopped,
}

/// A stream.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    /// The stream's id.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// The provider it fetches.
    pub provider: String,
    /// Seconds between runs.
    pub interval_seconds: i64,
    /// Where it stands.
    pub status: StreamStatus,
    /// When it was created; its runs are due at this time + k × interval.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When its next run is due, while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub next_run_at: Option<DateTime<Utc>>,
    /// When it was last stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub stopped_at: Option<DateTime<Utc>>,
}

/// One page of streams, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamPage {
    /// The streams of this page.
    pub items: Vec<Stream>,
    /// This page, from 1.
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Streams matching the filter.
    pub total: u64,
}

/// `GET /v1/streams`: filter and page.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StreamListQuery {
    /// Only streams in this status: `active` or `stopped`.
    #[param(value_type = Option<StreamStatus>, example = "active")]
    pub status: Option<String>,
    /// The page, from 1 (default 1).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000, example = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 50)]
    pub page_size: Option<String>,
    /// Only this tenant's streams; for the operator's key (tenant keys always list their own).
    pub tenant: Option<String>,
}

/// Where one run of a stream stands. A run is `running` from the moment its slot is
/// claimed; it ends `complete` (with the provider's data), `failed` (the provider answered
/// with an error) or `skipped` (the provider was down, so it was not called).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// The provider is being called.
    Running,
    /// The provider's answer is stored; the newest complete batch is the stream's data.
    Complete,
    /// The provider failed; `reason` says how.
    Failed,
    /// The provider was down; it was not called.
    Skipped,
}

/// One run of a stream.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatch {
    /// The slot it ran for.
    #[serde(with = "crate::json::timestamp")]
    pub slot: DateTime<Utc>,
    /// Where the run stands.
    #[schema(value_type = BatchStatus)]
    pub status: String,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it started.
    #[serde(with = "crate::json::timestamp")]
    pub started_at: DateTime<Utc>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The provider's answer, for complete runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::webhooks::provider_data_schema)]
    pub data: Option<serde_json::Value>,
}

/// One page of a stream's runs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatchPage {
    /// The runs of this page.
    pub items: Vec<StreamBatch>,
    /// This page, from 1.
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Runs kept.
    pub total: u64,
}

/// The latest complete batch of a stream.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamData {
    /// The stream.
    pub stream_id: String,
    /// The slot it ran for.
    #[serde(with = "crate::json::timestamp")]
    pub slot: DateTime<Utc>,
    /// When the data was fetched.
    #[serde(with = "crate::json::timestamp")]
    pub fetched_at: DateTime<Utc>,
    /// The provider's answer.
    #[schema(schema_with = crate::webhooks::provider_data_schema)]
    pub data: serde_json::Value,
}

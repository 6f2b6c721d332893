//! Bodies of the stream endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// The interval of a stream when none is asked for.
pub const DEFAULT_INTERVAL_SECONDS: i64 = 300;
/// The longest interval a stream may ask for.
pub const MAX_INTERVAL_SECONDS: i64 = 86_400;

/// `POST /v1/streams`: fetch `provider` every `intervalSeconds`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"provider": "gas", "intervalSeconds": 300}))]
pub struct CreateStream {
    /// A configured provider's name.
    pub provider: String,
    /// Seconds between runs, 10 (by default) to 86,400; default 300.
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
    /// The provider it fetches.
    pub provider: String,
    /// Seconds between runs.
    pub interval_seconds: i64,
    /// Where it stands.
    pub status: StreamStatus,
    /// When it was created; its runs are due at this time + k × interval.
    pub created_at: DateTime<Utc>,
    /// When its next run is due, while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<DateTime<Utc>>,
    /// When it was last stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[param(example = "active")]
    pub status: Option<String>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1, example = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100, example = 50)]
    pub page_size: Option<String>,
}

/// One run of a stream.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatch {
    /// The slot it ran for.
    pub slot: DateTime<Utc>,
    /// `running`, `complete`, `failed` or `skipped`.
    pub status: String,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The provider's answer, for complete runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
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
    pub slot: DateTime<Utc>,
    /// When the data was fetched.
    pub fetched_at: DateTime<Utc>,
    /// The provider's answer.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

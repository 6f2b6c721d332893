//! `GET /v1/stats`: what an operator looks at first — webhooks by status, the last hour's
//! traffic, the queues, the workers, provider health and the counter flush.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::webhooks::ProviderStatus;

/// The platform at a glance, for one tenant (or every tenant, for the operator's key). A
/// tenant sees its own work only: the queues, the workers and the flush's size are the
/// operator's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// When these figures were read.
    #[serde(with = "crate::json::timestamp")]
    pub generated_at: DateTime<Utc>,
    /// The tenant they are about; absent when they cover every tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Webhooks in each status (every status is listed, zeros included).
    pub webhooks: Vec<StatusCount>,
    /// Streams in each status (every status is listed, zeros included).
    pub streams: Vec<StatusCount>,
    /// The last hour.
    pub last_hour: LastHour,
    /// Each job queue, shared by every tenant: the operator's key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<QueueStats>>,
    /// Worker processes registered with the queues and their last heartbeat: the operator's
    /// key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<Vec<WorkerStats>>,
    /// Each configured provider's health (its URL for the operator's key only).
    pub providers: Vec<ProviderStatus>,
    /// The counter flush, shared by every tenant: how fresh counter reads are.
    pub counters: CounterFlushStats,
    /// Webhooks waiting without spending an attempt, by reason (every reason is listed,
    /// zeros included): a provider or receiver down, paused, at its limit or asking to wait,
    /// an earlier webhook of the same ordering key, or the tenant's turn in the queue.
    #[serde(default)]
    pub waiting: Vec<WaitingReason>,
}

/// How many webhooks wait for one reason.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WaitingReason {
    /// `provider_down`, `provider_limit`, `provider_paused`, `provider_busy`,
    /// `receiver_down`, `receiver_limit`, `receiver_paused`, `receiver_busy`, `ordering` or
    /// `turn`.
    pub reason: String,
    /// Webhooks waiting for it.
    pub count: u64,
}

/// How many webhooks (or streams) are in one status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusCount {
    /// A webhook's `collecting`, `delivering`, `delivered` or `parked`; a stream's `active`
    /// or `stopped`.
    pub status: String,
    /// Webhooks (or streams) in it.
    pub count: u64,
}

/// Figures over the last 60 minutes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastHour {
    /// One entry per minute, oldest first, 60 of them; the last is the current minute.
    pub minutes: Vec<MinuteStats>,
    /// Webhooks submitted.
    pub submitted: u64,
    /// Delivery attempts made.
    pub attempts: u64,
    /// Attempts the receiver acknowledged with a 2xx.
    pub delivered: u64,
    /// `delivered / attempts`, from 0 to 1; absent when nothing was attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    /// Median time from submission to acknowledged callback, of webhooks delivered in
    /// the last hour, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<i64>,
    /// 99th percentile of the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<i64>,
    /// How many deliveries the percentiles were computed from (the newest, at most 10,000).
    pub sample_size: u64,
}

/// One minute's traffic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MinuteStats {
    /// The minute's start.
    #[serde(with = "crate::json::timestamp")]
    pub minute: DateTime<Utc>,
    /// Webhooks submitted in it.
    pub submitted: u64,
    /// Delivery attempts acknowledged with a 2xx in it.
    pub delivered: u64,
    /// Delivery attempts that failed in it.
    pub failed: u64,
}

/// One job queue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// The queue's name: `collect`, `deliver`, `stream_tick`, …
    pub name: String,
    /// Jobs due now, waiting for a worker.
    pub ready: u64,
    /// Jobs due later.
    pub scheduled: u64,
    /// Jobs a worker holds now.
    pub running: u64,
    /// How long the oldest job due has been waiting, in seconds; absent when none waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_ready_seconds: Option<f64>,
    /// Whether the oldest job due has waited longer than `QUEUE_STALL_AFTER`: the queue is
    /// wedged, or no worker serves it.
    pub stalled: bool,
}

/// A worker registered with a queue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStats {
    /// The worker's name.
    pub name: String,
    /// The queue it serves.
    pub queue: String,
    /// Its last heartbeat.
    #[serde(with = "crate::json::timestamp")]
    pub last_seen: DateTime<Utc>,
    /// Whether that heartbeat is recent enough for the worker to count as alive.
    pub alive: bool,
}

/// The counter flush.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CounterFlushStats {
    /// When the last batch was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, with = "crate::json::option_timestamp")]
    pub last_flush_at: Option<DateTime<Utc>>,
    /// Counters the last batch changed, every tenant's: the operator's key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_flush_keys: Option<i64>,
    /// How long applying the last batch took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_flush_duration_ms: Option<i64>,
    /// Age of the oldest increment not yet flushed, in seconds (0 when none waits).
    pub lag_seconds: f64,
}

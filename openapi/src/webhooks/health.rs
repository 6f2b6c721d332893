//! Providers and receiver hosts with their shared health (`GET /v1/providers`, `GET /v1/receivers`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ProviderHealth;

/// A configured provider and its health, shared by every worker.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The provider's name.
    pub name: String,
    /// Where it is fetched from, with any user, password and query values replaced by
    /// `***`: the operator's key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
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
    /// Whether the operator paused it (in maintenance: collections wait, nothing is sent).
    #[serde(default)]
    pub paused: bool,
    /// Since when, while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::json::option_timestamp")]
    pub paused_at: Option<DateTime<Utc>>,
    /// The operator's limits on it (none set: unlimited).
    #[serde(default)]
    pub limits: super::FlowLimits,
    /// Collections waiting on it: the caller's own (the operator's key: every tenant's, or
    /// one tenant's with `?tenant=`).
    #[serde(default)]
    pub waiting: super::WaitingCounts,
}

/// Every configured provider.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    /// In configuration order.
    pub items: Vec<ProviderStatus>,
}

/// A callback receiver host and the health of one of its circuits, shared by every
/// worker: a tenant's own (the answers its deliveries got), or, for the operator, the
/// host's (deliveries of any tenant that got no answer at all: refused, reset, timed out).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// The host callbacks go to: `scheme://host:port`.
    pub host: String,
    /// The tenant whose deliveries these figures count; absent for the host's own circuit,
    /// which only the operator sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
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

/// Every receiver host with failures on record (a host not listed is up), and every host
/// with settings or waiting webhooks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiverList {
    /// The circuits with failures on record, by host.
    pub items: Vec<ReceiverStatus>,
    /// The hosts a tenant paused or limited, or that webhooks wait on, by host.
    #[serde(default)]
    pub controls: Vec<super::ReceiverControl>,
}

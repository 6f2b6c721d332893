//! The state every handler shares.

use std::sync::Arc;

use engine::config::{StreamConfig, WebhookConfig};
use engine::counters::CounterBuffer;
use engine::delivery::receivers::Receivers;
use engine::providers::{ProviderHealth, Providers};
use engine::queue::Queue;
use engine::queue::RedisConnection;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;

use crate::tenants::keys::KeyRing;
use crate::vehicles::VehicleStates;

/// Shared by every request: one `Arc`, so the per-request clone axum makes is one
/// reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Shared {
    /// Where read-only lists read: the replica when there is one (as fresh as its lag,
    /// `datahog_database_replica_lag_seconds`), else the primary.
    pub fn reads(&self) -> &DatabaseConnection {
        self.replica.as_ref().unwrap_or(&self.db)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What the handlers share.
pub struct Shared {
    /// The database of record.
    pub db: DatabaseConnection,
    /// New webhooks' rows, written for many submissions at once.
    pub inserts: engine::webhooks::inserts::Inserts,
    /// Redis, in production mode.
    pub redis: Option<RedisConnection>,
    /// The counter increment buffer.
    pub counters: CounterBuffer,
    /// Vehicle state lookups and their cache.
    pub vehicles: VehicleStates,
    /// The database's streaming replica (`DATABASE_REPLICA_URL`), which lookups and the
    /// read-only lists read.
    pub replica: Option<DatabaseConnection>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The job queue submissions are pushed to.
    pub queue: Queue,
    /// The configured providers.
    pub providers: Providers,
    /// Provider health, as the workers share it.
    pub health: ProviderHealth,
    /// Receiver hosts' health, as the workers share it.
    pub receivers: Receivers,
    /// Providers' and receivers' limits and pauses, shared with embedded workers.
    pub flow: engine::flow::Flow,
    /// The process's OpenTelemetry tracer, shared with embedded workers.
    pub traces: engine::traces::Traces,
    /// Webhook settings.
    pub webhooks: WebhookConfig,
    /// Stream settings.
    pub streams: StreamConfig,
    /// Past this wait, a queue's oldest due job makes the queue stalled.
    pub queue_stall_after: std::time::Duration,
    /// When set, the token `/metrics` requires.
    pub metrics_token: Option<SecretString>,
    /// Whether callbacks may target private addresses.
    pub allow_private_callbacks: bool,
    /// API keys and the tenants they act for.
    pub keys: Arc<KeyRing>,
}

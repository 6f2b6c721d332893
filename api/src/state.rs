//! The state every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use worker::counters::CounterBuffer;

use crate::vehicles::VehicleStates;

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database of record.
    pub db: DatabaseConnection,
    /// Redis, in production mode.
    pub redis: Option<ConnectionManager>,
    /// The counter increment buffer.
    pub counters: CounterBuffer,
    /// Vehicle state lookups and their cache.
    pub vehicles: Arc<VehicleStates>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

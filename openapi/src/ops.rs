//! Bodies of the operational endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Liveness: the process is up and serving.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Reachable.
    Ok,
    /// Not reachable within the check's timeout.
    Unavailable,
    /// Not used in this mode (embedded mode has no Redis).
    NotConfigured,
}

/// Readiness: whether the dependencies this instance needs are reachable.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every configured dependency answered, `unavailable` otherwise.
    pub status: String,
    /// The database.
    pub database: CheckStatus,
    /// Redis (production mode only).
    pub redis: CheckStatus,
}

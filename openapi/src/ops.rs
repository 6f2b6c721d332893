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
    /// Whether Redis's persistence keeps acknowledged work through a restart (production
    /// mode only).
    #[serde(rename = "redisDurability", skip_serializing_if = "Option::is_none")]
    pub redis_durability: Option<RedisDurability>,
}

/// Whether Redis keeps the work it acknowledged (queued jobs, counter increments) through
/// a restart, as its persistence settings say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisDurability {
    /// `appendonly yes` with `appendfsync always` or `everysec`: at most a second is lost.
    Durable,
    /// `appendonly no`, or `appendfsync no`: a restart can lose acknowledged work.
    AtRisk,
    /// Redis refused `CONFIG GET` (managed Redis, mostly) or did not answer.
    Unknown,
}

impl RedisDurability {
    /// Its name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisDurability::Durable => "durable",
            RedisDurability::AtRisk => "at_risk",
            RedisDurability::Unknown => "unknown",
        }
    }
}

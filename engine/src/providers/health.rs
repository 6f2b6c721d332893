//! Provider health: the shared health model (`crate::health`), one subject per provider,
//! a probe holding it for the provider's timeout.

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use super::Provider;
use crate::config::ProviderConfig;
use crate::health::{Health, Policy};

pub use crate::health::{Admission, HealthError, HealthView};

/// The health of every provider, shared by every worker process.
#[derive(Clone)]
pub struct ProviderHealth(Health);

impl ProviderHealth {
    /// Redis-backed when `redis` is given, else in-process.
    pub fn new(redis: Option<ConnectionManager>, prefix: &str, config: &ProviderConfig) -> Self {
        let policy = Policy {
            threshold: config.provider_failure_threshold,
            cooldown_min: config.provider_cooldown_min,
            cooldown_max: config.provider_cooldown_max,
        };
        ProviderHealth(Health::new("provider", redis, prefix, policy))
    }

    /// Whether a job may call `provider` now.
    pub async fn admit(&self, provider: &Provider) -> Result<Admission, HealthError> {
        self.0.admit(&provider.name, provider.timeout).await
    }

    /// Records the outcome of a call admitted by `admit` (`probe`: it was the probe).
    pub async fn record(
        &self,
        provider: &Provider,
        ok: bool,
        probe: bool,
    ) -> Result<(), HealthError> {
        self.0.record(&provider.name, ok, probe).await
    }

    /// Records the outcome of a call that `admission` allowed.
    pub async fn settle(
        &self,
        provider: &Provider,
        admission: Admission,
        ok: bool,
    ) -> Result<(), HealthError> {
        self.0.settle(&provider.name, admission, ok).await
    }

    /// When a job whose call to `provider` just failed should try again.
    pub async fn retry_at(&self, provider: &Provider) -> Result<DateTime<Utc>, HealthError> {
        self.0.retry_at(&provider.name).await
    }

    /// The health of the provider called `name`.
    pub async fn view(&self, name: &str) -> Result<HealthView, HealthError> {
        self.0.view(name).await
    }
}

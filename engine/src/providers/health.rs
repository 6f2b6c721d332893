//! Provider health: the shared health model (`crate::health`), one subject per provider,
//! a probe holding it for the provider's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::queue::RedisConnection;
use chrono::{DateTime, Utc};

use super::Provider;
use crate::config::ProviderConfig;
use crate::health::{Health, Policy};

pub use crate::health::{Admission, HealthError, HealthView};

/// How long a provider's health read for a submission is reused: a submission's first
/// collection is sent to wait for a probe only on what was true this recently.
const RECENT: Duration = Duration::from_millis(500);

/// The health of every provider, shared by every worker process.
#[derive(Clone)]
pub struct ProviderHealth {
    health: Health,
    /// Each provider's health as last read for a submission, and when.
    recent: Arc<Mutex<HashMap<String, (Instant, HealthView)>>>,
}

impl ProviderHealth {
    /// Redis-backed when `redis` is given, else in-process.
    pub fn new(redis: Option<RedisConnection>, prefix: &str, config: &ProviderConfig) -> Self {
        let policy = Policy {
            threshold: config.provider_failure_threshold,
            cooldown_min: config.provider_cooldown_min,
            cooldown_max: config.provider_cooldown_max,
        };
        ProviderHealth {
            health: Health::new("provider", redis, prefix, policy),
            recent: Arc::default(),
        }
    }

    /// Whether a job may call `provider` now.
    pub async fn admit(&self, provider: &Provider) -> Result<Admission, HealthError> {
        self.health.admit(&provider.name, provider.timeout).await
    }

    /// Records the outcome of a call admitted by `admit` (`probe`: it was the probe).
    pub async fn record(
        &self,
        provider: &Provider,
        ok: bool,
        probe: bool,
    ) -> Result<(), HealthError> {
        self.health.record(&provider.name, ok, probe).await
    }

    /// Records the outcome of a call that `admission` allowed.
    pub async fn settle(
        &self,
        provider: &Provider,
        admission: Admission,
        ok: bool,
    ) -> Result<(), HealthError> {
        self.health.settle(&provider.name, admission, ok).await
    }

    /// When a job whose call to `provider` just failed should try again.
    pub async fn retry_at(&self, provider: &Provider) -> Result<DateTime<Utc>, HealthError> {
        self.health.retry_at(&provider.name).await
    }

    /// The health of the provider called `name`.
    pub async fn view(&self, name: &str) -> Result<HealthView, HealthError> {
        self.health.view(name).await
    }

    /// When a collection of `names` can first get anywhere, if every one of them is down
    /// and no probe of any is out: the earliest next probe, at least a second away. `None`
    /// when one may be called now (or soon). Read from Redis at most every `RECENT` per
    /// provider and process, so a submission pays no round trip for it.
    pub async fn all_down_until(
        &self,
        names: &[String],
    ) -> Result<Option<DateTime<Utc>>, HealthError> {
        let soon = Utc::now() + chrono::Duration::seconds(1);
        let mut until: Option<DateTime<Utc>> = None;
        for name in names {
            let view = self.recent_view(name).await?;
            match view.next_probe_at {
                Some(at) if view.down && !view.probing && at > soon => {
                    until = Some(until.map_or(at, |u| u.min(at)));
                }
                _ => return Ok(None),
            }
        }
        Ok(until)
    }

    /// The health of `name` as read within the last `RECENT`.
    async fn recent_view(&self, name: &str) -> Result<HealthView, HealthError> {
        let now = Instant::now();
        let cached = {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.get(name).cloned()
        };
        if let Some((_, view)) = cached.filter(|(read, _)| now.duration_since(*read) < RECENT) {
            return Ok(view);
        }
        let view = self.health.view(name).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.insert(name.to_owned(), (now, view.clone()));
        Ok(view)
    }
}

//! Provider health, shared by every worker: consecutive failures take a provider down;
//! while down, only one probe per cool-down reaches it, and every job waits for it.
//!
//! Production keeps the state in Redis (atomic scripts, Redis's clock); embedded keeps it
//! in this process. Both follow the same rules, written out in `State`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use super::Provider;
use super::health_redis::RedisHealth;
use crate::config::ProviderConfig;

/// What a job may do with a provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The provider is up (or failing but not down): call it. `failures` is its count of
    /// consecutive failures, so a success on a healthy provider need not be recorded.
    Go {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// The provider is down and this job won the probe of this cool-down: call it once.
    Probe,
    /// The provider is down: do not call it before this time.
    Wait(DateTime<Utc>),
}

/// How failures turn into cool-downs.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Consecutive failures that take a provider down.
    pub threshold: u32,
    /// First cool-down.
    pub cooldown_min: Duration,
    /// Longest cool-down.
    pub cooldown_max: Duration,
}

impl Policy {
    /// From the configuration.
    pub fn new(config: &ProviderConfig) -> Self {
        Policy {
            threshold: config.provider_failure_threshold,
            cooldown_min: config.provider_cooldown_min,
            cooldown_max: config.provider_cooldown_max,
        }
    }

    /// The cool-down after `level` failed probes: the minimum, doubled each time, capped.
    pub fn cooldown(&self, level: u32) -> Duration {
        self.cooldown_min
            .saturating_mul(1 << level.min(30))
            .min(self.cooldown_max)
    }
}

/// One provider's health, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthView {
    /// Consecutive failures (0: up).
    pub failures: u32,
    /// Whether it is down (only probes reach it).
    pub down: bool,
    /// Since when it is down.
    pub down_since: Option<DateTime<Utc>>,
    /// When the next probe may be made, while down.
    pub next_probe_at: Option<DateTime<Utc>>,
}

/// The health state of one provider, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub(super) failures: u32,
    pub(super) level: u32,
    pub(super) down_since: Option<i64>,
    pub(super) next_probe_at: i64,
}

impl State {
    fn admit(&mut self, now: i64, policy: &Policy, probe_lease: Duration) -> Admission {
        if self.failures < policy.threshold {
            Admission::Go {
                failures: self.failures,
            }
        } else if now < self.next_probe_at {
            Admission::Wait(at(self.next_probe_at))
        } else {
            // Others wait out the probe; if its worker dies, the lease lets another probe.
            self.next_probe_at = now + millis(probe_lease);
            Admission::Probe
        }
    }

    fn record(&mut self, now: i64, policy: &Policy, ok: bool, probe: bool) {
        if ok {
            *self = State::default();
        } else if probe {
            self.failures += 1;
            self.level += 1;
            self.next_probe_at = now + millis(policy.cooldown(self.level));
        } else {
            self.failures += 1;
            if self.failures == policy.threshold {
                self.level = 0;
                self.down_since = Some(now);
                self.next_probe_at = now + millis(policy.cooldown(0));
            }
        }
    }

    pub(super) fn view(&self, policy: &Policy) -> HealthView {
        let down = self.failures >= policy.threshold;
        HealthView {
            failures: self.failures,
            down,
            down_since: self.down_since.map(at),
            next_probe_at: down.then(|| at(self.next_probe_at)),
        }
    }
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

pub(super) fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Why the shared health could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("provider health store: {0}")]
pub struct HealthError(#[from] redis::RedisError);

/// The health of every provider, shared by every worker process.
#[derive(Clone)]
pub enum ProviderHealth {
    /// Production: in Redis, so every process sees the same.
    Redis(RedisHealth),
    /// Embedded: in this process.
    Local(Arc<Mutex<HashMap<String, State>>>, Policy),
}

impl ProviderHealth {
    /// Redis-backed when `redis` is given, else in-process.
    pub fn new(redis: Option<ConnectionManager>, prefix: &str, config: &ProviderConfig) -> Self {
        let policy = Policy::new(config);
        match redis {
            Some(conn) => ProviderHealth::Redis(RedisHealth::new(conn, prefix, policy)),
            None => ProviderHealth::Local(Arc::default(), policy),
        }
    }

    /// Whether a job may call `provider` now.
    pub async fn admit(&self, provider: &Provider) -> Result<Admission, HealthError> {
        match self {
            ProviderHealth::Redis(r) => r.admit(provider).await,
            ProviderHealth::Local(states, policy) => {
                let mut states = states.lock().unwrap_or_else(|e| e.into_inner());
                let state = states.entry(provider.name.clone()).or_default();
                Ok(state.admit(now_ms(), policy, provider.timeout))
            }
        }
    }

    /// Records the outcome of a call admitted by `admit` (`probe`: it was the probe).
    pub async fn record(
        &self,
        provider: &Provider,
        ok: bool,
        probe: bool,
    ) -> Result<(), HealthError> {
        match self {
            ProviderHealth::Redis(r) => r.record(provider, ok, probe).await,
            ProviderHealth::Local(states, policy) => {
                let mut states = states.lock().unwrap_or_else(|e| e.into_inner());
                let state = states.entry(provider.name.clone()).or_default();
                state.record(now_ms(), policy, ok, probe);
                Ok(())
            }
        }
    }

    /// Records the outcome of a call that `admission` allowed; a success on a provider that
    /// was healthy changes nothing, so it spares the round trip.
    pub async fn settle(
        &self,
        provider: &Provider,
        admission: Admission,
        ok: bool,
    ) -> Result<(), HealthError> {
        if ok && admission == (Admission::Go { failures: 0 }) {
            return Ok(());
        }
        self.record(provider, ok, admission == Admission::Probe)
            .await
    }

    /// When a job whose call to `provider` just failed should try again.
    pub async fn retry_at(&self, provider: &Provider) -> Result<DateTime<Utc>, HealthError> {
        let view = self.view(&provider.name).await?;
        let soonest = Utc::now() + self.policy().cooldown_min;
        Ok(view.next_probe_at.map_or(soonest, |at| at.max(soonest)))
    }

    /// The health of the provider called `name`.
    pub async fn view(&self, name: &str) -> Result<HealthView, HealthError> {
        match self {
            ProviderHealth::Redis(r) => r.view(name).await,
            ProviderHealth::Local(states, policy) => {
                let states = states.lock().unwrap_or_else(|e| e.into_inner());
                Ok(states.get(name).copied().unwrap_or_default().view(policy))
            }
        }
    }

    fn policy(&self) -> &Policy {
        match self {
            ProviderHealth::Redis(r) => r.policy(),
            ProviderHealth::Local(_, policy) => policy,
        }
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        threshold: 2,
        cooldown_min: Duration::from_secs(1),
        cooldown_max: Duration::from_secs(5),
    };
    const LEASE: Duration = Duration::from_millis(500);

    #[test]
    fn goes_down_probes_once_per_cooldown_and_comes_back() {
        let mut s = State::default();
        s.record(0, &POLICY, false, false);
        assert_eq!(
            s.admit(10, &POLICY, LEASE),
            Admission::Go { failures: 1 },
            "failing, not down"
        );
        s.record(10, &POLICY, false, false);
        assert_eq!(s.admit(20, &POLICY, LEASE), Admission::Wait(at(1_010)));
        assert_eq!(s.admit(1_010, &POLICY, LEASE), Admission::Probe);
        assert_eq!(s.admit(1_011, &POLICY, LEASE), Admission::Wait(at(1_510)));
        s.record(1_100, &POLICY, false, true);
        assert_eq!(s.view(&POLICY).next_probe_at, Some(at(3_100)), "doubled");
        // Late failures of calls made before it went down do not lengthen the cool-down.
        s.record(1_200, &POLICY, false, false);
        assert_eq!(s.view(&POLICY).next_probe_at, Some(at(3_100)));
        assert_eq!(s.admit(3_100, &POLICY, LEASE), Admission::Probe);
        s.record(3_200, &POLICY, true, true);
        assert_eq!(s, State::default());
        assert_eq!(
            s.admit(3_300, &POLICY, LEASE),
            Admission::Go { failures: 0 }
        );
    }

    #[test]
    fn cooldown_doubles_up_to_the_cap() {
        let secs: Vec<u64> = (0..5).map(|l| POLICY.cooldown(l).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 5, 5]);
        assert_eq!(POLICY.cooldown(200), Duration::from_secs(5));
    }
}

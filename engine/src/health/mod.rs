//! Health of the outside world's servers, one model for providers (by name) and callback
//! receivers (by host), shared by every worker: consecutive failures take a subject down;
//! while down, only one probe per cool-down reaches it, and every job waits for it.
//!
//! Production keeps the state in Redis (atomic scripts, Redis's clock); embedded keeps it
//! in this process. Both follow the same rules, written out in `State`.

mod in_redis;
mod known;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue::RedisConnection;
use chrono::{DateTime, Utc};

use self::in_redis::RedisHealth;
pub use self::known::KNOWN_HEALTHY_FOR;
use self::known::KnownHealthy;

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

/// What the store answers a job asking to call a subject: an admission, or that another
/// job's probe of the subject is out, until `until` at the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Go, probe or wait for the next cool-down's probe.
    Admit(Admission),
    /// A probe is out: its outcome decides whether to go or to wait a cool-down.
    Probing(DateTime<Utc>),
}

/// How often a job that found another job's probe out asks again for the probe's outcome.
const PROBE_POLL: Duration = Duration::from_millis(100);

/// How failures turn into cool-downs.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Consecutive failures that take a subject down.
    pub threshold: u32,
    /// First cool-down.
    pub cooldown_min: Duration,
    /// Longest cool-down.
    pub cooldown_max: Duration,
}

impl Policy {
    /// The cool-down after `level` failed probes: the minimum, doubled each time, capped.
    pub fn cooldown(&self, level: u32) -> Duration {
        self.cooldown_min
            .saturating_mul(1 << level.min(30))
            .min(self.cooldown_max)
    }
}

/// One subject's health, as the API shows it.
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
    /// Whether a probe is out now (its outcome decides whether it is up again).
    pub probing: bool,
}

/// The health state of one subject, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub(super) failures: u32,
    pub(super) level: u32,
    pub(super) down_since: Option<i64>,
    pub(super) next_probe_at: i64,
    /// A probe was granted and its outcome is not recorded yet.
    pub(super) probing: bool,
}

impl State {
    fn admit(&mut self, now: i64, policy: &Policy, probe_lease: Duration) -> Answer {
        if self.failures < policy.threshold {
            Answer::Admit(Admission::Go {
                failures: self.failures,
            })
        } else if now < self.next_probe_at {
            if self.probing {
                Answer::Probing(at(self.next_probe_at))
            } else {
                Answer::Admit(Admission::Wait(at(self.next_probe_at)))
            }
        } else {
            // Others wait out the probe; if its worker dies, the lease lets another probe.
            self.next_probe_at = now + millis(probe_lease);
            self.probing = true;
            Answer::Admit(Admission::Probe)
        }
    }

    fn record(&mut self, now: i64, policy: &Policy, ok: bool, probe: bool) -> Change {
        if ok {
            let was_down = self.failures >= policy.threshold;
            *self = State::default();
            if was_down { Change::Up } else { Change::None }
        } else if probe {
            self.failures += 1;
            self.level += 1;
            self.next_probe_at = now + millis(policy.cooldown(self.level));
            self.probing = false;
            Change::None
        } else {
            self.failures += 1;
            if self.failures == policy.threshold {
                self.level = 0;
                self.down_since = Some(now);
                self.next_probe_at = now + millis(policy.cooldown(0));
                Change::Down
            } else {
                Change::None
            }
        }
    }

    pub(crate) fn view(&self, policy: &Policy) -> HealthView {
        let down = self.failures >= policy.threshold;
        HealthView {
            failures: self.failures,
            down,
            down_since: self.down_since.map(at),
            next_probe_at: down.then(|| at(self.next_probe_at)),
            probing: down && self.probing,
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
#[error("health store: {0}")]
pub struct HealthError(#[from] redis::RedisError);

/// What a recorded outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing worth telling.
    None,
    /// The subject went down.
    Down,
    /// The subject came back up.
    Up,
}

/// The health of one kind of subject (providers by name, receivers by host), shared by
/// every worker process.
#[derive(Clone)]
pub struct Health {
    kind: &'static str,
    policy: Policy,
    store: Store,
    /// With the Redis store: the subjects this process found healthy a moment ago.
    known: KnownHealthy,
}

#[derive(Clone)]
enum Store {
    /// Production: in Redis, so every process sees the same.
    Redis(RedisHealth),
    /// Embedded: in this process.
    Local(Arc<Mutex<HashMap<String, State>>>),
}

impl Health {
    /// The health of subjects of `kind` (`provider`, `receiver`): Redis-backed when `redis`
    /// is given, else in-process.
    pub fn new(
        kind: &'static str,
        redis: Option<RedisConnection>,
        prefix: &str,
        policy: Policy,
    ) -> Self {
        let store = match redis {
            Some(conn) => Store::Redis(RedisHealth::new(conn, prefix, kind, policy)),
            None => Store::Local(Arc::default()),
        };
        Health {
            kind,
            policy,
            store,
            known: KnownHealthy::default(),
        }
    }

    /// Whether a job may call `name` now; a probe holds the subject for `probe_lease`.
    /// While another job's probe is out, waits here for its outcome (up to the lease)
    /// instead of answering `Wait` until the lease ends: the jobs that arrive during a
    /// successful probe (when a backlog starts to drain, the freshest first) then go at
    /// once, rather than being put back for a whole lease behind the rest of the backlog.
    pub async fn admit(&self, name: &str, probe_lease: Duration) -> Result<Admission, HealthError> {
        let healthy = Admission::Go { failures: 0 };
        if matches!(self.store, Store::Redis(_)) && self.known.fresh(name) {
            return Ok(healthy);
        }
        let give_up = tokio::time::Instant::now() + probe_lease;
        let admission = loop {
            let answer = match &self.store {
                Store::Redis(r) => r.admit(name, probe_lease).await?,
                Store::Local(states) => {
                    let mut states = states.lock().unwrap_or_else(|e| e.into_inner());
                    let state = states.entry(name.to_owned()).or_default();
                    state.admit(now_ms(), &self.policy, probe_lease)
                }
            };
            match answer {
                Answer::Admit(admission) => break admission,
                Answer::Probing(until) if tokio::time::Instant::now() >= give_up => {
                    break Admission::Wait(until);
                }
                Answer::Probing(_) => tokio::time::sleep(PROBE_POLL).await,
            }
        };
        if admission == healthy && matches!(self.store, Store::Redis(_)) {
            self.known.seen(name);
        }
        if admission == Admission::Probe {
            metrics::counter!("datahog_health_probes_total", "kind" => self.kind).increment(1);
            tracing::info!(kind = self.kind, subject = name, "down; probing it");
        }
        Ok(admission)
    }

    /// Records the outcome of a call admitted by `admit` (`probe`: it was the probe).
    pub async fn record(&self, name: &str, ok: bool, probe: bool) -> Result<(), HealthError> {
        let change = match &self.store {
            Store::Redis(r) => {
                if !ok {
                    self.known.forget(name);
                }
                let change = r.record(name, ok, probe).await?;
                if ok {
                    self.known.seen(name);
                }
                change
            }
            Store::Local(states) => {
                let mut states = states.lock().unwrap_or_else(|e| e.into_inner());
                let state = states.entry(name.to_owned()).or_default();
                let change = state.record(now_ms(), &self.policy, ok, probe);
                if ok {
                    states.remove(name);
                }
                change
            }
        };
        let kind = self.kind;
        match change {
            Change::Down => {
                metrics::counter!("datahog_health_transitions_total", "kind" => kind, "to" => "down")
                    .increment(1);
                tracing::warn!(
                    kind,
                    subject = name,
                    "down: only one probe per cool-down reaches it now"
                );
            }
            Change::Up => {
                metrics::counter!("datahog_health_transitions_total", "kind" => kind, "to" => "up")
                    .increment(1);
                tracing::info!(kind, subject = name, "up again");
            }
            Change::None => {}
        }
        Ok(())
    }

    /// Records the outcome of a call that `admission` allowed; a success on a subject that
    /// was healthy changes nothing, so it spares the round trip.
    pub async fn settle(
        &self,
        name: &str,
        admission: Admission,
        ok: bool,
    ) -> Result<(), HealthError> {
        if ok && admission == (Admission::Go { failures: 0 }) {
            return Ok(());
        }
        self.record(name, ok, admission == Admission::Probe).await
    }

    /// When a job whose call to `name` just failed should try again.
    pub async fn retry_at(&self, name: &str) -> Result<DateTime<Utc>, HealthError> {
        let view = self.view(name).await?;
        let soonest = Utc::now() + self.policy.cooldown_min;
        Ok(view.next_probe_at.map_or(soonest, |at| at.max(soonest)))
    }

    /// The health of `name`.
    pub async fn view(&self, name: &str) -> Result<HealthView, HealthError> {
        match &self.store {
            Store::Redis(r) => r.view(name).await,
            Store::Local(states) => {
                let states = states.lock().unwrap_or_else(|e| e.into_inner());
                Ok(states
                    .get(name)
                    .copied()
                    .unwrap_or_default()
                    .view(&self.policy))
            }
        }
    }

    /// Every subject with failures on record (the others are up), sorted.
    pub async fn troubled(&self) -> Result<Vec<String>, HealthError> {
        let mut names = match &self.store {
            Store::Redis(r) => r.names().await?,
            Store::Local(states) => {
                let states = states.lock().unwrap_or_else(|e| e.into_inner());
                states.keys().cloned().collect()
            }
        };
        names.sort();
        Ok(names)
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
        let admit = |a| Answer::Admit(a);
        let mut s = State::default();
        s.record(0, &POLICY, false, false);
        assert_eq!(
            s.admit(10, &POLICY, LEASE),
            admit(Admission::Go { failures: 1 }),
            "failing, not down"
        );
        assert_eq!(s.record(10, &POLICY, false, false), Change::Down);
        assert_eq!(
            s.admit(20, &POLICY, LEASE),
            admit(Admission::Wait(at(1_010)))
        );
        assert_eq!(s.admit(1_010, &POLICY, LEASE), admit(Admission::Probe));
        assert_eq!(
            s.admit(1_011, &POLICY, LEASE),
            Answer::Probing(at(1_510)),
            "the probe is out: its outcome decides"
        );
        s.record(1_100, &POLICY, false, true);
        assert_eq!(s.view(&POLICY).next_probe_at, Some(at(3_100)), "doubled");
        assert_eq!(
            s.admit(1_101, &POLICY, LEASE),
            admit(Admission::Wait(at(3_100))),
            "the probe failed: wait the cool-down"
        );
        // Late failures of calls made before it went down do not lengthen the cool-down.
        s.record(1_200, &POLICY, false, false);
        assert_eq!(s.view(&POLICY).next_probe_at, Some(at(3_100)));
        assert_eq!(s.admit(3_100, &POLICY, LEASE), admit(Admission::Probe));
        assert_eq!(s.record(3_200, &POLICY, true, true), Change::Up);
        assert_eq!(s, State::default());
        assert_eq!(
            s.admit(3_300, &POLICY, LEASE),
            admit(Admission::Go { failures: 0 })
        );
    }

    /// A job that finds another's probe out waits for its outcome: it goes as soon as the
    /// probe succeeds, and waits the next cool-down once it fails.
    #[tokio::test]
    async fn a_job_arriving_during_a_probe_waits_for_its_outcome() {
        let health = Health::new("provider", None, "test", POLICY);
        let lease = Duration::from_secs(5);
        for ok in [true, false] {
            for _ in 0..POLICY.threshold {
                health.record("gas", false, false).await.unwrap();
            }
            // The cool-down of `POLICY` is a second: past it, one probe.
            tokio::time::sleep(POLICY.cooldown_min).await;
            assert_eq!(health.admit("gas", lease).await.unwrap(), Admission::Probe);
            let prober = health.clone();
            let outcome = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                prober.record("gas", ok, true).await.unwrap();
            });
            let started = std::time::Instant::now();
            let admission = health.admit("gas", lease).await.unwrap();
            outcome.await.unwrap();
            assert!(started.elapsed() < lease, "{:?}", started.elapsed());
            if ok {
                assert_eq!(admission, Admission::Go { failures: 0 });
            } else {
                assert!(matches!(admission, Admission::Wait(until) if until > Utc::now()));
                health.record("gas", true, true).await.unwrap();
            }
        }
    }

    #[test]
    fn cooldown_doubles_up_to_the_cap() {
        let secs: Vec<u64> = (0..5).map(|l| POLICY.cooldown(l).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 5, 5]);
        assert_eq!(POLICY.cooldown(200), Duration::from_secs(5));
    }
}

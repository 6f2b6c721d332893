//! The process's dependencies (the database, and Redis in production) as the process sees
//! them: each probed on a timer, more rarely while it is down (a capped exponential
//! backoff), its state in the gauge `datahog_dependency_up{dependency}`, and each outage
//! logged once when it starts and once when it ends, with its duration. A process waits
//! outages out instead of exiting: the workers restart once every dependency answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::queue::RedisConnection;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

/// How often a dependency that answers is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long one probe may take before the dependency counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The first wait between probes of a dependency that is down.
const RETRY_MIN: Duration = Duration::from_millis(250);
/// The longest wait between probes of a dependency that is down.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// A dependency of the process.
#[derive(Debug, Clone)]
enum Dependency {
    /// The database of record.
    Database(DatabaseConnection),
    /// Redis: the queue, the counter buffer, the shared cache and health.
    Redis(RedisConnection),
}

impl Dependency {
    fn name(&self) -> &'static str {
        match self {
            Dependency::Database(_) => "database",
            Dependency::Redis(_) => "redis",
        }
    }

    /// Whether it answers now.
    async fn answers(&self) -> bool {
        let probe = async {
            match self {
                Dependency::Database(db) => db.ping().await.is_ok(),
                Dependency::Redis(conn) => redis::cmd("PING")
                    .query_async::<String>(&mut conn.clone())
                    .await
                    .is_ok(),
            }
        };
        tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .unwrap_or(false)
    }
}

/// The dependencies' states, kept current by one probing task each.
#[derive(Clone)]
pub struct Dependencies {
    states: Arc<Vec<watch::Receiver<bool>>>,
}

impl Dependencies {
    /// Starts probing `db` and, in production, `redis`, until `cancel`.
    pub fn watch(
        db: DatabaseConnection,
        redis: Option<RedisConnection>,
        cancel: CancellationToken,
    ) -> Self {
        let all = std::iter::once(Dependency::Database(db)).chain(redis.map(Dependency::Redis));
        let states = all
            .map(|dependency| {
                // Assumed up until a probe says otherwise: the process just connected.
                let (tx, rx) = watch::channel(true);
                tokio::spawn(probe(dependency, tx, cancel.clone()));
                rx
            })
            .collect();
        Dependencies {
            states: Arc::new(states),
        }
    }

    /// Whether every dependency answered its last probe.
    pub fn all_up(&self) -> bool {
        self.states.iter().all(|state| *state.borrow())
    }

    /// Waits until every dependency answers; false if `cancel` fired first.
    pub async fn wait_up(&self, cancel: &CancellationToken) -> bool {
        for state in self.states.iter() {
            let mut state = state.clone();
            tokio::select! {
                () = cancel.cancelled() => return false,
                up = state.wait_for(|up| *up) => {
                    // The probing task stops only with `cancel`.
                    if up.is_err() {
                        return false;
                    }
                }
            }
        }
        !cancel.is_cancelled()
    }
}

/// Probes `dependency` until `cancel`, publishing its state to `state`.
async fn probe(dependency: Dependency, state: watch::Sender<bool>, cancel: CancellationToken) {
    let name = dependency.name();
    let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
    let mut down_since: Option<Instant> = None;
    loop {
        let up = dependency.answers().await;
        match (up, down_since) {
            (false, None) => {
                tracing::error!(
                    dependency = name,
                    "dependency unreachable; waiting for it, work resumes when it answers"
                );
                down_since = Some(Instant::now());
            }
            (true, Some(since)) => {
                let outage = since.elapsed();
                tracing::warn!(
                    dependency = name,
                    outage_ms = outage.as_millis() as u64,
                    "dependency reachable again after {:.1} s",
                    outage.as_secs_f64()
                );
                down_since = None;
                backoff.reset();
            }
            _ => {}
        }
        // Looked up each time: the process may install its recorder after this task starts.
        metrics::gauge!("datahog_dependency_up", "dependency" => name).set(if up {
            1.0
        } else {
            0.0
        });
        state.send_replace(up);
        let wait = if up { PROBE_EVERY } else { backoff.next_wait() };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let waits: Vec<u128> = (0..5).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(250));
    }
}

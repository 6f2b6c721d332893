//! A two-tier read-through cache whose answers are never staler than a configured bound.
//!
//! Tier 1 lives in this process (moka); tier 2 is Redis, shared by every API instance
//! (production only). Each value carries the time it was computed, and both tiers expire
//! it by that time, so whichever tier answers, the answer is at most `max_staleness` old.

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use engine::queue::RedisConnection;
use metrics::Counter;
use moka::Expiry;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// How long the shared tier is skipped after it failed, so an outage costs one timeout
/// per second rather than one per request.
const SHARED_TIER_BACKOFF_MS: i64 = 1_000;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// This process's own tier.
    Local,
    /// The shared (Redis) tier.
    Shared,
    /// Computed by this request.
    #[default]
    Origin,
}

/// A cached value and when it was computed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cached<V> {
    /// The value.
    pub value: V,
    /// When it was computed, in unix milliseconds: its age bounds both tiers' expiry.
    pub computed_at_ms: i64,
    #[serde(skip)]
    source: Source,
}

/// The shared tier: Redis, with a short timeout and a back-off after failures.
pub struct SharedTier {
    conn: RedisConnection,
    prefix: String,
    timeout: Duration,
    skip_until_ms: AtomicI64,
}

impl SharedTier {
    /// A shared tier on `conn`, whose keys start with `prefix`.
    pub fn new(conn: RedisConnection, prefix: String, timeout: Duration) -> Self {
        Self {
            conn,
            prefix,
            timeout,
            skip_until_ms: AtomicI64::new(0),
        }
    }

    fn available(&self) -> bool {
        self.skip_until_ms.load(Ordering::Relaxed) <= now_ms()
    }

    fn failed(&self, cache: &'static str, error: &dyn std::fmt::Display) {
        self.skip_until_ms
            .store(now_ms() + SHARED_TIER_BACKOFF_MS, Ordering::Relaxed);
        metrics::counter!("datahog_cache_errors_total", "cache" => cache, "tier" => "redis")
            .increment(1);
        tracing::warn!(cache, %error, "shared cache tier unavailable; answering from the database");
    }

    async fn get<V: DeserializeOwned>(
        &self,
        cache: &'static str,
        key: &impl Display,
    ) -> Option<Cached<V>> {
        if !self.available() {
            return None;
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}{cache}:{key}", self.prefix));
        let get = cmd.query_async::<Option<Vec<u8>>>(&mut conn);
        match tokio::time::timeout(self.timeout, get).await {
            Ok(Ok(Some(bytes))) => match serde_json::from_slice(&bytes) {
                Ok(cached) => Some(cached),
                Err(error) => {
                    tracing::warn!(cache, %error, "undecodable shared cache entry; ignoring it");
                    None
                }
            },
            Ok(Ok(None)) => None,
            Ok(Err(error)) => {
                self.failed(cache, &error);
                None
            }
            Err(_) => {
                self.failed(cache, &"timed out");
                None
            }
        }
    }

    async fn put<V: Serialize>(
        &self,
        cache: &'static str,
        key: &impl Display,
        cached: &Cached<V>,
        ttl: Duration,
    ) {
        if !self.available() || ttl.is_zero() {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(cached) else {
            return;
        };
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}{cache}:{key}", self.prefix))
            .arg(bytes)
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        let set = cmd.query_async::<()>(&mut conn);
        match tokio::time::timeout(self.timeout, set).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => self.failed(cache, &error),
            Err(_) => self.failed(cache, &"timed out"),
        }
    }
}

/// Expires each local entry at the earlier of its local TTL and the end of its freshness.
struct Freshness {
    local_ttl: Duration,
    max_staleness: Duration,
}

impl<K, V> Expiry<K, Arc<Cached<V>>> for Freshness {
    fn expire_after_create(&self, _: &K, value: &Arc<Cached<V>>, _: Instant) -> Option<Duration> {
        Some(
            self.local_ttl
                .min(remaining(value.computed_at_ms, self.max_staleness)),
        )
    }
}

/// Where a tier's two counters start in `TieredCache::counts`.
const LOCAL: usize = 0;
const SHARED: usize = 2;

/// A read-through cache of `V`s by `K`; see the module documentation. A key is written
/// out (`Display`) only for the shared tier, so hits in this process allocate nothing.
pub struct TieredCache<K, V> {
    name: &'static str,
    local: moka::future::Cache<K, Arc<Cached<V>>>,
    shared: Option<SharedTier>,
    max_staleness: Duration,
    /// Hits and misses by tier (local, redis) and result (hit, miss), registered once: a
    /// registration per lookup hashed and compared its labels, 8 % of a cached answer.
    counts: [Counter; 4],
}

/// A cache answer.
pub struct Lookup<V> {
    /// The cached value.
    pub cached: Arc<Cached<V>>,
    /// Where it came from.
    pub source: Source,
}

impl<K, V> TieredCache<K, V>
where
    K: Hash + Eq + Display + Copy + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Drops this process's expired answers now: moka evicts them only as the cache is used,
    /// so after a burst of distinct lookups they would hold their memory while idle.
    pub async fn evict_expired(&self) {
        self.local.run_pending_tasks().await;
    }

    /// A cache named `name` (its metrics label) with the given bounds and optional shared tier.
    pub fn new(
        name: &'static str,
        max_staleness: Duration,
        local_ttl: Duration,
        capacity: u64,
        shared: Option<SharedTier>,
    ) -> Self {
        let local = moka::future::Cache::builder()
            .max_capacity(capacity)
            .expire_after(Freshness {
                local_ttl,
                max_staleness,
            })
            .build();
        // Handles taken before the recorder is installed would count into nothing.
        crate::metrics::handle();
        let counts = [
            ("local", "hit"),
            ("local", "miss"),
            ("redis", "hit"),
            ("redis", "miss"),
        ]
        .map(|(tier, result)| {
            metrics::counter!("datahog_cache_requests_total",
                    "cache" => name, "tier" => tier, "result" => result)
        });
        Self {
            name,
            local,
            shared,
            max_staleness,
            counts,
        }
    }

    /// The value of `key`: from this process, else from Redis, else from `load()`.
    ///
    /// Concurrent misses of one key in this process wait for a single `load`. A hit builds
    /// no loader at all: its future (a database query) is large to build and move.
    pub async fn get_or_load<E, F, L>(&self, key: K, load: L) -> Result<Lookup<V>, Arc<E>>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(cached) = self.local.get(&key).await {
            self.count(LOCAL, false);
            return Ok(Lookup {
                cached,
                source: Source::Local,
            });
        }
        let entry = self
            .local
            .entry(key)
            .or_try_insert_with(self.fill(key, load))
            .await?;
        let fresh = entry.is_fresh();
        self.count(LOCAL, fresh);
        let cached = entry.into_value();
        let source = if fresh { cached.source } else { Source::Local };
        Ok(Lookup { cached, source })
    }

    async fn fill<E, F, L>(&self, key: K, load: L) -> Result<Arc<Cached<V>>, E>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<V, E>>,
    {
        if let Some(shared) = &self.shared {
            let hit = shared.get::<V>(self.name, &key).await;
            self.count(SHARED, hit.is_none());
            if let Some(mut cached) = hit {
                cached.source = Source::Shared;
                return Ok(Arc::new(cached));
            }
        }
        let cached = Cached {
            value: load().await?,
            computed_at_ms: now_ms(),
            source: Source::Origin,
        };
        if let Some(shared) = &self.shared {
            let ttl = remaining(cached.computed_at_ms, self.max_staleness);
            shared.put(self.name, &key, &cached, ttl).await;
        }
        Ok(Arc::new(cached))
    }

    fn count(&self, tier: usize, miss: bool) {
        self.counts[tier + usize::from(miss)].increment(1);
    }
}

/// How much of `max_staleness` is left for a value computed at `computed_at_ms`.
fn remaining(computed_at_ms: i64, max_staleness: Duration) -> Duration {
    let age = now_ms().saturating_sub(computed_at_ms).max(0) as u64;
    max_staleness.saturating_sub(Duration::from_millis(age))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_freshness_shrinks_with_age() {
        let bound = Duration::from_secs(60);
        assert_eq!(remaining(now_ms() + 10, bound), bound);
        let left = remaining(now_ms() - 45_000, bound);
        assert!(left <= Duration::from_secs(15) && left > Duration::from_secs(14));
        assert_eq!(remaining(now_ms() - 90_000, bound), Duration::ZERO);
    }

    #[tokio::test]
    async fn expired_answers_are_dropped_without_another_lookup() {
        let local_ttl = Duration::from_millis(50);
        let cache: TieredCache<u32, u32> =
            TieredCache::new("test", Duration::from_secs(60), local_ttl, 1_000, None);
        for key in 0..100 {
            let loaded = cache.get_or_load(key, || async move { Ok::<_, ()>(key) });
            assert_eq!(loaded.await.unwrap().cached.value, key);
        }
        cache.local.run_pending_tasks().await;
        assert_eq!(cache.local.entry_count(), 100);
        // Expired past moka's timer wheel's finest step (about a second).
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        cache.evict_expired().await;
        assert_eq!(cache.local.entry_count(), 0);
    }
}

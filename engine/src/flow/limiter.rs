//! Limits on concurrent requests and requests per second to one key (a provider, a
//! tenant's receiver host), kept in Redis so every worker process counts against the same
//! figures, or in this process when embedded.
//!
//! Requests per second are a GCRA: each request takes the next free instant, one interval
//! after the last one taken. A request whose instant is less than `HORIZON` away waits for
//! it in its job and goes; a later one is told when to come back, and those told so are
//! spread one interval apart, so a backlog does not come back all at once only to be told
//! again. Concurrency is a set of holders with leases, so a holder that died frees its
//! place when its lease ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue::RedisConnection;
use tokio::time::Instant;

/// How far ahead a request may take its instant and wait for it in its job.
pub const HORIZON: Duration = Duration::from_secs(1);

/// When a request was refused for concurrency: how long before it asks again (with up to
/// as much again of jitter), plus `BUSY_STEP` for each request refused just before it
/// (divided by the places), so a backlog comes back spread out rather than all at once.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);

/// See `BUSY_RETRY`.
const BUSY_STEP: Duration = Duration::from_millis(50);

/// The longest a request refused for concurrency is told to wait.
const BUSY_MAX: Duration = Duration::from_secs(60);

/// Refusals for concurrency more than this apart are not counted together.
const BUSY_WINDOW: Duration = Duration::from_secs(2);

/// The limits on one key; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// At most this many requests at once.
    pub max_concurrent: Option<u32>,
    /// At most this many requests per second.
    pub max_per_second: Option<f64>,
}

impl Limits {
    /// Whether nothing is limited.
    pub fn is_none(&self) -> bool {
        self.max_concurrent.is_none() && self.max_per_second.is_none()
    }

    fn interval(&self) -> Option<Duration> {
        self.max_per_second
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r))
    }
}

/// What a request may do.
#[derive(Debug)]
pub enum Grant {
    /// Go, once `after` has passed, holding `slot` (a concurrency place) until done.
    Go {
        /// How long to wait first, never more than `HORIZON`.
        after: Duration,
        /// The place held, if concurrency is limited.
        slot: Option<Slot>,
    },
    /// Not now: ask again after this long.
    Wait(Duration),
}

/// Why a limit (or a tenant's turn) could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Redis failed.
    #[error("limiter store: {0}")]
    Redis(#[from] redis::RedisError),
    /// A batch of the tenants' turns could not be written (the writer logged why).
    #[error("limiter store: the tenants' turns could not be written")]
    Unwritten,
}

/// A concurrency place held; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    key: String,
    holder: String,
    store: Store,
}

impl Drop for Slot {
    fn drop(&mut self) {
        match &self.store {
            Store::Redis(redis) => {
                let (redis, key, holder) = (redis.clone(), self.key.clone(), self.holder.clone());
                tokio::spawn(async move {
                    if let Err(error) = redis.release(&key, &holder).await {
                        tracing::warn!(%key, %error, "could not give back a concurrency place; its lease frees it");
                    }
                });
            }
            Store::Local(keys) => {
                let mut keys = keys.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(state) = keys.get_mut(&self.key) {
                    state.holders = state.holders.saturating_sub(1);
                }
            }
        }
    }
}

/// The limiter of a process.
#[derive(Clone, Debug)]
pub struct Limiter {
    store: Store,
}

#[derive(Clone, Debug)]
enum Store {
    Redis(RedisLimits),
    Local(Arc<Mutex<HashMap<String, LocalState>>>),
}

#[derive(Debug)]
struct LocalState {
    holders: u32,
    /// The next free instant.
    next: Instant,
    /// The instant the last refused request was told to come back at.
    denied: Instant,
    /// Requests refused for concurrency in a row, and when the last was.
    busy: (u64, Instant),
}

impl Limiter {
    /// Counts in Redis when `redis` is given, else in this process.
    pub fn new(redis: Option<RedisConnection>, prefix: &str) -> Self {
        let store = match redis {
            Some(conn) => Store::Redis(RedisLimits {
                conn,
                prefix: prefix.to_owned(),
                acquire: Arc::new(redis::Script::new(ACQUIRE)),
            }),
            None => Store::Local(Arc::default()),
        };
        Limiter { store }
    }

    /// Asks for a request to `key` under `limits`; a concurrency place is held for at most
    /// `lease` (should its holder die).
    pub async fn acquire(
        &self,
        key: &str,
        limits: Limits,
        lease: Duration,
    ) -> Result<Grant, LimitError> {
        if limits.is_none() {
            return Ok(Grant::Go {
                after: Duration::ZERO,
                slot: None,
            });
        }
        let holder = ulid::Ulid::generate().to_string();
        let answer = match &self.store {
            Store::Redis(redis) => redis.acquire(key, &holder, limits, lease).await?,
            Store::Local(keys) => {
                let mut keys = keys.lock().unwrap_or_else(|e| e.into_inner());
                local_acquire(&mut keys, key, limits)
            }
        };
        Ok(match answer {
            Answer::Go(after) => Grant::Go {
                after,
                slot: limits.max_concurrent.map(|_| Slot {
                    key: key.to_owned(),
                    holder,
                    store: self.store.clone(),
                }),
            },
            Answer::Busy(refused) => {
                let places = u64::from(limits.max_concurrent.unwrap_or(1).max(1));
                let steps = u32::try_from(refused / places).unwrap_or(u32::MAX);
                let spread = BUSY_STEP.saturating_mul(steps);
                let jitter =
                    Duration::from_millis(fastrand::u64(0..=BUSY_RETRY.as_millis() as u64));
                Grant::Wait(Ord::min(BUSY_RETRY + spread, BUSY_MAX) + jitter)
            }
            Answer::Later(after) => Grant::Wait(after),
        })
    }
}

/// What the limiter answered, before it becomes a `Grant`.
enum Answer {
    Go(Duration),
    /// Refused for concurrency, the n-th in a row.
    Busy(u64),
    Later(Duration),
}

impl Limiter {
    /// Forgets `key`'s instants and refusals (not its holders): after its limits changed,
    /// the waits told under the old ones no longer apply.
    pub async fn reset(&self, key: &str) -> Result<(), LimitError> {
        match &self.store {
            Store::Redis(redis) => redis.reset(key).await,
            Store::Local(keys) => {
                let mut keys = keys.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(state) = keys.get_mut(key) {
                    let now = Instant::now();
                    state.next = now;
                    state.denied = now;
                    state.busy = (0, now);
                }
                Ok(())
            }
        }
    }
}

fn local_acquire(keys: &mut HashMap<String, LocalState>, key: &str, limits: Limits) -> Answer {
    let now = Instant::now();
    let state = keys.entry(key.to_owned()).or_insert(LocalState {
        holders: 0,
        next: now,
        denied: now,
        busy: (0, now),
    });
    if limits
        .max_concurrent
        .is_some_and(|max| state.holders >= max)
    {
        let (count, last) = state.busy;
        let count = if now - last > BUSY_WINDOW {
            1
        } else {
            count + 1
        };
        state.busy = (count, now);
        return Answer::Busy(count);
    }
    let mut after = Duration::ZERO;
    if let Some(interval) = limits.interval() {
        let next = Ord::max(state.next, now);
        if next - now > HORIZON {
            state.denied = Ord::max(state.denied, next) + interval;
            return Answer::Later(state.denied - now);
        }
        after = next - now;
        state.next = next + interval;
    }
    if limits.max_concurrent.is_some() {
        state.holders += 1;
    }
    Answer::Go(after)
}

/// KEYS: the holders (a sorted set scored by lease end), the next free instant, the last
/// refused request's instant, the count of requests refused for concurrency in a row.
/// ARGV: holder, lease (µs), most holders (0: unlimited), interval (µs, 0: unlimited),
/// horizon (µs), the busy window (ms). Times are Redis's clock in µs.
/// Returns {0, wait} go after wait, {1, n} busy (the n-th in a row), {2, wait} come back
/// after wait.
const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local most = tonumber(ARGV[3])
if most > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= most then
    local n = redis.call('INCR', KEYS[4])
    redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[6]))
    return {1, n}
  end
end
local interval = tonumber(ARGV[4])
local after = 0
if interval > 0 then
  local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
  if nxt < now then nxt = now end
  if nxt - now > tonumber(ARGV[5]) then
    local denied = tonumber(redis.call('GET', KEYS[3]) or '0')
    if denied < nxt then denied = nxt end
    denied = denied + interval
    redis.call('SET', KEYS[3], string.format('%.0f', denied), 'PX', math.floor((denied - now) / 1000) + 1000)
    return {2, denied - now}
  end
  after = nxt - now
  local taken = nxt + interval
  redis.call('SET', KEYS[2], string.format('%.0f', taken), 'PX', math.floor((taken - now) / 1000) + 1000)
end
if most > 0 then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[2]) / 1000) + 1000)
end
return {0, after}
"#;

#[derive(Clone)]
struct RedisLimits {
    conn: RedisConnection,
    prefix: String,
    acquire: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimits")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisLimits {
    /// Part `part` of limit `key`: one hash tag per limit, so its script's keys share a
    /// cluster slot.
    fn key(&self, key: &str, part: &str) -> String {
        format!("{{{}:limit:{key}}}:{part}", self.prefix)
    }

    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        limits: Limits,
        lease: Duration,
    ) -> Result<Answer, LimitError> {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let (kind, wait): (i64, i64) = self
            .acquire
            .key(self.key(key, "holders"))
            .key(self.key(key, "next"))
            .key(self.key(key, "denied"))
            .key(self.key(key, "busy"))
            .arg(holder)
            .arg(micros(lease))
            .arg(limits.max_concurrent.unwrap_or(0))
            .arg(limits.interval().map_or(0, micros))
            .arg(micros(HORIZON))
            .arg(BUSY_WINDOW.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let count = u64::try_from(wait).unwrap_or(0);
        Ok(match kind {
            0 => Answer::Go(Duration::from_micros(count)),
            1 => Answer::Busy(count),
            _ => Answer::Later(Duration::from_micros(count)),
        })
    }

    async fn reset(&self, key: &str) -> Result<(), LimitError> {
        redis::cmd("DEL")
            .arg(self.key(key, "next"))
            .arg(self.key(key, "denied"))
            .arg(self.key(key, "busy"))
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), LimitError> {
        redis::cmd("ZREM")
            .arg(self.key(key, "holders"))
            .arg(holder)
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_concurrent: Option<u32>, max_per_second: Option<f64>) -> Limits {
        Limits {
            max_concurrent,
            max_per_second,
        }
    }

    #[tokio::test]
    async fn no_limits_always_go_at_once() {
        let limiter = Limiter::new(None, "t");
        for _ in 0..100 {
            let grant = limiter
                .acquire("k", Limits::default(), Duration::from_secs(1))
                .await;
            assert!(matches!(grant, Ok(Grant::Go { after, slot: None }) if after.is_zero()));
        }
    }

    #[tokio::test]
    async fn concurrency_holds_places_until_they_are_given_back() {
        let limiter = Limiter::new(None, "t");
        let two = limits(Some(2), None);
        let lease = Duration::from_secs(5);
        let first = limiter.acquire("k", two, lease).await.unwrap();
        let second = limiter.acquire("k", two, lease).await.unwrap();
        assert!(matches!(first, Grant::Go { slot: Some(_), .. }));
        assert!(matches!(second, Grant::Go { slot: Some(_), .. }));
        assert!(matches!(
            limiter.acquire("k", two, lease).await.unwrap(),
            Grant::Wait(_)
        ));
        // Another key is not held by these.
        assert!(matches!(
            limiter.acquire("other", two, lease).await.unwrap(),
            Grant::Go { .. }
        ));
        drop(first);
        assert!(matches!(
            limiter.acquire("k", two, lease).await.unwrap(),
            Grant::Go { .. }
        ));
    }

    #[tokio::test]
    async fn a_rate_spaces_requests_and_sends_the_far_ones_back_spread_out() {
        let limiter = Limiter::new(None, "t");
        let ten = limits(None, Some(10.0));
        let lease = Duration::from_secs(5);
        let mut afters = Vec::new();
        let mut waits = Vec::new();
        for _ in 0..30 {
            match limiter.acquire("k", ten, lease).await.unwrap() {
                Grant::Go { after, .. } => afters.push(after),
                Grant::Wait(wait) => waits.push(wait),
            }
        }
        // One second's worth goes (waiting up to a second for its instant), 100 ms apart.
        assert!((10..=11).contains(&afters.len()), "{afters:?}");
        assert!(afters.windows(2).all(|w| w[1] > w[0]));
        assert!(afters.iter().all(|a| *a <= HORIZON));
        // The rest come back one interval apart, beyond the horizon.
        assert!(
            waits
                .windows(2)
                .all(|w| w[1] > w[0] + Duration::from_millis(90))
        );
        assert!(waits.iter().all(|w| *w > HORIZON));
    }
}

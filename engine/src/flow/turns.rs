//! Fairness between tenants: each tenant may have at most its share of the collect queue
//! queued at once (`TENANT_QUEUE_SHARE` times its weight). A submission within its
//! tenant's share is queued at once; one beyond it is kept in the database waiting its
//! turn, and the dispatcher (`dispatch`, in every worker) lets the held ones in, oldest
//! first, as the tenant's queued collections start. So a tenant's burst of 50,000 puts
//! only its share in the queue, and another tenant's collection is queued behind at most
//! the other tenants' shares, not behind the whole burst; tenants with backlogs are
//! served in proportion to their weights.
//!
//! Who is queued is kept per tenant in Redis (a sorted set of webhook ids by when they
//! were let in, so every process counts the same and an id added twice counts once), or in
//! the process when embedded. An id whose job was lost leaves the set after `STALE`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::time::Instant;

use super::Controls;
use super::limiter::LimitError;

/// After this long an id still counted as queued is taken to be lost (its job went
/// missing; the sweeper queues it again) and no longer counts.
const STALE: Duration = Duration::from_secs(600);

/// KEYS: the tenant's set. ARGV: the share, the stale age (ms), then ids.
/// Adds ids while the set has room; returns how many of the ids it holds now.
const ENTER: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local share = tonumber(ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local taken = 0
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    taken = taken + 1
  elseif n < share then
    redis.call('ZADD', KEYS[1], now, ARGV[i])
    n = n + 1
    taken = taken + 1
  else
    break
  end
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return taken
"#;

/// KEYS: the tenant's set. ARGV: the share, the stale age (ms). The room left.
const ROOM: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return math.max(0, tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1]))
"#;

/// Each tenant's queued collections, shared by every process.
#[derive(Clone)]
pub struct Turns {
    share: u32,
    controls: Controls,
    store: Store,
}

#[derive(Clone)]
enum Store {
    Redis {
        conn: ConnectionManager,
        prefix: String,
        enter: Arc<redis::Script>,
        room: Arc<redis::Script>,
    },
    Local(Arc<Mutex<HashMap<String, HashMap<String, Instant>>>>),
}

impl Turns {
    /// Shares of `share` collections per unit of weight (0: off, every collection is
    /// queued at once), weights from `controls`, kept in Redis when `redis` is given.
    pub fn new(
        share: u32,
        controls: Controls,
        redis: Option<ConnectionManager>,
        prefix: &str,
    ) -> Self {
        let store = match redis {
            Some(conn) => Store::Redis {
                conn,
                prefix: prefix.to_owned(),
                enter: Arc::new(redis::Script::new(ENTER)),
                room: Arc::new(redis::Script::new(ROOM)),
            },
            None => Store::Local(Arc::default()),
        };
        Turns {
            share,
            controls,
            store,
        }
    }

    /// Whether tenants take turns at all.
    pub fn is_on(&self) -> bool {
        self.share > 0
    }

    async fn share_of(&self, tenant: &str) -> u32 {
        self.share
            .saturating_mul(self.controls.weight(tenant).await)
            .max(1)
    }

    /// Lets in as many of `ids` (in order) as `tenant`'s share has room for; how many.
    pub async fn enter(&self, tenant: &str, ids: &[&str]) -> Result<usize, LimitError> {
        if !self.is_on() {
            return Ok(ids.len());
        }
        let share = self.share_of(tenant).await;
        match &self.store {
            Store::Redis {
                conn,
                prefix,
                enter,
                ..
            } => {
                let mut call = enter.key(key(prefix, tenant));
                call.arg(share).arg(millis(STALE));
                for id in ids {
                    call.arg(*id);
                }
                let taken: usize = call.invoke_async(&mut conn.clone()).await?;
                Ok(taken)
            }
            Store::Local(tenants) => {
                let mut tenants = tenants.lock().unwrap_or_else(|e| e.into_inner());
                let queued = tenants.entry(tenant.to_owned()).or_default();
                let now = Instant::now();
                queued.retain(|_, at| now.duration_since(*at) < STALE);
                let mut taken = 0;
                for id in ids {
                    if !queued.contains_key(*id) {
                        if queued.len() >= share as usize {
                            break;
                        }
                        queued.insert((*id).to_owned(), now);
                    }
                    taken += 1;
                }
                Ok(taken)
            }
        }
    }

    /// Webhook `id` of `tenant` left the queue (its collection started).
    pub async fn leave(&self, tenant: &str, id: &str) -> Result<(), LimitError> {
        if !self.is_on() {
            return Ok(());
        }
        match &self.store {
            Store::Redis { conn, prefix, .. } => {
                redis::cmd("ZREM")
                    .arg(key(prefix, tenant))
                    .arg(id)
                    .query_async::<()>(&mut conn.clone())
                    .await?;
            }
            Store::Local(tenants) => {
                let mut tenants = tenants.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(queued) = tenants.get_mut(tenant) {
                    queued.remove(id);
                }
            }
        }
        Ok(())
    }

    /// How many more of `tenant`'s collections may be queued now.
    pub async fn room(&self, tenant: &str) -> Result<u64, LimitError> {
        let share = self.share_of(tenant).await;
        match &self.store {
            Store::Redis {
                conn, prefix, room, ..
            } => Ok(room
                .key(key(prefix, tenant))
                .arg(share)
                .arg(millis(STALE))
                .invoke_async(&mut conn.clone())
                .await?),
            Store::Local(tenants) => {
                let mut tenants = tenants.lock().unwrap_or_else(|e| e.into_inner());
                let queued = tenants.entry(tenant.to_owned()).or_default();
                let now = Instant::now();
                queued.retain(|_, at| now.duration_since(*at) < STALE);
                Ok(u64::from(share).saturating_sub(queued.len() as u64))
            }
        }
    }
}

fn key(prefix: &str, tenant: &str) -> String {
    format!("{prefix}:turns:{tenant}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

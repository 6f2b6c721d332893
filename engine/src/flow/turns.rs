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
//! the process when embedded. An id whose webhook is no longer waiting to start (it was
//! removed, or its job's start was not counted out) is dropped when the dispatcher finds
//! the tenant's share full (`dispatch`); one whose job was lost leaves the set after
//! `STALE`.

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

/// How long the mark that a tenant has collections held lasts unless a dispatcher renews
/// it: while it is there, a new submission is held behind them instead of taking a place
/// that frees before a dispatcher's next tick.
const HELD_MARK: Duration = Duration::from_secs(1);

/// KEYS: the tenant's set, its held mark. ARGV: the share, the stale age (ms), whether this
/// is a submission (1: it waits behind held ones), the mark's life (ms), then ids.
/// Adds ids while the set has room; returns how many of the ids it holds now.
const ENTER: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local share = tonumber(ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local taken = 0
for i = 5, #ARGV do
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
if ARGV[3] == '1' and taken < #ARGV - 4 then
  redis.call('SET', KEYS[2], 1, 'PX', tonumber(ARGV[4]))
end
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
    Local(Arc<Mutex<LocalTurns>>),
}

/// The embedded process's turns: each tenant's queued ids, and until when it has some held.
#[derive(Default)]
struct LocalTurns {
    queued: HashMap<String, HashMap<String, Instant>>,
    held_until: HashMap<String, Instant>,
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

    /// Whether new submission `id` of `tenant` is queued now: not while the tenant has
    /// collections held for their turn (it is held behind them), nor beyond its share.
    pub async fn submit(&self, tenant: &str, id: &str) -> Result<bool, LimitError> {
        Ok(self.enter(tenant, &[id], true).await? == 1)
    }

    /// Lets in as many of `ids` (held ones, oldest first) as `tenant`'s share has room
    /// for; how many.
    pub async fn let_in(&self, tenant: &str, ids: &[&str]) -> Result<usize, LimitError> {
        self.enter(tenant, ids, false).await
    }

    async fn enter(
        &self,
        tenant: &str,
        ids: &[&str],
        submission: bool,
    ) -> Result<usize, LimitError> {
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
                call.key(held_key(prefix, tenant))
                    .arg(share)
                    .arg(millis(STALE))
                    .arg(u8::from(submission))
                    .arg(millis(HELD_MARK));
                for id in ids {
                    call.arg(*id);
                }
                let taken: usize = call.invoke_async(&mut conn.clone()).await?;
                Ok(taken)
            }
            Store::Local(turns) => {
                let mut turns = turns.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if submission
                    && turns
                        .held_until
                        .get(tenant)
                        .is_some_and(|until| now < *until)
                {
                    return Ok(0);
                }
                let queued = turns.queued.entry(tenant.to_owned()).or_default();
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
                if submission && taken < ids.len() {
                    turns.held_until.insert(tenant.to_owned(), now + HELD_MARK);
                }
                Ok(taken)
            }
        }
    }

    /// Marks whether `tenant` still has collections held after a dispatch, so new
    /// submissions wait behind them (renewed every tick while there are).
    pub async fn mark_held(&self, tenant: &str, held: bool) -> Result<(), LimitError> {
        match &self.store {
            Store::Redis { conn, prefix, .. } => {
                let cmd = if held {
                    let mut set = redis::cmd("SET");
                    set.arg(held_key(prefix, tenant))
                        .arg(1)
                        .arg("PX")
                        .arg(millis(HELD_MARK));
                    set
                } else {
                    let mut del = redis::cmd("DEL");
                    del.arg(held_key(prefix, tenant));
                    del
                };
                cmd.query_async::<()>(&mut conn.clone()).await?;
            }
            Store::Local(turns) => {
                let mut turns = turns.lock().unwrap_or_else(|e| e.into_inner());
                if held {
                    let until = Instant::now() + HELD_MARK;
                    turns.held_until.insert(tenant.to_owned(), until);
                } else {
                    turns.held_until.remove(tenant);
                }
            }
        }
        Ok(())
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
            Store::Local(turns) => {
                let mut turns = turns.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(queued) = turns.queued.get_mut(tenant) {
                    queued.remove(id);
                }
            }
        }
        Ok(())
    }

    /// The webhooks counted as `tenant`'s queued collections.
    pub async fn members(&self, tenant: &str) -> Result<Vec<String>, LimitError> {
        match &self.store {
            Store::Redis { conn, prefix, .. } => Ok(redis::cmd("ZRANGE")
                .arg(key(prefix, tenant))
                .arg(0)
                .arg(-1)
                .query_async(&mut conn.clone())
                .await?),
            Store::Local(turns) => {
                let turns = turns.lock().unwrap_or_else(|e| e.into_inner());
                Ok(turns
                    .queued
                    .get(tenant)
                    .map(|queued| queued.keys().cloned().collect())
                    .unwrap_or_default())
            }
        }
    }

    /// No longer counts `ids` as `tenant`'s queued collections.
    pub async fn forget(&self, tenant: &str, ids: &[String]) -> Result<(), LimitError> {
        if ids.is_empty() {
            return Ok(());
        }
        match &self.store {
            Store::Redis { conn, prefix, .. } => {
                redis::cmd("ZREM")
                    .arg(key(prefix, tenant))
                    .arg(ids)
                    .query_async::<()>(&mut conn.clone())
                    .await?;
            }
            Store::Local(turns) => {
                let mut turns = turns.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(queued) = turns.queued.get_mut(tenant) {
                    for id in ids {
                        queued.remove(id);
                    }
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
            Store::Local(turns) => {
                let mut turns = turns.lock().unwrap_or_else(|e| e.into_inner());
                let queued = turns.queued.entry(tenant.to_owned()).or_default();
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

fn held_key(prefix: &str, tenant: &str) -> String {
    format!("{prefix}:turns:{tenant}:held")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

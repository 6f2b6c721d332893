//! Fairness between tenants: each tenant may have at most its share of the collect queue
//! queued at once (`TENANT_QUEUE_SHARE` times its weight). A submission within its
//! tenant's share is queued at once; one beyond it (or behind others already held) is
//! written held and put on its tenant's held list, and the dispatcher (`dispatch`, in
//! every worker) lets the held ones in, oldest first, as the tenant's queued collections
//! start. So a tenant's burst of 50,000 puts only its share in the queue, and another
//! tenant's collection is queued behind at most the other tenants' shares, not behind the
//! whole burst; tenants with backlogs are served in proportion to their weights.
//!
//! Holding costs no database write: the held row is written as it is inserted (its job's
//! task id already recorded, so that job may claim it), and letting it in is a push.
//! Who is queued and who is held are kept per tenant in Redis (a sorted set of webhook ids
//! by when they were let in, so every process counts the same and an id added twice counts
//! once; a list of held ids and their task ids), or in the process when embedded. An id
//! whose webhook no longer waits to start is dropped when the dispatcher finds the share
//! full (`dispatch`); one whose job was lost leaves the set after `STALE`.
//!
//! Taking turns costs a submission no round trip of its own unless its tenant is near its
//! share. A submission checks the share exactly (`SUBMIT`) when its process's last reading
//! of it is older than `READING_AGE`; while that reading plus what the process counted in
//! since stays below a quarter of the share (`FAST_PART`) and nothing of the tenant is
//! held, the process queues submissions on it, and while it says the tenant holds
//! collections or its share is full, it holds them. Count-ins, holds and count-outs are
//! written in batches (`batch`). Processes see each other's count-ins only in their next
//! reading, so up to four api processes never queue beyond a share; more may, by a quarter
//! of a share for each beyond four. A held submission whose hold is not yet written may be
//! overtaken by a later one of its process, and count-outs not yet written when a process
//! stops are left to the audit (or `STALE`).

mod batch;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue::RedisConnection;
use tokio::time::Instant;

use super::Controls;
use super::limiter::LimitError;

/// After this long an id still counted as queued is taken to be lost (its job went
/// missing; the sweeper queues it again) and no longer counts.
const STALE: Duration = Duration::from_secs(600);

/// How long a process queues its tenants' submissions on what it last read of their
/// shares, before it checks one exactly again.
const READING_AGE: Duration = Duration::from_millis(100);

/// A process queues submissions on its reading only below this part of the share: each
/// api process may queue up to `share / FAST_PART` that others do not see until their next
/// reading, so up to four api processes together never exceed a share.
const FAST_PART: u32 = 4;

/// Longest a submission waits for its count-in or its hold to be written.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// Removes the ids let in longer than the stale age ago from KEYS[1]; `now` is Redis's ms.
const PURGE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
"#;

/// KEYS: the tenant's set, its held list. ARGV: the share, now (ms, the caller's clock:
/// only the stale age is measured against it), the id, how many of the tenant's count-ins
/// the caller has yet to write. Lets the id in if nothing of the tenant is held and its
/// share has room; returns whether it did (1 or 0), the share's count after, and the held
/// list's length. It neither purges nor reads Redis's clock: the dispatcher purges a share
/// it finds full.
const SUBMIT: &str = r#"
local held = redis.call('LLEN', KEYS[2])
local queued = redis.call('ZCARD', KEYS[1])
if held > 0 or queued + tonumber(ARGV[4]) >= tonumber(ARGV[1]) then return {0, queued, held} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return {1, queued + 1, held}
"#;

/// KEYS: the tenant's set, its held list, the set of tenants holding. ARGV: the share, the
/// stale age (ms), the most to let in, the tenant. Pops as many held entries as the share
/// has room for (and `most`), counts them in, and returns them.
const LET_IN: &str = r#"
local room = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local n = math.min(room, tonumber(ARGV[3]))
local out = {}
if n > 0 then
  out = redis.call('LPOP', KEYS[2], n) or {}
  if #out > 0 then
    local members = {}
    for _, entry in ipairs(out) do
      members[#members + 1] = now
      members[#members + 1] = string.match(entry, '^[^ ]+')
    end
    redis.call('ZADD', KEYS[1], unpack(members))
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  end
end
if redis.call('LLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[4]) end
return out
"#;

/// KEYS: the tenant's set. ARGV: the share, the stale age (ms). The room left.
const ROOM: &str = r#"
return math.max(0, tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1]))
"#;

/// A held collection: its webhook and the task its job is pushed as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The webhook.
    pub id: String,
    /// The queue task recorded on it.
    pub task: String,
}

/// Each tenant's queued and held collections, shared by every process.
#[derive(Clone)]
pub struct Turns {
    share: u32,
    controls: Controls,
    store: Store,
}

/// A submission's place in its tenant's share.
#[derive(Debug)]
pub enum Place {
    /// Queued: its job may be pushed once its count-in is written.
    Queued(CountIn),
    /// Held for its turn: `hold` it once its row is written.
    Held,
}

/// A submission's count-in, written already or on its way.
#[derive(Debug)]
pub struct CountIn(Option<tokio::sync::oneshot::Receiver<bool>>);

impl CountIn {
    /// Nothing to wait for.
    pub fn written() -> Self {
        CountIn(None)
    }

    /// Resolves once the count-in is written, or its write failed (which is logged: the
    /// submission is then queued uncounted, its tenant's share larger for a while), or after
    /// `WRITE_WAIT`.
    pub async fn wait(self) {
        if let Some(written) = self.0 {
            let _ = tokio::time::timeout(WRITE_WAIT, written).await;
        }
    }
}

/// What a process last read of one tenant's share, and how many it counted in since.
struct Reading {
    queued: u64,
    holding: bool,
    at: Instant,
    since: u64,
}

#[derive(Clone)]
enum Store {
    Redis {
        conn: RedisConnection,
        prefix: String,
        batch: batch::Batcher,
        readings: Arc<Mutex<HashMap<String, Reading>>>,
        submit: Arc<redis::Script>,
        let_in: Arc<redis::Script>,
        room: Arc<redis::Script>,
    },
    Local(Arc<Mutex<LocalTurns>>),
}

/// The embedded process's turns: each tenant's queued ids and its held ones, in order.
#[derive(Default)]
struct LocalTurns {
    queued: HashMap<String, HashMap<String, Instant>>,
    held: HashMap<String, VecDeque<Held>>,
}

impl LocalTurns {
    /// `tenant`'s queued ids, the stale ones dropped.
    fn queued(&mut self, tenant: &str) -> &mut HashMap<String, Instant> {
        let queued = self.queued.entry(tenant.to_owned()).or_default();
        let now = Instant::now();
        queued.retain(|_, at| now.duration_since(*at) < STALE);
        queued
    }
}

impl Turns {
    /// Shares of `share` collections per unit of weight (0: off, every collection is
    /// queued at once), weights from `controls`, kept in Redis when `redis` is given.
    pub fn new(
        share: u32,
        controls: Controls,
        redis: Option<RedisConnection>,
        prefix: &str,
    ) -> Self {
        let script = |body: &str| Arc::new(redis::Script::new(&format!("{PURGE}{body}")));
        let store = match redis {
            Some(conn) => Store::Redis {
                batch: batch::Batcher::new(conn.clone(), prefix),
                readings: Arc::default(),
                conn,
                prefix: prefix.to_owned(),
                submit: Arc::new(redis::Script::new(SUBMIT)),
                let_in: script(LET_IN),
                room: script(ROOM),
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

    /// Where new submission `id` of `tenant` goes: held while the tenant has collections
    /// held (behind them) or beyond its share (stale ids counted until a dispatcher,
    /// finding the share full, purges them), else queued.
    pub async fn submit(&self, tenant: &str, id: &str) -> Result<Place, LimitError> {
        if !self.is_on() {
            return Ok(Place::Queued(CountIn::written()));
        }
        let share = self.share_of(tenant).await;
        match &self.store {
            Store::Redis {
                conn,
                prefix,
                batch,
                readings,
                submit,
                ..
            } => {
                match on_reading(readings, tenant, share) {
                    Some(true) => {
                        return Ok(Place::Queued(CountIn(Some(batch.count_in(tenant, id)))));
                    }
                    Some(false) => return Ok(Place::Held),
                    None => {}
                }
                // Read once: an id whose count-in is written meanwhile is then counted
                // twice in the reading, never not at all.
                let unwritten = batch.unwritten(tenant);
                let (taken, queued, held): (u8, u64, u64) = submit
                    .key(key(prefix, tenant))
                    .key(held_key(prefix, tenant))
                    .arg(share)
                    .arg(chrono::Utc::now().timestamp_millis())
                    .arg(id)
                    .arg(unwritten)
                    .invoke_async(&mut conn.clone())
                    .await?;
                let reading = Reading {
                    queued: queued + unwritten,
                    holding: held > 0,
                    at: Instant::now(),
                    since: 0,
                };
                lock(readings).insert(tenant.to_owned(), reading);
                Ok(match taken {
                    1 => Place::Queued(CountIn::written()),
                    _ => Place::Held,
                })
            }
            Store::Local(turns) => {
                let mut turns = lock(turns);
                if turns.held.get(tenant).is_some_and(|h| !h.is_empty()) {
                    return Ok(Place::Held);
                }
                let queued = turns.queued(tenant);
                if queued.len() >= share as usize {
                    return Ok(Place::Held);
                }
                queued.insert(id.to_owned(), Instant::now());
                Ok(Place::Queued(CountIn::written()))
            }
        }
    }

    /// Puts `held` (its row written) at the end of `tenant`'s held collections.
    pub async fn hold(&self, tenant: &str, held: Held) -> Result<(), LimitError> {
        match &self.store {
            Store::Redis { batch, .. } => {
                let entry = format!("{} {}", held.id, held.task);
                let written = tokio::time::timeout(WRITE_WAIT, batch.hold(tenant, entry)).await;
                if !matches!(written, Ok(Ok(true))) {
                    return Err(LimitError::Unwritten);
                }
            }
            Store::Local(turns) => {
                let mut turns = lock(turns);
                turns
                    .held
                    .entry(tenant.to_owned())
                    .or_default()
                    .push_back(held);
            }
        }
        Ok(())
    }

    /// The tenants with collections held.
    pub async fn holding(&self) -> Result<Vec<String>, LimitError> {
        match &self.store {
            Store::Redis { conn, prefix, .. } => Ok(redis::cmd("SMEMBERS")
                .arg(holding_key(prefix))
                .query_async(&mut conn.clone())
                .await?),
            Store::Local(turns) => {
                let turns = lock(turns);
                Ok(turns
                    .held
                    .iter()
                    .filter(|(_, held)| !held.is_empty())
                    .map(|(tenant, _)| tenant.clone())
                    .collect())
            }
        }
    }

    /// Takes up to `most` of `tenant`'s held collections, oldest first, as far as its share
    /// has room, counting them in: their jobs are the caller's to push.
    pub async fn let_in(&self, tenant: &str, most: u64) -> Result<Vec<Held>, LimitError> {
        let share = self.share_of(tenant).await;
        match &self.store {
            Store::Redis {
                conn,
                prefix,
                let_in,
                ..
            } => {
                let entries: Vec<String> = let_in
                    .key(key(prefix, tenant))
                    .key(held_key(prefix, tenant))
                    .key(holding_key(prefix))
                    .arg(share)
                    .arg(millis(STALE))
                    .arg(most)
                    .arg(tenant)
                    .invoke_async(&mut conn.clone())
                    .await?;
                Ok(entries
                    .into_iter()
                    .filter_map(|entry| {
                        let (id, task) = entry.split_once(' ')?;
                        Some(Held {
                            id: id.to_owned(),
                            task: task.to_owned(),
                        })
                    })
                    .collect())
            }
            Store::Local(turns) => {
                let mut turns = lock(turns);
                let room = (share as usize).saturating_sub(turns.queued(tenant).len());
                let n = room.min(usize::try_from(most).unwrap_or(usize::MAX));
                let held = turns.held.entry(tenant.to_owned()).or_default();
                let out: Vec<Held> = held.drain(..n.min(held.len())).collect();
                let now = Instant::now();
                let queued = turns.queued(tenant);
                for entry in &out {
                    queued.insert(entry.id.clone(), now);
                }
                Ok(out)
            }
        }
    }

    /// Counts ids in `tenant`'s share (whose jobs were pushed otherwise): for tests.
    pub async fn count_in(&self, tenant: &str, ids: &[&str]) -> Result<(), LimitError> {
        match &self.store {
            Store::Redis { conn, prefix, .. } => {
                let mut zadd = redis::cmd("ZADD");
                zadd.arg(key(prefix, tenant));
                let now = chrono::Utc::now().timestamp_millis();
                for id in ids {
                    zadd.arg(now).arg(*id);
                }
                zadd.query_async::<()>(&mut conn.clone()).await?;
            }
            Store::Local(turns) => {
                let mut turns = lock(turns);
                let queued = turns.queued(tenant);
                for id in ids {
                    queued.insert((*id).to_owned(), Instant::now());
                }
            }
        }
        Ok(())
    }

    /// Webhook `id` of `tenant` left the queue (its collection started, or its submission
    /// was not kept): counted out with the next batch, not awaited.
    pub fn leave(&self, tenant: &str, id: &str) {
        if !self.is_on() {
            return;
        }
        match &self.store {
            Store::Redis { batch, .. } => batch.count_out(tenant, id),
            Store::Local(turns) => {
                if let Some(queued) = lock(turns).queued.get_mut(tenant) {
                    queued.remove(id);
                }
            }
        }
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
                let mut turns = lock(turns);
                Ok(turns.queued(tenant).keys().cloned().collect())
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
                let mut turns = lock(turns);
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
                let mut turns = lock(turns);
                Ok(u64::from(share).saturating_sub(turns.queued(tenant).len() as u64))
            }
        }
    }
}

/// What this process's reading of `tenant`'s share (with what it counted in since) says of
/// a new submission, if it is fresh: queue it (below `FAST_PART` of the share, and then it
/// is counted in this reading), hold it (behind held ones, or at the share), or, in
/// between, nothing: check exactly. Holding on a stale reading is harmless: a dispatcher lets the
/// submission in at its next tick if the share has room.
fn on_reading(
    readings: &Mutex<HashMap<String, Reading>>,
    tenant: &str,
    share: u32,
) -> Option<bool> {
    let mut readings = lock(readings);
    let reading = readings.get_mut(tenant)?;
    if reading.at.elapsed() >= READING_AGE {
        return None;
    }
    let queued = reading.queued + reading.since;
    if reading.holding || queued >= u64::from(share) {
        return Some(false);
    }
    if queued >= u64::from(share / FAST_PART) {
        return None;
    }
    reading.since += 1;
    Some(true)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

// Every turns key carries one hash tag: letting a tenant in touches its set, its held
// list and the set of tenants holding in one script, so on a cluster they share a slot.

/// A tenant's set of collections let in.
fn key(prefix: &str, tenant: &str) -> String {
    format!("{{{prefix}:turns}}:{tenant}")
}

/// A tenant's list of held collections.
fn held_key(prefix: &str, tenant: &str) -> String {
    format!("{{{prefix}:turns}}:{tenant}:held")
}

/// The set of tenants holding collections.
fn holding_key(prefix: &str) -> String {
    format!("{{{prefix}:turns}}-holding")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

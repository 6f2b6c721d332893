//! Health in Redis: one hash per subject (a provider, a receiver host), changed only by
//! scripts that read Redis's clock, so every worker process sees and applies the same
//! rules as `State`; and one set per kind naming the subjects with failures on record.

use crate::queue::RedisConnection;

use std::time::Duration;

use super::{Admission, Answer, Change, HealthError, HealthView, Policy, State, at, millis};

const NOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

/// KEYS[1] = the subject's hash; ARGV = threshold, probe lease (ms).
/// Returns {0, failures} go, {1, 0} probe, {2, until} wait, {3, until} a probe is out.
const ADMIT: &str = r#"
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
if f < tonumber(ARGV[1]) then return {0, f} end
local np = tonumber(redis.call('HGET', KEYS[1], 'np') or '0')
if now < np then
  if redis.call('HEXISTS', KEYS[1], 'pb') == 1 then return {3, np} end
  return {2, np}
end
redis.call('HSET', KEYS[1], 'np', now + tonumber(ARGV[2]), 'pb', 1)
return {1, 0}
"#;

/// KEYS[1] = the subject's hash, KEYS[2] = the set of troubled subjects; ARGV = ok, probe,
/// threshold, min and max cool-down (ms), the subject's name.
/// Returns 0 no change, 1 went down, 2 came back up.
const RECORD: &str = r#"
if ARGV[1] == '1' then
  local was = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[6])
  if was >= tonumber(ARGV[3]) then return 2 end
  return 0
end
redis.call('SADD', KEYS[2], ARGV[6])
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0') + 1
if ARGV[2] == '1' then
  local l = tonumber(redis.call('HGET', KEYS[1], 'l') or '0') + 1
  local cd = math.min(tonumber(ARGV[4]) * math.pow(2, math.min(l, 30)), tonumber(ARGV[5]))
  redis.call('HSET', KEYS[1], 'f', f, 'l', l, 'np', now + cd)
  redis.call('HDEL', KEYS[1], 'pb')
  return 0
end
redis.call('HSET', KEYS[1], 'f', f)
if f == tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'l', 0, 'ds', now, 'np', now + tonumber(ARGV[4]))
  return 1
end
return 0
"#;

/// The Redis side of one kind's health.
#[derive(Clone)]
pub struct RedisHealth {
    conn: RedisConnection,
    prefix: String,
    kind: &'static str,
    policy: Policy,
    admit: std::sync::Arc<redis::Script>,
    record: std::sync::Arc<redis::Script>,
}

impl RedisHealth {
    pub(super) fn new(
        conn: RedisConnection,
        prefix: &str,
        kind: &'static str,
        policy: Policy,
    ) -> Self {
        RedisHealth {
            conn,
            prefix: prefix.to_owned(),
            kind,
            policy,
            admit: std::sync::Arc::new(redis::Script::new(&format!("{NOW}{ADMIT}"))),
            record: std::sync::Arc::new(redis::Script::new(&format!("{NOW}{RECORD}"))),
        }
    }

    // One hash tag per kind: recording an outcome updates the subject and the set of
    // troubled ones in one script, so on a cluster they share a slot.

    /// A subject's hash.
    fn key(&self, name: &str) -> String {
        format!("{{{}:{}s}}:one:{name}", self.prefix, self.kind)
    }

    /// The set of troubled subjects.
    fn troubled_key(&self) -> String {
        format!("{{{}:{}s}}:troubled", self.prefix, self.kind)
    }

    pub(super) async fn admit(
        &self,
        name: &str,
        probe_lease: Duration,
    ) -> Result<Answer, HealthError> {
        let (kind, value): (i64, i64) = self
            .admit
            .key(self.key(name))
            .arg(self.policy.threshold)
            .arg(millis(probe_lease))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match kind {
            0 => Answer::Admit(Admission::Go {
                failures: value.try_into().unwrap_or(u32::MAX),
            }),
            1 => Answer::Admit(Admission::Probe),
            3 => Answer::Probing(at(value)),
            _ => Answer::Admit(Admission::Wait(at(value))),
        })
    }

    pub(super) async fn record(
        &self,
        name: &str,
        ok: bool,
        probe: bool,
    ) -> Result<Change, HealthError> {
        let change: i64 = self
            .record
            .key(self.key(name))
            .key(self.troubled_key())
            .arg(u8::from(ok))
            .arg(u8::from(probe))
            .arg(self.policy.threshold)
            .arg(millis(self.policy.cooldown_min))
            .arg(millis(self.policy.cooldown_max))
            .arg(name)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match change {
            1 => Change::Down,
            2 => Change::Up,
            _ => Change::None,
        })
    }

    pub(super) async fn names(&self) -> Result<Vec<String>, HealthError> {
        Ok(redis::cmd("SMEMBERS")
            .arg(self.troubled_key())
            .query_async(&mut self.conn.clone())
            .await?)
    }

    pub(super) async fn view(&self, name: &str) -> Result<HealthView, HealthError> {
        let fields: std::collections::HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(self.key(name))
            .query_async(&mut self.conn.clone())
            .await?;
        let get = |f: &str| fields.get(f).copied();
        let state = State {
            failures: get("f").unwrap_or(0).try_into().unwrap_or(u32::MAX),
            level: get("l").unwrap_or(0).try_into().unwrap_or(0),
            down_since: get("ds"),
            next_probe_at: get("np").unwrap_or(0),
            probing: get("pb").is_some(),
        };
        Ok(state.view(&self.policy))
    }
}

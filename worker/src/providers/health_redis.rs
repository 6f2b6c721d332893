//! Provider health in Redis: one hash per provider, changed only by scripts that read
//! Redis's clock, so every worker process sees and applies the same rules as `State`.

use redis::aio::ConnectionManager;

use super::Provider;
use super::health::{Admission, HealthError, HealthView, Policy, State, at, millis};

const NOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

/// KEYS[1] = the provider's hash; ARGV = threshold, probe lease (ms).
/// Returns {0, failures} go, {1, 0} probe, {2, until} wait.
const ADMIT: &str = r#"
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
if f < tonumber(ARGV[1]) then return {0, f} end
local np = tonumber(redis.call('HGET', KEYS[1], 'np') or '0')
if now < np then return {2, np} end
redis.call('HSET', KEYS[1], 'np', now + tonumber(ARGV[2]))
return {1, 0}
"#;

/// KEYS[1] = the provider's hash; ARGV = ok, probe, threshold, min and max cool-down (ms).
const RECORD: &str = r#"
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1])
  return 0
end
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0') + 1
if ARGV[2] == '1' then
  local l = tonumber(redis.call('HGET', KEYS[1], 'l') or '0') + 1
  local cd = math.min(tonumber(ARGV[4]) * math.pow(2, math.min(l, 30)), tonumber(ARGV[5]))
  redis.call('HSET', KEYS[1], 'f', f, 'l', l, 'np', now + cd)
  return 0
end
redis.call('HSET', KEYS[1], 'f', f)
if f == tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'l', 0, 'ds', now, 'np', now + tonumber(ARGV[4]))
end
return 0
"#;

/// The Redis side of provider health.
#[derive(Clone)]
pub struct RedisHealth {
    conn: ConnectionManager,
    prefix: String,
    policy: Policy,
    admit: std::sync::Arc<redis::Script>,
    record: std::sync::Arc<redis::Script>,
}

impl RedisHealth {
    pub(super) fn new(conn: ConnectionManager, prefix: &str, policy: Policy) -> Self {
        RedisHealth {
            conn,
            prefix: prefix.to_owned(),
            policy,
            admit: std::sync::Arc::new(redis::Script::new(&format!("{NOW}{ADMIT}"))),
            record: std::sync::Arc::new(redis::Script::new(&format!("{NOW}{RECORD}"))),
        }
    }

    pub(super) fn policy(&self) -> &Policy {
        &self.policy
    }

    fn key(&self, name: &str) -> String {
        format!("{}:provider:{name}", self.prefix)
    }

    pub(super) async fn admit(&self, provider: &Provider) -> Result<Admission, HealthError> {
        let (kind, value): (i64, i64) = self
            .admit
            .key(self.key(&provider.name))
            .arg(self.policy.threshold)
            .arg(millis(provider.timeout))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match kind {
            0 => Admission::Go {
                failures: value.try_into().unwrap_or(u32::MAX),
            },
            1 => Admission::Probe,
            _ => Admission::Wait(at(value)),
        })
    }

    pub(super) async fn record(
        &self,
        provider: &Provider,
        ok: bool,
        probe: bool,
    ) -> Result<(), HealthError> {
        let _: i64 = self
            .record
            .key(self.key(&provider.name))
            .arg(u8::from(ok))
            .arg(u8::from(probe))
            .arg(self.policy.threshold)
            .arg(millis(self.policy.cooldown_min))
            .arg(millis(self.policy.cooldown_max))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
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
        };
        Ok(state.view(&self.policy))
    }
}

//! Whether Redis keeps what it acknowledged: a queued job or a buffered increment lives
//! only in Redis until a worker takes it, so Redis without an append-only file loses it on
//! a restart. Read from `CONFIG GET`, which managed Redis may refuse.

use std::collections::HashMap;
use std::time::Duration;

use openapi::ops::RedisDurability;
use redis::RedisError;

use crate::queue::RedisConnection;

/// How long the check waits for Redis.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What `appendonly` and `appendfsync` mean for acknowledged work.
pub fn judge(appendonly: &str, appendfsync: &str) -> RedisDurability {
    match (appendonly, appendfsync) {
        ("yes", "always" | "everysec") => RedisDurability::Durable,
        ("yes" | "no", _) => RedisDurability::AtRisk,
        _ => RedisDurability::Unknown,
    }
}

/// Reads Redis's persistence settings (of every primary, on a cluster: the weakest one
/// decides); `Unknown` when refused or unanswered. Sets the gauge
/// `datahog_redis_durability{state}` (1 for the state found, 0 for the others).
pub async fn check(conn: &RedisConnection) -> RedisDurability {
    let found = match tokio::time::timeout(CHECK_TIMEOUT, read_settings(conn)).await {
        Ok(Ok(primaries)) => weakest(
            primaries
                .iter()
                .map(|(appendonly, appendfsync)| judge(appendonly, appendfsync)),
        ),
        Ok(Err(error)) => {
            tracing::debug!(%error, "cannot read Redis's persistence settings");
            RedisDurability::Unknown
        }
        Err(_) => RedisDurability::Unknown,
    };
    for state in [
        RedisDurability::Durable,
        RedisDurability::AtRisk,
        RedisDurability::Unknown,
    ] {
        let value = if state == found { 1.0 } else { 0.0 };
        metrics::gauge!("datahog_redis_durability", "state" => state.as_str()).set(value);
    }
    found
}

/// `appendonly` and `appendfsync` of each primary.
async fn read_settings(conn: &RedisConnection) -> Result<Vec<(String, String)>, RedisError> {
    let setting = |name: &str| {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg(name);
        cmd
    };
    let appendonly = conn.on_every_primary(setting("appendonly")).await?;
    let appendfsync = conn.on_every_primary(setting("appendfsync")).await?;
    // A map over RESP3, name-value pairs over RESP2: both read as a map.
    let value = |answer: &redis::Value, name: &str| -> Result<String, RedisError> {
        let settings: HashMap<String, String> = redis::from_redis_value_ref(answer)?;
        Ok(settings.get(name).cloned().unwrap_or_default())
    };
    appendonly
        .iter()
        .zip(&appendfsync)
        .map(|(only, fsync)| Ok((value(only, "appendonly")?, value(fsync, "appendfsync")?)))
        .collect()
}

/// The weakest of several primaries' durability: one at risk puts acknowledged work at
/// risk; none at all is unknown.
fn weakest(states: impl Iterator<Item = RedisDurability>) -> RedisDurability {
    let mut found = None;
    for state in states {
        found = Some(match (found, state) {
            (_, RedisDurability::AtRisk) | (Some(RedisDurability::AtRisk), _) => {
                RedisDurability::AtRisk
            }
            (_, RedisDurability::Unknown) | (Some(RedisDurability::Unknown), _) => {
                RedisDurability::Unknown
            }
            _ => RedisDurability::Durable,
        });
    }
    found.unwrap_or(RedisDurability::Unknown)
}

/// Checks once, at start, and warns when a Redis restart could lose acknowledged work.
pub async fn warn_at_start(conn: RedisConnection) {
    match check(&conn).await {
        RedisDurability::Durable => {
            tracing::info!("Redis persists acknowledged work (appendonly, appendfsync)");
        }
        RedisDurability::AtRisk => tracing::warn!(
            "Redis runs without appendonly yes and appendfsync everysec or always: a Redis \
             restart loses queued jobs and unflushed counter increments that were acknowledged"
        ),
        RedisDurability::Unknown => tracing::info!(
            "Redis's persistence settings cannot be read (CONFIG GET refused or unanswered); \
             make sure it keeps an append-only file"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_fsynced_append_only_file_is_durable() {
        assert_eq!(judge("yes", "everysec"), RedisDurability::Durable);
        assert_eq!(judge("yes", "always"), RedisDurability::Durable);
        assert_eq!(judge("yes", "no"), RedisDurability::AtRisk);
        assert_eq!(judge("no", "everysec"), RedisDurability::AtRisk);
        assert_eq!(judge("", ""), RedisDurability::Unknown);
    }

    #[test]
    fn the_weakest_primary_decides() {
        use RedisDurability::*;
        assert_eq!(weakest([Durable, Durable].into_iter()), Durable);
        assert_eq!(weakest([Durable, Unknown].into_iter()), Unknown);
        assert_eq!(weakest([Unknown, AtRisk, Durable].into_iter()), AtRisk);
        assert_eq!(weakest([].into_iter()), Unknown);
    }
}

//! Whether Redis keeps what it acknowledged: a queued job or a buffered increment lives
//! only in Redis until a worker takes it, so Redis without an append-only file loses it on
//! a restart. Read from `CONFIG GET`, which managed Redis may refuse.

use std::collections::HashMap;
use std::time::Duration;

use openapi::ops::RedisDurability;
use redis::aio::ConnectionManager;

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

/// Reads Redis's persistence settings; `Unknown` when refused or unanswered. Sets the gauge
/// `datahog_redis_durability{state}` (1 for the state found, 0 for the others).
pub async fn check(conn: &ConnectionManager) -> RedisDurability {
    let mut conn = conn.clone();
    let mut pipe = redis::pipe();
    pipe.cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync");
    // A map over RESP3, name-value pairs over RESP2: both read as a map.
    type Settings = HashMap<String, String>;
    let read = pipe.query_async::<(Settings, Settings)>(&mut conn);
    let found = match tokio::time::timeout(CHECK_TIMEOUT, read).await {
        Ok(Ok((appendonly, appendfsync))) => {
            match (appendonly.get("appendonly"), appendfsync.get("appendfsync")) {
                (Some(appendonly), Some(appendfsync)) => judge(appendonly, appendfsync),
                _ => RedisDurability::Unknown,
            }
        }
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

/// Checks once, at start, and warns when a Redis restart could lose acknowledged work.
pub async fn warn_at_start(conn: ConnectionManager) {
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
}

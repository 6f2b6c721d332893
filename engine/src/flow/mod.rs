//! Flow control: what the operator sets on providers and each tenant on its receiver
//! hosts (limits on concurrent requests and requests per second, across every worker
//! process; pauses that survive restarts) and how a paused key's waiting webhooks are
//! woken when it resumes; delivery in order per ordering key; and turns between tenants
//! for the collect queue. A webhook held by any of it waits without spending an attempt.

pub mod dispatch;
pub mod limiter;
pub mod manage;
pub mod ordering;
pub mod settings;
pub mod turns;
pub mod wake;

use std::time::Duration;

use sea_orm::DatabaseConnection;

pub use limiter::{Grant, Limiter, Limits, Slot};
pub use settings::{Control, Controls};
pub use turns::Turns;

/// How long a webhook held by a pause waits before it looks again. A resume wakes the
/// waiting webhooks at once; this only bounds how long one missed by a resume (its worker
/// died while it waited) stays asleep.
pub const PAUSE_RECHECK: Duration = Duration::from_secs(300);

/// How long a collection held for its turn waits before the sweeper would queue it anyway:
/// the dispatchers let it in long before, unless every worker is gone.
pub const TURN_RECHECK: Duration = Duration::from_secs(3600);

/// The flow controls of a process: the settings in force and the limiter that applies
/// them across processes.
#[derive(Clone)]
pub struct Flow {
    /// The providers' and receivers' settings, read from the database.
    pub controls: Controls,
    /// Concurrency and rate limits, in Redis (or this process when embedded).
    pub limiter: Limiter,
    /// Each tenant's share of the collect queue.
    pub turns: Turns,
}

impl Flow {
    /// Settings read from `db`, limits and turns kept in Redis when `redis` is given; each
    /// tenant's share of the collect queue is `share` collections per unit of weight.
    pub fn new(
        db: &DatabaseConnection,
        redis: Option<crate::queue::RedisConnection>,
        prefix: &str,
        share: u32,
    ) -> Self {
        let controls = Controls::new(db);
        Flow {
            turns: Turns::new(share, controls.clone(), redis.clone(), prefix),
            controls,
            limiter: Limiter::new(redis, prefix),
        }
    }
}

/// The limiter's key of a provider.
pub fn provider_key(name: &str) -> String {
    format!("provider:{name}")
}

/// The limiter's key of `tenant`'s deliveries to receiver `host`.
pub fn receiver_key(tenant: &str, host: &str) -> String {
    format!("receiver:{tenant}:{host}")
}

/// The receiver a callback URL's settings are kept under: its host (name or address, in
/// lower case), without scheme or port.
pub fn receiver_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// A host as a client names it in a path (`hooks.example.com`, `127.0.0.1`, `[::1]`, or a
/// whole URL), as it is kept; `None` if it names no host.
pub fn parse_host(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 253 {
        return None;
    }
    let url = if text.contains("://") {
        url::Url::parse(text).ok()?
    } else {
        url::Url::parse(&format!("http://{text}/")).ok()?
    };
    let valid = url.username().is_empty()
        && url.password().is_none()
        && (text.contains("://") || (url.path() == "/" && url.query().is_none()));
    valid
        .then(|| url.host_str().map(str::to_ascii_lowercase))
        .flatten()
        .filter(|h| !h.is_empty())
}

/// Up to a tenth of `spread`, so webhooks waiting together do not all come back at once.
pub(crate) fn jitter(spread: Duration) -> chrono::Duration {
    let tenth = (spread.as_millis() / 10) as i64;
    chrono::Duration::milliseconds(fastrand::i64(0..=tenth))
}

/// When a webhook held by a pause or an ordering key looks again, should its wake miss it.
pub(crate) fn recheck_at() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + PAUSE_RECHECK + jitter(PAUSE_RECHECK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_is_its_host_without_scheme_or_port() {
        assert_eq!(
            receiver_host("https://Hooks.Example.com:8443/x?y"),
            "hooks.example.com"
        );
        assert_eq!(receiver_host("http://127.0.0.1:9000/a"), "127.0.0.1");
        assert_eq!(receiver_host("http://[::1]:9000/a"), "[::1]");
    }

    #[test]
    fn a_host_is_named_by_itself_with_a_port_or_as_a_url() {
        assert_eq!(
            parse_host("Hooks.Example.com").as_deref(),
            Some("hooks.example.com")
        );
        assert_eq!(parse_host("127.0.0.1:9000").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            parse_host("https://a.example/x").as_deref(),
            Some("a.example")
        );
        assert_eq!(parse_host("[::1]").as_deref(), Some("[::1]"));
        for bad in ["", " ", "a b", "user@host", "host/path", "host?x=1", "::"] {
            assert_eq!(parse_host(bad), None, "{bad}");
        }
    }
}

//! Receiver health: the shared health model (`crate::health`), two circuits per callback
//! host (scheme, host and port), so a receiver that is down gets one probe per cool-down
//! instead of every waiting webhook's attempts: one per tenant and host for the answers it
//! gets (any HTTP status), so one tenant's failing endpoint cannot hold another tenant's
//! deliveries to the same host; and one per host, shared by every tenant, for what is a
//! fact about the host: no answer at all (refused, reset, timed out, TLS). And a cap on the
//! deliveries one process makes to one host at once.

use entity::delivery_attempt::ErrorKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue::RedisConnection;
use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AttemptResult;
use crate::config::WebhookConfig;
use crate::health::{Admission, Health, HealthError, HealthView, Policy};

/// The receiver hosts' health, shared by every worker process, and this process's
/// per-host delivery slots.
#[derive(Clone)]
pub struct Receivers {
    health: Health,
    concurrency: usize,
    slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// The host a callback URL is delivered to: `scheme://host:port`.
pub fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            let port = url.port_or_known_default().unwrap_or_default();
            format!("{}://{host}:{port}", url.scheme())
        }
        // Refused before any request is made; its own subject, so it harms no other.
        Err(_) => url.to_owned(),
    }
}

/// Whether an attempt's outcome says a tenant's receiver at the host is up: it answered,
/// with anything but a server error or a 429, or asked to wait. A refused address says
/// nothing.
pub fn host_answered(result: &AttemptResult) -> Option<bool> {
    match result.status {
        // A receiver asking to wait (429 or 503 with `Retry-After`) is up, as a provider is.
        Some(_) if result.asks_to_wait() => Some(true),
        Some(status) => Some(status < 500 && status != 429),
        None if result.error_kind == Some(ErrorKind::RefusedAddress) => None,
        None => Some(false),
    }
}

/// Whether an attempt's outcome says the host itself is reachable: it answered at all.
fn host_reached(result: &AttemptResult) -> Option<bool> {
    match result.status {
        Some(_) => Some(true),
        None if result.error_kind == Some(ErrorKind::RefusedAddress) => None,
        None => Some(false),
    }
}

/// The subject of `tenant`'s answers from `host` (a host never holds a space).
fn answers_of(tenant: &str, host: &str) -> String {
    format!("{tenant} {host}")
}

/// What both circuits allow a delivery to a host: the tenant's answers circuit, and the
/// host's own unless the first already said wait (then the host's was not asked, so no
/// probe of it was taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverAdmission {
    answers: Admission,
    host: Option<Admission>,
}

impl ReceiverAdmission {
    /// Until when the delivery must wait, if either circuit is open.
    pub fn wait(&self) -> Option<DateTime<Utc>> {
        let waits = |a: Option<Admission>| match a {
            Some(Admission::Wait(until)) => Some(until),
            _ => None,
        };
        Ord::max(waits(Some(self.answers)), waits(self.host))
    }
}

/// A circuit with failures on record: a host's own (`tenant` none) or one tenant's
/// answers from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Troubled {
    /// The tenant whose answers these are; none for the host's shared circuit.
    pub tenant: Option<String>,
    /// The host.
    pub host: String,
    /// The circuit's health.
    pub view: HealthView,
}

impl Receivers {
    /// Redis-backed when `redis` is given, else in-process.
    pub fn new(redis: Option<RedisConnection>, prefix: &str, config: &WebhookConfig) -> Self {
        let policy = Policy {
            threshold: config.receiver_failure_threshold,
            cooldown_min: config.receiver_cooldown_min,
            cooldown_max: config.receiver_cooldown_max,
        };
        Receivers {
            health: Health::new("receiver", redis, prefix, policy),
            concurrency: config.receiver_concurrency as usize,
            slots: Arc::default(),
        }
    }

    /// Whether `tenant`'s delivery may go to `host` now; a probe holds a circuit for
    /// `lease`.
    pub async fn admit(
        &self,
        tenant: &str,
        host: &str,
        lease: Duration,
    ) -> Result<ReceiverAdmission, HealthError> {
        let answers = self.health.admit(&answers_of(tenant, host), lease).await?;
        if let Admission::Wait(_) = answers {
            return Ok(ReceiverAdmission {
                answers,
                host: None,
            });
        }
        let host = Some(self.health.admit(host, lease).await?);
        Ok(ReceiverAdmission { answers, host })
    }

    /// Records what an attempt of `tenant` that `admission` allowed says about its
    /// answers from `host`, and about `host` itself.
    pub async fn settle(
        &self,
        tenant: &str,
        host: &str,
        admission: ReceiverAdmission,
        result: &AttemptResult,
    ) -> Result<(), HealthError> {
        if let (Some(reached), Some(allowed)) = (host_reached(result), admission.host) {
            self.health.settle(host, allowed, reached).await?;
        }
        if let Some(ok) = host_answered(result) {
            let subject = answers_of(tenant, host);
            self.health.settle(&subject, admission.answers, ok).await?;
        }
        Ok(())
    }

    /// One of this process's delivery slots for `host`, held until dropped (`None` only if
    /// the slots were closed, which they never are).
    pub async fn slot(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry(host.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.concurrency)))
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }

    /// Every circuit with failures on record (the others are up), by host then tenant,
    /// the host's own first.
    pub async fn troubled(&self) -> Result<Vec<Troubled>, HealthError> {
        let mut troubled = Vec::new();
        for subject in self.health.troubled().await? {
            let view = self.health.view(&subject).await?;
            // Recovered between the two reads.
            if view.failures == 0 {
                continue;
            }
            let (tenant, host) = match subject.split_once(' ') {
                Some((tenant, host)) => (Some(tenant.to_owned()), host.to_owned()),
                None => (None, subject),
            };
            troubled.push(Troubled { tenant, host, view });
        }
        troubled.sort_by(|a, b| (&a.host, &a.tenant).cmp(&(&b.host, &b.tenant)));
        Ok(troubled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_scheme_host_and_port() {
        assert_eq!(
            host_of("https://example.com/hook?x=1"),
            "https://example.com:443"
        );
        assert_eq!(host_of("http://10.0.0.1:8080/a"), "http://10.0.0.1:8080");
        assert_eq!(host_of("http://Example.COM/a"), "http://example.com:80");
    }
}

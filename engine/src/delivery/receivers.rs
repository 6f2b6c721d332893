//! Receiver health: the shared health model (`crate::health`), one subject per callback
//! host (scheme, host and port), so a receiver that is down gets one probe per cool-down
//! instead of every waiting webhook's attempts; and a cap on the deliveries one process
//! makes to one host at once.

use entity::delivery_attempt::ErrorKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
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

/// Whether an attempt's outcome says the host is up: it answered, with anything but a
/// server error or a 429. A refused address says nothing about the host.
pub fn host_answered(result: &AttemptResult) -> Option<bool> {
    match result.status {
        Some(status) => Some(status < 500 && status != 429),
        None if result.error_kind == Some(ErrorKind::RefusedAddress) => None,
        None => Some(false),
    }
}

impl Receivers {
    /// Redis-backed when `redis` is given, else in-process.
    pub fn new(redis: Option<ConnectionManager>, prefix: &str, config: &WebhookConfig) -> Self {
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

    /// Whether a delivery may go to `host` now; a probe holds the host for `lease`.
    pub async fn admit(&self, host: &str, lease: Duration) -> Result<Admission, HealthError> {
        self.health.admit(host, lease).await
    }

    /// Records what an attempt that `admission` allowed says about `host`.
    pub async fn settle(
        &self,
        host: &str,
        admission: Admission,
        result: &AttemptResult,
    ) -> Result<(), HealthError> {
        match host_answered(result) {
            Some(ok) => self.health.settle(host, admission, ok).await,
            None => Ok(()),
        }
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

    /// The health of `host`.
    pub async fn view(&self, host: &str) -> Result<HealthView, HealthError> {
        self.health.view(host).await
    }

    /// Every host with failures on record, sorted (the others are up).
    pub async fn troubled(&self) -> Result<Vec<String>, HealthError> {
        self.health.troubled().await
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

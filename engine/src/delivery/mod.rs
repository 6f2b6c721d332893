//! Delivering a webhook's callback: one signed POST, and what came of it.

pub mod address;
pub mod receivers;
pub mod retry;
pub mod secret_file;
pub mod secrets;
pub mod signature;
pub mod special_purpose;

use entity::delivery_attempt::ErrorKind;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use self::address::{CallbackUrl, PublicOnly, RefusedAddress};
use self::signature::Secret;
use crate::error::error_chain;

/// How much of a receiver's answer an attempt keeps.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

/// The HTTP client of every callback: no redirects, no proxy, and (unless private targets
/// are allowed) only public addresses connected to.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
    allow_private: bool,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// Why it failed without an answer.
    pub error_kind: Option<ErrorKind>,
    /// The failure's detail.
    pub error_message: Option<String>,
    /// The start of the receiver's answer.
    pub body: Option<String>,
    /// The receiver's `Retry-After`, as sent.
    pub retry_after: Option<String>,
}

impl AttemptResult {
    /// Whether the receiver took it (2xx).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Whether the receiver refused it for good (410 Gone).
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }

    /// Whether the receiver asked to be called later: 429 or 503 with a `Retry-After`.
    pub fn asks_to_wait(&self) -> bool {
        matches!(self.status, Some(429 | 503)) && self.retry_after.is_some()
    }
}

impl Sender {
    /// A sender giving each request `timeout`.
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("datahog-webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)));
        if !allow_private {
            // A proxy would be the address connected to, and would not be checked.
            builder = builder.no_proxy().dns_resolver(PublicOnly);
        }
        Ok(Sender {
            http: builder.build()?,
            allow_private,
        })
    }

    /// POSTs `body` to `url`, signed as message `id` with each of `secrets` (the current
    /// one first; older ones during a rotation's overlap), so receivers holding either
    /// verify it. Never fails: records what happened.
    /// `traceparent` names the attempt's span, for the receiver's tracing.
    pub async fn send(
        &self,
        url: &str,
        id: &str,
        body: &str,
        secrets: &[Secret],
        traceparent: Option<&str>,
    ) -> AttemptResult {
        let started_at = Utc::now();
        let clock = Instant::now();
        let mut result = AttemptResult {
            started_at,
            duration: Duration::ZERO,
            status: None,
            error_kind: None,
            error_message: None,
            body: None,
            retry_after: None,
        };
        // Checked again: the rules may have changed since submission.
        let url = match CallbackUrl::parse(url, self.allow_private) {
            Ok(url) => url,
            Err(reason) => {
                result.error_kind = Some(ErrorKind::RefusedAddress);
                result.error_message = Some(reason);
                return result;
            }
        };
        let timestamp = started_at.timestamp();
        let request = self
            .http
            .post(url.url().clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature::sign_all(secrets, id, timestamp, body.as_bytes()),
            )
            .body(body.to_owned());
        let request = match traceparent {
            Some(traceparent) => request.header(crate::traces::TRACEPARENT, traceparent),
            None => request,
        };
        match request.send().await {
            Ok(mut response) => {
                result.status = Some(response.status().as_u16());
                result.retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut kept = Vec::new();
                while kept.len() < RESPONSE_BODY_LIMIT {
                    match response.chunk().await {
                        Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                        Ok(None) | Err(_) => break,
                    }
                }
                // The rest is never read: dropping the response closes its connection
                // instead of draining whatever the receiver sends.
                drop(response);
                kept.truncate(RESPONSE_BODY_LIMIT);
                result.body = Some(String::from_utf8_lossy(&kept).into_owned());
            }
            Err(error) => {
                let (kind, message) = classify(&error);
                result.error_kind = Some(kind);
                result.error_message = Some(message);
            }
        }
        result.duration = clock.elapsed();
        result
    }
}

fn classify(error: &reqwest::Error) -> (ErrorKind, String) {
    let message = error_chain(error);
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if refused(error) {
        ErrorKind::RefusedAddress
    } else if error.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Request
    };
    (kind, message)
}

fn refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<RefusedAddress>() {
            return true;
        }
        source = e.source();
    }
    false
}

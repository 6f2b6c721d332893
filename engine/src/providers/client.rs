//! Fetching a provider: one GET, an answer that must be a JSON object or array.

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::Provider;
use crate::error::error_chain;
use crate::traces::{Traced, Traces, UrlPath, client_attributes};

/// Why a provider fetch failed; every kind but `Busy` counts against the provider's health.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The provider answered 429 or 503 with a `Retry-After`: it is up and asks to be
    /// called again after this long. A wait, not a failure.
    #[error("provider answered HTTP {status} and asked to be called again in {}s", .retry_after.as_secs())]
    Busy {
        /// Its status.
        status: u16,
        /// How long it asked to wait.
        retry_after: std::time::Duration,
    },
    /// The provider answered with a non-2xx status.
    #[error("provider answered HTTP {0}")]
    Status(u16),
    /// No answer within the provider's timeout.
    #[error("provider did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection failed (refused, reset, DNS).
    #[error("could not reach the provider: {0}")]
    Connect(String),
    /// The answer is longer than `PROVIDER_MAX_BODY`; the rest was not read.
    #[error("response larger than {}", ByteSize(*.0))]
    TooLarge(u64),
    /// The answer is not the JSON object or array a provider sends.
    #[error("provider sent a body that is not a JSON object or array: {0}")]
    Body(String),
}

impl FetchError {
    /// What kind of failure it is, as a span's `error.type`: the status for an answer, else
    /// a short name.
    pub fn kind(&self) -> String {
        match self {
            FetchError::Busy { status, .. } | FetchError::Status(status) => status.to_string(),
            FetchError::Timeout(_) => "timeout".into(),
            FetchError::Connect(_) => "connect".into(),
            FetchError::TooLarge(_) => "response_too_large".into(),
            FetchError::Body(_) => "invalid_body".into(),
        }
    }
}

/// Whether a fetch's outcome says the provider is up: it sent data, or asked to be called
/// later (`Busy`). What a provider's health records.
pub fn answered(result: &Result<String, FetchError>) -> bool {
    matches!(result, Ok(_) | Err(FetchError::Busy { .. }))
}

/// The HTTP client of every provider fetch; cheap to clone.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    max_body: u64,
}

impl ProviderClient {
    /// A client with pooled connections; each request gets its provider's timeout (which
    /// covers reading the body), and reads at most `max_body` bytes of an answer.
    pub fn new(max_body: u64) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("datahog/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()?;
        Ok(Self { http, max_body })
    }

    /// Fetches `provider`; returns its answer as compact JSON text. Counted in metrics, and
    /// a client span (`GET`, continuing `parent`; `about` says for what) of `traces`.
    pub async fn fetch(
        &self,
        provider: &Provider,
        traces: &Traces,
        parent: Option<&str>,
        about: KeyValue,
    ) -> Result<String, FetchError> {
        let mut span = traces.span("GET", SpanKind::Client, parent, || {
            let mut attributes = client_attributes("GET", &provider.url, UrlPath::Kept);
            attributes.push(KeyValue::new("datahog.provider", provider.name.clone()));
            attributes.push(about);
            attributes
        });
        let result = self.get(provider, &mut span).await;
        crate::metrics::provider_request(&provider.name, result.is_ok());
        if let Err(error) = &result {
            span.fail(error.kind());
        }
        result
    }

    async fn get(&self, provider: &Provider, span: &mut Traced) -> Result<String, FetchError> {
        let mut request = self
            .http
            .get(provider.url.clone())
            .timeout(provider.timeout);
        for header in &provider.headers {
            request = request.header(&header.name, header.value());
        }
        if let Some(traceparent) = span.traceparent() {
            request = request.header(crate::traces::TRACEPARENT, traceparent);
        }
        let response = request.send().await.map_err(|e| classify(e, provider))?;
        let status = response.status();
        span.set(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        if !status.is_success() {
            let status = status.as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::delivery::retry::parse_retry_after(v, chrono::Utc::now()));
            return Err(match retry_after {
                Some(retry_after) if status == 429 || status == 503 => FetchError::Busy {
                    status,
                    retry_after,
                },
                _ => FetchError::Status(status),
            });
        }
        let body = self.read_body(response, provider).await?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::Body(e.to_string()))?;
        if !(value.is_object() || value.is_array()) {
            return Err(FetchError::Body(format!("got {value}")));
        }
        Ok(value.to_string())
    }
}

impl ProviderClient {
    /// Reads the body as it streams in, and stops (dropping the connection) as soon as it
    /// passes `max_body`: memory stays bounded whatever the provider sends.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        provider: &Provider,
    ) -> Result<Vec<u8>, FetchError> {
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, provider))? {
            if (body.len() + chunk.len()) as u64 > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A size in bytes as people write it: `1 MiB`, `64 KiB`, `1000 bytes`.
struct ByteSize(u64);

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * 1024;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

fn classify(error: reqwest::Error, provider: &Provider) -> FetchError {
    // The reason is kept on the webhook, which its tenant reads: without the URL, which may
    // hold credentials.
    let error = error.without_url();
    if error.is_timeout() {
        FetchError::Timeout(provider.timeout)
    } else {
        FetchError::Connect(error_chain(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use std::time::Duration;

    /// A figure of this process's `/proc/self/status`, in kB.
    fn status_kb(field: &str) -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap()
    }

    /// Serves `chunks` chunks of 64 KiB of a JSON array, with no length announced.
    async fn endless_provider(chunks: usize) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let chunk = Bytes::from(format!("[{}", "1,".repeat(32 * 1024)).into_bytes());
        let app = axum::Router::new().route(
            "/big",
            axum::routing::get(move || {
                let chunk = chunk.clone();
                async move {
                    let stream = futures::stream::iter(
                        std::iter::repeat_n(chunk, chunks).map(Ok::<_, std::io::Error>),
                    );
                    Body::from_stream(stream)
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider {
            name: "big".into(),
            url: format!("http://{addr}/big").parse().unwrap(),
            timeout: Duration::from_secs(30),
            headers: Vec::new(),
        }
    }

    fn about() -> KeyValue {
        KeyValue::new("datahog.test", "client")
    }

    #[tokio::test]
    async fn a_50_mib_answer_is_refused_after_1_mib_with_memory_flat() {
        let provider = endless_provider(800).await;
        let client = ProviderClient::new(1024 * 1024).unwrap();
        let peak_before = status_kb("VmHWM");
        let error = client
            .fetch(&provider, &Traces::off(), None, about())
            .await
            .unwrap_err();
        let peak_after = status_kb("VmHWM");
        assert!(matches!(error, FetchError::TooLarge(_)), "{error}");
        assert_eq!(error.to_string(), "response larger than 1 MiB");
        // Reading it whole would take 50 MiB; a bounded read stays within a few.
        let grown_mib = (peak_after.saturating_sub(peak_before)) / 1024;
        assert!(
            grown_mib < 20,
            "peak resident memory grew by {grown_mib} MiB"
        );
    }

    #[tokio::test]
    async fn an_answer_within_the_limit_is_read_whole() {
        let provider = endless_provider(2).await;
        let client = ProviderClient::new(1024 * 1024).unwrap();
        let error = client
            .fetch(&provider, &Traces::off(), None, about())
            .await
            .unwrap_err();
        // 128 KiB of an unterminated array: read whole, then refused as JSON, not as size.
        assert!(matches!(error, FetchError::Body(_)), "{error}");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(ByteSize(1024 * 1024).to_string(), "1 MiB");
        assert_eq!(ByteSize(64 * 1024).to_string(), "64 KiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 bytes");
    }
}

//! Fetching a provider: one GET, an answer that must be a JSON object or array.

use super::Provider;

/// Why a provider fetch failed; every kind counts against the provider's health.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The provider answered with a non-2xx status.
    #[error("provider answered HTTP {0}")]
    Status(u16),
    /// No answer within the provider's timeout.
    #[error("provider did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection failed (refused, reset, DNS).
    #[error("could not reach the provider: {0}")]
    Connect(String),
    /// The answer is not the JSON object or array a provider sends.
    #[error("provider sent a body that is not a JSON object or array: {0}")]
    Body(String),
}

/// The HTTP client of every provider fetch; cheap to clone.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
}

impl ProviderClient {
    /// A client with pooled connections; each request gets its provider's timeout.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("datahog/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()?;
        Ok(Self { http })
    }

    /// Fetches `provider`; returns its answer as compact JSON text. Counted in metrics.
    pub async fn fetch(&self, provider: &Provider) -> Result<String, FetchError> {
        let result = self.get(provider).await;
        crate::metrics::provider_request(&provider.name, result.is_ok());
        result
    }

    async fn get(&self, provider: &Provider) -> Result<String, FetchError> {
        let response = self
            .http
            .get(provider.url.clone())
            .timeout(provider.timeout)
            .send()
            .await
            .map_err(|e| classify(e, provider))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let body = response.bytes().await.map_err(|e| classify(e, provider))?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::Body(e.to_string()))?;
        if !(value.is_object() || value.is_array()) {
            return Err(FetchError::Body(format!("got {value}")));
        }
        Ok(value.to_string())
    }
}

fn classify(error: reqwest::Error, provider: &Provider) -> FetchError {
    if error.is_timeout() {
        FetchError::Timeout(provider.timeout)
    } else {
        FetchError::Connect(error_chain(&error))
    }
}

/// An error with its causes, which reqwest keeps out of its own message.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

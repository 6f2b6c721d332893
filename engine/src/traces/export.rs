//! Spans to an OTLP/HTTP collector: each batch one protobuf `ExportTraceServiceRequest`
//! POSTed to the traces URL. The batch processor exports from a thread of its own; the
//! exporter runs its requests on a small runtime of its own there, so it never waits on the
//! process's async threads (nor they on it, but at shutdown).

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::Message as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;

use super::TraceSetupError;
use crate::config::TraceConfig;

/// Exports spans over OTLP/HTTP with protobuf bodies.
pub struct OtlpHttp {
    url: url::Url,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    resource: ResourceAttributesWithSchema,
    timeout: Duration,
}

impl std::fmt::Debug for OtlpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttp")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl OtlpHttp {
    /// An exporter posting to `url` with the configured headers and timeout.
    pub fn new(url: url::Url, config: &TraceConfig) -> Result<Self, TraceSetupError> {
        let mut headers = HeaderMap::new();
        if let Some(raw) = &config.otel_exporter_otlp_headers {
            for (name, value) in parse_headers(raw.expose_secret())? {
                headers.insert(name, value);
            }
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.otel_exporter_otlp_timeout)
            .build()
            .map_err(|e| TraceSetupError(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TraceSetupError(e.to_string()))?;
        Ok(OtlpHttp {
            url,
            client,
            runtime,
            resource: ResourceAttributesWithSchema::from(&Resource::builder_empty().build()),
            timeout: config.otel_exporter_otlp_timeout,
        })
    }

    async fn post(&self, body: Vec<u8>) -> OTelSdkResult {
        let sent = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .send()
            .await
            .map_err(|e| OTelSdkError::InternalFailure(format!("export to {}: {e}", self.url)))?;
        let status = sent.status();
        if !status.is_success() {
            return Err(OTelSdkError::InternalFailure(format!(
                "export to {}: the collector answered {status}",
                self.url
            )));
        }
        Ok(())
    }
}

impl SpanExporter for OtlpHttp {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        let body = request.encode_to_vec();
        let outcome = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, self.post(body)).await });
        outcome.unwrap_or(Err(OTelSdkError::Timeout(self.timeout)))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas, values
/// percent-encoded.
fn parse_headers(raw: &str) -> Result<Vec<(HeaderName, HeaderValue)>, TraceSetupError> {
    let invalid =
        |pair: &str| TraceSetupError(format!("header `{pair}` in OTEL_EXPORTER_OTLP_HEADERS"));
    raw.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| invalid(pair))?;
            let value = percent_decode(value.trim()).ok_or_else(|| invalid(pair))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| invalid(pair))?;
            let value = HeaderValue::from_str(&value).map_err(|_| invalid(pair))?;
            Ok((name, value))
        })
        .collect()
}

fn percent_decode(raw: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_pairs_with_percent_encoded_values() {
        let parsed = parse_headers("api-key=a%20b+c, x-team = ops").unwrap();
        let pairs: Vec<(String, String)> = parsed
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("api-key".to_owned(), "a b+c".to_owned()),
                ("x-team".to_owned(), "ops".to_owned())
            ]
        );
        assert!(parse_headers("no-value").is_err());
    }
}

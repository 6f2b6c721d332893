//! OpenTelemetry traces: one trace per webhook, from its submission through each provider
//! fetch to each delivery attempt, in whichever process each runs. The webhook keeps its
//! trace's `traceparent` (W3C Trace Context); every job working on it later starts its
//! spans from that, and every request sent to a provider or a receiver carries its own
//! span's `traceparent`, so their tracing joins the same trace. Spans are exported over
//! OTLP/HTTP (`export`) when an endpoint is configured; without one nothing is recorded
//! and a client's `traceparent` is passed on as it came.

pub mod context;
pub mod export;

use std::sync::Arc;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};

use crate::config::{SamplerKind, TraceConfig};

pub use context::{accept, format, parse};

/// The W3C Trace Context header.
pub const TRACEPARENT: &str = "traceparent";

/// Why traces could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry exporter: {0}")]
pub struct TraceSetupError(String);

/// The process's tracer, or nothing when no exporter is configured.
#[derive(Clone, Default)]
pub struct Traces {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tracer: SdkTracer,
    provider: SdkTracerProvider,
    /// How long the last export may take at shutdown.
    last_export: std::time::Duration,
}

impl Traces {
    /// Records nothing.
    pub fn off() -> Self {
        Traces::default()
    }

    /// Exports to the configured OTLP endpoint; off when none is set.
    pub fn start(config: &TraceConfig) -> Result<Self, TraceSetupError> {
        let Some(url) = config.traces_url() else {
            return Ok(Traces::off());
        };
        let exporter = export::OtlpHttp::new(url, config)?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(config.otel_bsp_schedule_delay)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let resource = Resource::builder()
            .with_service_name(config.otel_service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler(config))
            .with_resource(resource)
            .build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "datahog");
        tracing::info!(url = %config.traces_url().map(|u| u.to_string()).unwrap_or_default(), "exporting traces over OTLP/HTTP");
        Ok(Traces {
            inner: Some(Arc::new(Inner {
                tracer,
                provider,
                last_export: config.otel_exporter_otlp_timeout + std::time::Duration::from_secs(1),
            })),
        })
    }

    /// Whether spans are recorded.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts span `name` of `kind` continuing the trace of `parent` (a `traceparent`; a
    /// new trace without one), with `attributes` (only built when spans are recorded).
    pub fn span(
        &self,
        name: impl Into<String>,
        kind: SpanKind,
        parent: Option<&str>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Traced {
        let Some(inner) = &self.inner else {
            return Traced {
                span: None,
                passed_on: parent.map(str::to_owned),
            };
        };
        let cx = match parent.and_then(parse) {
            Some(remote) => Context::new().with_remote_span_context(remote),
            None => Context::new(),
        };
        let span = inner
            .tracer
            .span_builder(name.into())
            .with_kind(kind)
            .with_attributes(attributes())
            .start_with_context(&inner.tracer, &cx);
        Traced {
            span: Some(span),
            passed_on: None,
        }
    }

    /// Exports what is left and stops, as a process ends: the SDK's shutdown blocks up to
    /// the export timeout, so it runs off the async threads.
    pub async fn shutdown(&self) {
        let Some(inner) = self.inner.clone() else {
            return;
        };
        let stopped = tokio::task::spawn_blocking(move || {
            inner.provider.shutdown_with_timeout(inner.last_export)
        })
        .await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not export the last spans"),
            Err(error) => tracing::warn!(%error, "could not export the last spans"),
        }
    }
}

fn sampler(config: &TraceConfig) -> Sampler {
    let ratio = config.otel_traces_sampler_arg;
    match config.otel_traces_sampler {
        SamplerKind::AlwaysOn => Sampler::AlwaysOn,
        SamplerKind::AlwaysOff => Sampler::AlwaysOff,
        SamplerKind::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        SamplerKind::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerKind::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerKind::ParentBasedTraceIdRatio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// One span (ended when dropped), or, with traces off, the `traceparent` it would have
/// continued.
pub struct Traced {
    span: Option<opentelemetry_sdk::trace::Span>,
    passed_on: Option<String>,
}

impl Traced {
    /// The `traceparent` naming this span: what the request it stands for sends, or what
    /// a webhook keeps. With traces off, the one it was started from.
    pub fn traceparent(&self) -> Option<String> {
        match &self.span {
            Some(span) => Some(format(span.span_context())),
            None => self.passed_on.clone(),
        }
    }

    /// The span's context, when it is recorded: what `traceparent` formats.
    pub fn context(&self) -> Option<SpanContext> {
        self.span.as_ref().map(|span| span.span_context().clone())
    }

    /// Sets `attribute`.
    pub fn set(&mut self, attribute: KeyValue) {
        if let Some(span) = &mut self.span {
            span.set_attribute(attribute);
        }
    }

    /// Marks the span failed, with `error.type` (OpenTelemetry's semantic conventions).
    pub fn fail(&mut self, error_type: impl Into<String>) {
        if let Some(span) = &mut self.span {
            let error_type = error_type.into();
            span.set_attribute(KeyValue::new("error.type", error_type.clone()));
            span.set_status(Status::error(error_type));
        }
    }
}

/// Whether a URL's path is recorded as it is, or each of its segments as `REDACTED`: a
/// callback URL's path often is its credential (a receiver's token), a provider's is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPath {
    /// Recorded.
    Kept,
    /// Each segment `REDACTED`.
    Redacted,
}

/// The attributes OpenTelemetry's HTTP semantic conventions give a client span for a
/// request to `url`.
pub fn client_attributes(method: &'static str, url: &url::Url, path: UrlPath) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("url.full", redacted(url, path)),
    ];
    if let Some(host) = url.host_str() {
        attributes.push(KeyValue::new("server.address", host.to_owned()));
    }
    if let Some(port) = url.port_or_known_default() {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    attributes
}

/// `url` without what may be a credential, as the conventions advise for `url.full`: its
/// user and password, its query's values (and a name without a value, which may be a
/// token itself) as `REDACTED`, and per `path`, its path's segments.
fn redacted(url: &url::Url, path: UrlPath) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    if path == UrlPath::Redacted && url.path() != "/" {
        let segments = url.path_segments().map_or(0, Iterator::count);
        url.set_path(&vec!["REDACTED"; segments].join("/"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, &str)> = url
            .query_pairs()
            .map(|(name, value)| match value.is_empty() {
                true => ("REDACTED".to_owned(), ""),
                false => (name.into_owned(), "REDACTED"),
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(url: &str, path: UrlPath) -> String {
        let url = url::Url::parse(url).unwrap();
        let attributes = client_attributes("POST", &url, path);
        let full = attributes
            .iter()
            .find(|a| a.key.as_str() == "url.full")
            .unwrap();
        full.value.as_str().into_owned()
    }

    #[test]
    fn a_urls_credentials_are_not_recorded() {
        let url = "https://user:pw@example.test:8443/hook/T0/s3cret?token=s3cret&x=1#frag";
        assert_eq!(
            full(url, UrlPath::Kept),
            "https://example.test:8443/hook/T0/s3cret?token=REDACTED&x=REDACTED"
        );
        assert_eq!(
            full(url, UrlPath::Redacted),
            "https://example.test:8443/REDACTED/REDACTED/REDACTED?token=REDACTED&x=REDACTED"
        );
        assert_eq!(
            full("http://h/?s3cret", UrlPath::Kept),
            "http://h/?REDACTED="
        );
        assert_eq!(full("http://h/", UrlPath::Redacted), "http://h/");
        let url = url::Url::parse("https://example.test:8443/").unwrap();
        let attributes = client_attributes("POST", &url, UrlPath::Kept);
        let port = attributes
            .iter()
            .find(|a| a.key.as_str() == "server.port")
            .unwrap();
        assert_eq!(port.value, opentelemetry::Value::I64(8443));
    }
}

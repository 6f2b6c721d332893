//! One trace per webhook (W3C Trace Context, OpenTelemetry over OTLP/HTTP): the client's
//! `traceparent` is continued by the submission's span, the collection, each provider
//! request and the callback, whichever process runs them; the collector here is a
//! wiremock server whose requests are decoded with the OTLP protobuf definitions.

use std::time::{Duration, Instant};

use engine::both_modes;
use engine::testing::receiver;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Mode, TestApp};

use super::{providers, spawn, webhook_in};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn client_traceparent() -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")
}

/// An OTLP/HTTP collector that takes every export.
async fn collector() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// Every span exported so far, with the `service.name` it came under.
async fn exported(collector: &MockServer) -> Vec<(String, Span)> {
    let mut spans = Vec::new();
    for request in collector.received_requests().await.unwrap() {
        assert_eq!(request.headers["content-type"], "application/x-protobuf");
        let export = ExportTraceServiceRequest::decode(request.body.as_slice())
            .expect("an OTLP protobuf export");
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| text(a.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }
    spans
}

fn text(value: &Any) -> Option<String> {
    match value {
        Any::StringValue(s) => Some(s.clone()),
        Any::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A span's attribute, as text.
fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| text(a.value.as_ref()?.value.as_ref()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The trace id and parent span id of a request's `traceparent`.
fn sent_traceparent(request: &Request) -> Option<(String, String)> {
    let value = request.headers.get("traceparent")?.to_str().ok()?;
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    Some((parts[1].to_owned(), parts[2].to_owned()))
}

async fn submit_traced(app: &TestApp, callback: &str, traceparent: &str) -> String {
    let response = app
        .client
        .post(app.url("/v1/webhooks"))
        .header("traceparent", traceparent)
        .json(&json!({"provider": ["gas", "internet"], "callbackUrl": callback}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn one_trace_follows_a_webhook_from_submission_to_its_callback(mode: Mode) {
    let (sources, hooks, otlp) = (providers().await, receiver(200).await, collector().await);
    let endpoint = url::Url::parse(&otlp.uri()).unwrap();
    let app = spawn(mode, &sources, |c| {
        let traces = &mut c.worker.traces;
        traces.otel_exporter_otlp_endpoint = Some(endpoint.into());
        traces.otel_service_name = "datahog-test".into();
        traces.otel_bsp_schedule_delay = Duration::from_millis(100);
    })
    .await;
    let _workers = app.workers();
    let callback = format!("{}/hooks", hooks.uri());
    let id = submit_traced(&app, &callback, &client_traceparent()).await;
    webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;

    // The spans arrive within the exporter's schedule.
    let until = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans: Vec<(String, Span)> = exported(&otlp)
            .await
            .into_iter()
            .filter(|(_, s)| hex(&s.trace_id) == CLIENT_TRACE)
            .collect();
        let named = |name: &str| spans.iter().filter(|(_, s)| s.name == name).count();
        if named("POST /v1/webhooks") == 1
            && named("collect") == 1
            && named("GET") == 2
            && named("POST") == 1
        {
            break spans;
        }
        assert!(
            Instant::now() < until,
            "spans of the trace so far: {:?}",
            spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        spans.iter().all(|(service, _)| service == "datahog-test"),
        "service.name"
    );
    let one = |name: &str| &spans.iter().find(|(_, s)| s.name == name).unwrap().1;
    let server = one("POST /v1/webhooks");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&server.parent_span_id),
        CLIENT_SPAN,
        "continues the client's span"
    );
    assert_eq!(
        attribute(server, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        attribute(server, "http.route").as_deref(),
        Some("/v1/webhooks")
    );
    assert_eq!(
        attribute(server, "http.response.status_code").as_deref(),
        Some("202")
    );

    let collect = one("collect");
    assert_eq!(collect.parent_span_id, server.span_id);
    assert_eq!(
        attribute(collect, "datahog.webhook.id").as_deref(),
        Some(id.as_str())
    );
    let gets: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == "GET")
        .collect();
    for get in &gets {
        assert_eq!(get.kind, SpanKind::Client as i32);
        assert_eq!(get.parent_span_id, collect.span_id);
        assert_eq!(
            attribute(get, "http.request.method").as_deref(),
            Some("GET")
        );
        assert_eq!(
            attribute(get, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(
            attribute(get, "server.address").as_deref(),
            Some("127.0.0.1")
        );
        assert!(attribute(get, "url.full").is_some_and(|u| u.starts_with(&sources.uri())));
    }
    let post = one("POST");
    assert_eq!(post.kind, SpanKind::Client as i32);
    assert_eq!(post.parent_span_id, server.span_id);
    assert_eq!(
        attribute(post, "http.response.status_code").as_deref(),
        Some("200")
    );
    // A callback URL's path may be its credential: left out.
    let recorded = format!("{}/REDACTED", hooks.uri());
    assert_eq!(attribute(post, "url.full"), Some(recorded));

    // Providers and the receiver were sent the trace, each as its own request's span.
    let mut get_ids: Vec<String> = gets.iter().map(|s| hex(&s.span_id)).collect();
    let mut sent: Vec<String> = Vec::new();
    for request in sources.received_requests().await.unwrap() {
        let (trace, parent) = sent_traceparent(&request).expect("a provider got a traceparent");
        assert_eq!(trace, CLIENT_TRACE);
        sent.push(parent);
    }
    get_ids.sort();
    sent.sort();
    assert_eq!(sent, get_ids, "each provider request names its span");
    let calls = hooks.received_requests().await.unwrap();
    assert_eq!(
        sent_traceparent(&calls[0]),
        Some((CLIENT_TRACE.to_owned(), hex(&post.span_id)))
    );
}
both_modes!(one_trace_follows_a_webhook_from_submission_to_its_callback);

async fn without_an_exporter_a_clients_traceparent_is_passed_on_as_it_came(mode: Mode) {
    let (sources, hooks) = (providers().await, receiver(200).await);
    let app = spawn(mode, &sources, |_| {}).await;
    let _workers = app.workers();
    let callback = format!("{}/hooks", hooks.uri());
    let id = submit_traced(&app, &callback, &client_traceparent()).await;
    webhook_in(&app, &id, "delivered", Duration::from_secs(20)).await;
    let expected = Some((CLIENT_TRACE.to_owned(), CLIENT_SPAN.to_owned()));
    for request in sources.received_requests().await.unwrap() {
        assert_eq!(sent_traceparent(&request), expected);
    }
    let calls = hooks.received_requests().await.unwrap();
    assert_eq!(sent_traceparent(&calls[0]), expected);

    // One that is not valid is not passed on.
    let ignored = submit_traced(&app, &callback, "00-not-a-trace-01").await;
    webhook_in(&app, &ignored, "delivered", Duration::from_secs(20)).await;
    let calls = hooks.received_requests().await.unwrap();
    assert_eq!(calls.len(), 2);
    assert!(calls[1].headers.get("traceparent").is_none());
}
both_modes!(without_an_exporter_a_clients_traceparent_is_passed_on_as_it_came);

//! W3C Trace Context on the way in: with traces exported, every request is a server span
//! (named and described as OpenTelemetry's HTTP conventions say) continuing the client's
//! `traceparent`, started by `observe`; a handler that records work (a submission) keeps
//! that span's `traceparent` (`Traceparent`) so the work's later spans join the same trace.
//! Without an exporter it keeps the client's own, valid `traceparent`.

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use engine::traces::{TRACEPARENT, Traced, Traces};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, SpanKind};

/// The request's server span's context, put in its extensions by `observe`; formatted as a
/// `traceparent` only by a request that keeps it.
#[derive(Debug, Clone)]
struct ServerSpan(SpanContext);

/// The `traceparent` a request's work continues: its server span's, or without traces, the
/// client's (if valid).
#[derive(Debug, Clone)]
pub struct Traceparent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Traceparent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ServerSpan(context)) = parts.extensions.get::<ServerSpan>() {
            return Ok(Traceparent(Some(engine::traces::format(context))));
        }
        let client = client_traceparent(&parts.headers).and_then(engine::traces::accept);
        Ok(Traceparent(client))
    }
}

/// The client's `traceparent`, if there is exactly one (valid or not: its readers check).
fn client_traceparent(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    }
}

/// Starts `request`'s server span (when traces are on), leaving its `traceparent` in the
/// request's extensions.
pub fn server_span(traces: &Traces, request: &mut Request) -> Option<Traced> {
    if !traces.is_on() {
        return None;
    }
    let method = known_method(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|r| r.as_str().to_owned());
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.clone(),
    };
    let headers = request.headers();
    let parent = client_traceparent(headers);
    let uri = request.uri();
    let span = traces.span(name, SpanKind::Server, parent, || {
        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.path", uri.path().to_owned()),
            KeyValue::new("url.scheme", "http"),
        ];
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", route));
        }
        if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            attributes.push(KeyValue::new("server.address", host_name(host).to_owned()));
        }
        if let Some(agent) = headers
            .get(header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
        {
            attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
        }
        attributes
    });
    if let Some(context) = span.context() {
        request.extensions_mut().insert(ServerSpan(context));
    }
    Some(span)
}

/// Ends a server span with the answer's status: failed for a 5xx, as the conventions say
/// of servers (a 4xx is the client's).
pub fn answered(mut span: Traced, status: u16) {
    span.set(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= 500 {
        span.fail(status.to_string());
    }
}

/// A `Host` header's name or address, without its port (and an IPv6 address without its
/// brackets).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(address, _)| address);
    }
    host.split_once(':').map_or(host, |(name, _)| name)
}

/// The method as the conventions name it: one of HTTP's own, else `_OTHER`.
fn known_method(method: &axum::http::Method) -> &str {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    if known.contains(method) {
        method.as_str()
    } else {
        "_OTHER"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_named_without_its_port() {
        assert_eq!(host_name("api.example:8080"), "api.example");
        assert_eq!(host_name("api.example"), "api.example");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        let custom = axum::http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(known_method(&custom), "_OTHER");
        assert_eq!(known_method(&axum::http::Method::PATCH), "PATCH");
    }
}

//! `Observe`: one layer, around everything, that counts and times each request and gives
//! every error answer its problem-details body with the request id as `instance`, including
//! the answers made outside the handlers (body limit, timeout, method not allowed). A plain tower layer: `from_fn` would clone and box the
//! whole inner stack on every request, which the hot endpoints feel.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use engine::traces::Traces;
use openapi::error::{ErrorCode, Problem};
use tower::{Layer, Service};

use crate::error::{RETRY_AFTER_UNAVAILABLE_SECONDS, problem_response};
use crate::http::{REQUEST_ID, trace};
use crate::metrics::{HTTP_METRICS, UNMATCHED_ROUTE};

/// Adds [`Observe`] around a service; with traces on, each request is also a server span
/// (`trace`).
#[derive(Clone, Default)]
pub struct ObserveLayer {
    traces: Traces,
}

impl ObserveLayer {
    /// Observes requests, recording their spans with `traces`.
    pub fn new(traces: Traces) -> Self {
        ObserveLayer { traces }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            traces: self.traces.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    traces: Traces,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let span = trace::server_span(&self.traces, &mut request);
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let request_id = request.headers().get(&REQUEST_ID).cloned();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = problem_body(answer.await?, request_id);
            let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
            HTTP_METRICS.record(&method, route, response.status(), started.elapsed());
            if let Some(span) = span {
                trace::answered(span, response.status().as_u16());
            }
            Ok(response)
        })
    }
}

/// Gives every error answer the problem-details body with this request's id as `instance`:
/// answers of the handlers carry their `Problem` in their extensions; those of the layers
/// (body limit, timeout, method not allowed) get one from their status. A handler's own JSON
/// body for an error status (`/ready`'s 503) is left alone.
fn problem_body(response: Response, request_id: Option<HeaderValue>) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let instance = request_id
        .as_ref()
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A handler's own JSON answer to an error status (readiness) stays as it is.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json && response.extensions().get::<Problem>().is_none() {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    let handlers = parts.extensions.remove::<Problem>();
    let from_layer = handlers.is_none();
    let mut problem = handlers.unwrap_or_else(|| layer_problem(status));
    problem.instance = instance;
    // A layer's 503 (the timeout) may be retried like any other; a handler's answer brings
    // its own `Retry-After`, kept below with its other headers.
    let retry_after = (from_layer && status == StatusCode::SERVICE_UNAVAILABLE)
        .then_some(RETRY_AFTER_UNAVAILABLE_SECONDS);
    let mut rewritten = problem_response(problem, retry_after);
    // Keep headers such as `Allow` on a 405.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// The problem of an error answer made outside the handlers, from its status.
fn layer_problem(status: StatusCode) -> Problem {
    let (code, detail) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "The body is larger than the configured limit (`BODY_LIMIT`); send a smaller one.",
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::Timeout,
            "The request took longer than the configured timeout; retry later.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "This route does not accept this method; `Allow` lists those it does.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            "Send the body as JSON, with `Content-Type: application/json`.",
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "Nothing is served at this path."),
        s if s.is_client_error() => (
            ErrorCode::InvalidParameter,
            "The request could not be read; check it against the API document.",
        ),
        _ => (
            ErrorCode::Internal,
            "Internal error; the request id (`instance`) finds it in the logs.",
        ),
    };
    let mut problem = Problem::new(code, detail, Vec::new());
    // The layer's own status stands, even where the code usually answers another.
    problem.status = status.as_u16();
    problem
}

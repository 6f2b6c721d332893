//! `Observe`: one layer, around everything, that counts and times each request and gives
//! the project's JSON error body to error answers made outside the handlers (body limit,
//! timeout, method not allowed). A plain tower layer: `from_fn` would clone and box the
//! whole inner stack on every request, which the hot endpoints feel.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::response::Response;
use openapi::error::ErrorCode;
use tower::{Layer, Service};

use crate::error::error_response;
use crate::metrics::{HTTP_METRICS, UNMATCHED_ROUTE};

/// Adds [`Observe`] around a service.
#[derive(Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
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

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = json_error_body(answer.await?);
            let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
            HTTP_METRICS.record(&method, route, response.status(), started.elapsed());
            Ok(response)
        })
    }
}

/// Rewrites an error answer that is not JSON into the project's error body.
fn json_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "request body is larger than the configured limit",
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::Timeout,
            "the request took longer than the configured timeout",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this route does not accept this method",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            "the body must be application/json",
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "not found"),
        s if s.is_client_error() => (ErrorCode::ValidationFailed, "the request could not be read"),
        _ => (
            ErrorCode::Internal,
            "internal error; the request id finds it in the logs",
        ),
    };
    let mut rewritten = error_response(status, code, message.to_owned(), Vec::new());
    // Keep headers such as `Allow` on a 405.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

//! `RefuseControl`: a request whose path or query parameters hold a control character is
//! answered 400 naming the parameter, before any handler reads it (bodies are checked by
//! `ApiJson`). A plain tower layer, applied per route so that the route's template names
//! the path parameter; a request without `%` in its target costs one scan.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::input::text;

/// Adds [`RefuseControl`] around a service.
#[derive(Clone, Copy, Default)]
pub struct RefuseControlLayer;

impl<S> Layer<S> for RefuseControlLayer {
    type Service = RefuseControl<S>;

    fn layer(&self, inner: S) -> RefuseControl<S> {
        RefuseControl { inner }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct RefuseControl<S> {
    inner: S,
}

impl<S> Service<Request> for RefuseControl<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match offending_parameter(&request) {
            Some(field) => {
                Either::Left(ready(Ok(ApiError::ControlCharacter(field).into_response())))
            }
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// The path or query parameter of `request` holding a control character, if any.
fn offending_parameter(request: &Request) -> Option<String> {
    let uri = request.uri();
    let path = uri.path();
    let route = request.extensions().get::<MatchedPath>();
    if let Some(route) = route.filter(|_| may_hold_control(path))
        && let Some(field) = text::in_path(route.as_str(), path)
    {
        return Some(field);
    }
    uri.query()
        .filter(|query| may_hold_control(query))
        .and_then(text::in_query)
}

/// Whether `raw` may hold a control character: percent-encoded, or a raw byte beyond ASCII
/// (the HTTP parser refuses raw C0 characters itself).
fn may_hold_control(raw: &str) -> bool {
    raw.bytes().any(|b| b == b'%' || b >= 0x7f)
}

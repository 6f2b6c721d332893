//! Optional API keys: `Authorization: Bearer <key>` on the data routes. A plain tower layer
//! with no boxing: it sits on both hot endpoints.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use tower::{Layer, Service};

use crate::error::ApiError;

/// The configured API keys; empty means none are required.
#[derive(Clone, Default)]
pub struct ApiKeys(pub Arc<HashSet<String>>);

impl ApiKeys {
    /// Whether `request` may pass: no keys configured, or a configured bearer key.
    fn admit(&self, request: &Request) -> bool {
        if self.0.is_empty() {
            return true;
        }
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|key| self.0.contains(key.trim()))
    }
}

impl<S> Layer<S> for ApiKeys {
    type Service = RequireApiKey<S>;

    fn layer(&self, inner: S) -> RequireApiKey<S> {
        RequireApiKey {
            inner,
            keys: self.clone(),
        }
    }
}

/// Answers 401 to a request without a valid key; passes the others on.
#[derive(Clone)]
pub struct RequireApiKey<S> {
    inner: S,
    keys: ApiKeys,
}

impl<S> Service<Request> for RequireApiKey<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if self.keys.admit(&request) {
            Either::Left(self.inner.call(request))
        } else {
            Either::Right(ready(Ok(ApiError::Unauthorized.into_response())))
        }
    }
}

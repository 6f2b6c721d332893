//! `Shed`: at most `MAX_CONCURRENT_REQUESTS` requests are handled at once; the next one is
//! answered `503` with `Retry-After` at once instead of waiting in an unbounded queue.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use openapi::error::{ErrorCode, Problem};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::error::problem_response;

/// What a shed request is told to wait before retrying, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Adds [`Shed`] around a service; every copy of the layer shares one set of permits, so
/// the cap holds across all routes.
#[derive(Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
}

impl ShedLayer {
    /// A cap of `max` requests at once.
    pub fn new(max: usize) -> Self {
        ShedLayer {
            permits: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            permits: self.permits.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S> Service<Request> for Shed<S>
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
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Box::pin(std::future::ready(Ok(overloaded())));
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(permit);
            response
        })
    }
}

fn overloaded() -> Response {
    let problem = Problem::new(
        ErrorCode::ServiceUnavailable,
        "The server is handling as many requests as it is configured to; retry shortly.",
        Vec::new(),
    );
    problem_response(problem, Some(u64::from(RETRY_AFTER_SECONDS)))
}

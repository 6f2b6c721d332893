//! What the api answers before its database first answers: `/health` 200 (the process is
//! up), `/ready` 503 (not ready: a load balancer sends nothing yet) and every other route
//! 503 with `Retry-After`, so a client retries instead of finding no process at all.
//! Once the platform is open, every request goes to the real router.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::{Json, Router};
use futures::future::Either;
use openapi::ops::{CheckStatus, Health, Readiness};
use tower::Service;

use crate::error::ApiError;

/// The router every request goes to once it is set; until then, the starting answers.
#[derive(Clone)]
pub struct Gate {
    app: Arc<OnceLock<Router>>,
    /// How Redis is reported until then: not configured when embedded, else not yet up.
    redis: CheckStatus,
}

impl Gate {
    /// A gate still closed, for an embedded api or one on Redis.
    pub fn new(embedded: bool) -> Self {
        let redis = if embedded {
            CheckStatus::NotConfigured
        } else {
            CheckStatus::Unavailable
        };
        Gate {
            app: Arc::default(),
            redis,
        }
    }

    /// Sends every request from now on to `app`.
    pub fn open(&self, app: Router) {
        let _ = self.app.set(app);
    }
}

/// Every request passes here, the hot routes' too: once open, it costs the router's clone
/// (a reference count) and nothing else: no second router, no boxed future.
impl Service<Request> for Gate {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<RouteFuture<Infallible>, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.app.get() {
            // A router is always ready.
            Some(app) => Either::Left(app.clone().call(request)),
            None => Either::Right(ready(Ok(starting(request.uri().path(), self.redis)))),
        }
    }
}

/// The answer to a request for `path` while the database has not answered yet.
fn starting(path: &str, redis: CheckStatus) -> Response {
    match path {
        "/health" => Json(Health {
            status: "ok".to_owned(),
        })
        .into_response(),
        "/ready" => {
            let body = Readiness {
                status: "unavailable".to_owned(),
                database: CheckStatus::Unavailable,
                redis,
                redis_durability: None,
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        _ => ApiError::Unavailable(
            "the api is starting: its database does not answer yet; retry later".into(),
        )
        .into_response(),
    }
}

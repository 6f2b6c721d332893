//! Authentication and rate limiting: resolves `Authorization: Bearer <key>` to a `Caller`
//! (the operator or a tenant), from memory on the hot path, admits the request against its
//! tenant's rate, and puts the caller in the request's extensions for the handlers. Wrong
//! keys count against the client's address (`tenants::failures`). A plain tower layer: it
//! sits on both hot endpoints.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::tenants::keys::KeyRing;
use crate::tenants::rate::Admission;
use crate::tenants::{Caller, TenantContext};

/// The IETF RateLimit draft's policy header: the tenant's limit per second.
static RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The IETF RateLimit draft's header: requests left now, and seconds until one is back.
static RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Adds [`Authenticate`] around a route.
#[derive(Clone)]
pub struct AuthLayer {
    keys: Arc<KeyRing>,
    admin_route: bool,
}

impl AuthLayer {
    /// For data routes: any valid key (or, with open access, none).
    pub fn data(keys: Arc<KeyRing>) -> Self {
        AuthLayer {
            keys,
            admin_route: false,
        }
    }

    /// For the operator's routes: a key always, even with open access.
    pub fn admin(keys: Arc<KeyRing>) -> Self {
        AuthLayer {
            keys,
            admin_route: true,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Authenticate<S> {
        Authenticate {
            inner,
            layer: self.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    layer: AuthLayer,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Authenticate<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> BoxedResponse {
        let keys = &self.layer.keys;
        let admin_route = self.layer.admin_route;
        let authorization = match authorization(request.headers()) {
            Ok(value) => value,
            Err(error) => return Box::pin(std::future::ready(Ok(error.into_response()))),
        };
        let bearer = bearer(authorization);
        // Borrowed on the hot path: only a key memory lacks is copied, to outlive the request.
        match keys.resolve_cached(bearer, admin_route) {
            Some(Ok(caller)) => admit(caller, request, &mut self.inner),
            Some(Err(error)) => {
                let error = counted(keys, peer(&request), bearer.is_some(), error);
                Box::pin(std::future::ready(Ok(error.into_response())))
            }
            None => {
                let peer = peer(&request);
                // A sender of too many wrong keys costs no more lookups for a while.
                if let (Some(peer), Some(_)) = (peer, bearer)
                    && let Some(retry_after) = keys.blocked(peer)
                {
                    let error = ApiError::TooManyFailedAuthentications { retry_after };
                    return Box::pin(std::future::ready(Ok(error.into_response())));
                }
                let bearer = bearer.map(str::to_owned);
                // The ready service goes with the request; this one takes a fresh clone.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let keys = keys.clone();
                Box::pin(async move {
                    match keys.resolve(bearer.as_deref(), admin_route).await {
                        Ok(caller) => admit(caller, request, &mut inner).await,
                        Err(error) => {
                            let error = counted(&keys, peer, bearer.is_some(), error);
                            Ok(error.into_response())
                        }
                    }
                })
            }
        }
    }
}

/// The client's address, as the server put it in the request (off the hot path: only a
/// key memory does not know as valid needs it).
fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// The answer to a refused key: a wrong key (not a missing one) counts against its sender's
/// address, which gets 429 once over.
fn counted(keys: &KeyRing, peer: Option<IpAddr>, had_key: bool, error: ApiError) -> ApiError {
    match (error, peer) {
        (ApiError::Unauthorized, Some(peer)) if had_key => keys.failed(peer),
        (error, _) => error,
    }
}

/// The request's one `Authorization` header, if any. Two are refused (400): a proxy that
/// reads the last one would authorize another caller than this server, which reads the first.
pub fn authorization(headers: &HeaderMap) -> Result<Option<&HeaderValue>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (first, None) => Ok(first),
        _ => Err(ApiError::InvalidParameter {
            field: "Authorization",
            reason: "is sent more than once; send one `Authorization` header".into(),
        }),
    }
}

/// The key of `Authorization: Bearer <key>`, if there is one.
fn bearer(authorization: Option<&HeaderValue>) -> Option<&str> {
    authorization
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        })
        .filter(|key| !key.is_empty())
}

/// Passes the request on for `caller`, or answers 429 when its tenant is over its rate.
fn admit<S>(caller: Caller, mut request: Request, inner: &mut S) -> BoxedResponse
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    let Caller::Tenant(tenant) = &caller else {
        request.extensions_mut().insert(caller);
        return Box::pin(inner.call(request));
    };
    let tenant = tenant.clone();
    match tenant.bucket.admit() {
        Admission::Refused { retry_after } => {
            let mut response = ApiError::RateLimited {
                limit: tenant.limits.rate_per_second,
                retry_after,
            }
            .into_response();
            rate_headers(&mut response, &tenant, 0, retry_after);
            Box::pin(std::future::ready(Ok(response)))
        }
        Admission::Admitted { remaining } => {
            request.extensions_mut().insert(caller);
            let answer = inner.call(request);
            Box::pin(async move {
                let mut response = answer.await?;
                rate_headers(&mut response, &tenant, remaining, 0);
                Ok(response)
            })
        }
    }
}

fn rate_headers(response: &mut Response, tenant: &TenantContext, remaining: u64, reset: u64) {
    let headers = response.headers_mut();
    headers.insert(RATE_LIMIT_POLICY.clone(), tenant.rate_policy.clone());
    if let Ok(state) = HeaderValue::from_str(&format!("\"tenant\";r={remaining};t={reset}")) {
        headers.insert(RATE_LIMIT.clone(), state);
    }
}

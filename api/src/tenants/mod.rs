//! Tenants as the API sees them: who is calling (`Caller`), the key cache that answers
//! that without a database round trip (`keys`), failed authentications per client address
//! (`failures`), each tenant's request rate (`rate`), its
//! quotas (`quotas`), and the operator's management of tenants and their keys (`manage`).

pub mod failures;
pub mod keys;
pub mod manage;
pub mod quotas;
pub mod rate;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;

use self::quotas::PendingWebhooks;
use self::rate::Bucket;
use crate::error::ApiError;

/// What a tenant may do, as of its last load (at most `KEY_CACHE_TTL` old).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second across every api instance.
    pub rate_per_second: u32,
    /// Streams active at once.
    pub active_streams: u32,
    /// Webhooks unfinished at once.
    pub pending_webhooks: u32,
}

/// A tenant as a request carries it.
#[derive(Debug)]
pub struct TenantContext {
    /// The tenant's id.
    pub id: String,
    /// Its limits.
    pub limits: Limits,
    /// Its request bucket on this instance, shared by all its keys.
    pub bucket: Arc<Bucket>,
    /// The `RateLimit-Policy` header of its answers, written once per load of the tenant.
    pub rate_policy: HeaderValue,
    /// Its unfinished webhooks as this instance last counted them.
    pub pending_webhooks: PendingWebhooks,
}

/// Who is calling: the operator, or a tenant.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `ADMIN_API_KEY`: manages tenants, reads everyone's resources.
    Admin,
    /// A tenant's key (or anyone, as `default`, when access is open).
    Tenant(Arc<TenantContext>),
}

impl Caller {
    /// Whose rows a request may see: a tenant its own; the operator the tenant it names
    /// with `?tenant=`, or every tenant.
    pub fn scope<'a>(&'a self, asked: Option<&'a str>) -> Option<&'a str> {
        match self {
            Caller::Admin => asked.filter(|t| !t.is_empty()),
            Caller::Tenant(tenant) => Some(&tenant.id),
        }
    }

    /// The tenant a request that creates something acts for; the operator's key creates
    /// nothing of a tenant's.
    pub fn tenant(&self) -> Result<&TenantContext, ApiError> {
        match self {
            Caller::Tenant(tenant) => Ok(tenant),
            Caller::Admin => Err(ApiError::Forbidden(
                "the admin key manages tenants and reads their resources; \
                 send this request with a tenant's key"
                    .into(),
            )),
        }
    }

    /// The operator, or 403.
    pub fn admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Tenant(_) => Err(ApiError::Forbidden(
                "this route is for the admin key (ADMIN_API_KEY) only".into(),
            )),
        }
    }
}

/// The IETF RateLimit draft's policy for `limits`: so many requests per second.
pub fn rate_policy(limits: &Limits) -> HeaderValue {
    let policy = format!("\"tenant\";q={};w=1", limits.rate_per_second);
    // Digits and ASCII punctuation: always a valid header value.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("\"tenant\";w=1"))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Set by the authentication layer on every route that needs a caller.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

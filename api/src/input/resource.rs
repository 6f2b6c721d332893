//! The preamble of every one-resource route, read once: the `{id}` of the path and whose
//! resources the request may see (`?tenant=` for the operator's key).

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use openapi::tenants::TenantQuery;

use super::params;
use crate::error::ApiError;
use crate::tenants::Caller;

/// The resource's `{id}` path parameter, or a 400 naming `id`.
pub struct ResourceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let path = Path::<String>::from_request_parts(parts, state).await;
        params::path(path, "id").map(ResourceId)
    }
}

/// Whose resources the request may see: a tenant's key sees its own; the operator's key
/// those of the tenant `?tenant=` names, or everyone's without it.
pub struct Scope {
    /// Who is asking.
    pub caller: Caller,
    tenant: Option<String>,
}

impl Scope {
    /// The one tenant the request is limited to, or `None` for every tenant's.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let query = Query::<TenantQuery>::from_request_parts(parts, state).await;
        let query = params::query(query, "tenant")?;
        let tenant = caller.scope(query.tenant.as_deref()).map(str::to_owned);
        Ok(Scope { caller, tenant })
    }
}

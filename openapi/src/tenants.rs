//! Bodies of the tenant routes: the operator's `/v1/admin/*` and a tenant's own signing
//! secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// A tenant's limits; each one left out keeps its current value (on creation: the
/// configured default).
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotasPatch {
    /// Streams it may have active at once.
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[validate(range(min = 0, max = 1_000_000, message = "must be from 0 to 1000000"))]
    #[schema(minimum = 0, maximum = 1000000)]
    pub active_streams: Option<i64>,
    /// Webhooks it may have unfinished (collecting or delivering) at once.
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[validate(range(min = 0, max = 100_000_000, message = "must be from 0 to 100000000"))]
    #[schema(minimum = 0, maximum = 100000000)]
    pub pending_webhooks: Option<i64>,
}

/// `POST /v1/admin/tenants`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "acme"}))]
pub struct CreateTenant {
    /// Unique name, 1 to 100 characters.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Requests per second (burst: twice that); default `RATE_LIMIT_PER_SECOND`.
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be from 1 to 1000000"))]
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate_limit_per_second: Option<i64>,
    /// Its share of the collect queue against other tenants with backlogs (default 1): with
    /// weight 2 it has twice as many collections queued at once as a tenant with 1.
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[validate(range(min = 1, max = 1000, message = "must be from 1 to 1000"))]
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: Option<i64>,
    /// Quotas; defaults from the configuration.
    #[serde(default, deserialize_with = "crate::json::object_option")]
    #[validate(nested)]
    pub quotas: Option<QuotasPatch>,
}

/// `PATCH /v1/admin/tenants/{id}`: what to change.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"rateLimitPerSecond": 50, "quotas": {"activeStreams": 10}}))]
pub struct UpdateTenant {
    /// A new unique name.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// Requests per second (burst: twice that).
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[validate(range(min = 1, max = 1_000_000, message = "must be from 1 to 1000000"))]
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate_limit_per_second: Option<i64>,
    /// Its share of the collect queue against other tenants with backlogs.
    #[serde(default, deserialize_with = "crate::json::whole_i64_option")]
    #[validate(range(min = 1, max = 1000, message = "must be from 1 to 1000"))]
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: Option<i64>,
    /// Quotas to change.
    #[serde(default, deserialize_with = "crate::json::object_option")]
    #[validate(nested)]
    pub quotas: Option<QuotasPatch>,
}

/// A tenant's quotas as they apply now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quotas {
    /// Streams it may have active at once.
    pub active_streams: i64,
    /// Webhooks it may have unfinished (collecting or delivering) at once.
    pub pending_webhooks: i64,
}

/// An API key as listed: never the key itself, only its first characters.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    /// The key's id (for `DELETE /v1/admin/keys/{keyId}`).
    pub id: String,
    /// The key's first characters.
    pub prefix: String,
    /// When it was created.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When it was last used (to within a minute).
    #[serde(default, with = "crate::json::option_timestamp")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(default, with = "crate::json::option_timestamp")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// The tenant's id (`?tenant=` of the operator's reads).
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// When it was created.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Requests per second it may make (burst: twice that).
    pub rate_limit_per_second: i64,
    /// Its share of the collect queue against other tenants with backlogs.
    pub weight: i64,
    /// Its quotas.
    pub quotas: Quotas,
    /// Its API keys, revoked ones included.
    pub keys: Vec<ApiKeyInfo>,
}

/// A key just created: the only time the whole key is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    /// The key's id.
    pub id: String,
    /// The whole key: send it as `Authorization: Bearer <key>`. It is not shown again.
    pub key: String,
    /// Its first characters, as lists show them.
    pub prefix: String,
    /// When it was created.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A tenant just created, with its first key and signing secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated {
    /// The tenant's id.
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// When it was created.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Requests per second it may make (burst: twice that).
    pub rate_limit_per_second: i64,
    /// Its share of the collect queue against other tenants with backlogs.
    pub weight: i64,
    /// Its quotas.
    pub quotas: Quotas,
    /// Its first API key (shown this once).
    pub key: NewApiKey,
    /// The secret its callbacks are signed with, `whsec_<base64>`.
    pub signing_secret: String,
}

/// One page of tenants, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPage {
    /// The tenants on this page.
    pub items: Vec<Tenant>,
    /// This page's number, from 1.
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Tenants in all.
    pub total: u64,
}

/// A signing secret that still signs after a rotation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecret {
    /// `whsec_<base64>`.
    pub secret: String,
    /// When it was created.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When it stops signing.
    #[serde(with = "crate::json::timestamp")]
    pub expires_at: DateTime<Utc>,
}

/// The secrets a tenant's callbacks are signed with: each callback carries one
/// `v1,<signature>` per secret in `webhook-signature`, the current one first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "createdAt": "2026-11-30T08:00:00.123Z",
    "previous": []
}))]
pub struct SigningSecret {
    /// The current secret, `whsec_<base64>`: the HMAC key is the base64-decoded part.
    pub secret: String,
    /// When it was created.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// Earlier secrets still signing during their rotation overlap, newest first.
    pub previous: Vec<PreviousSecret>,
}

/// `?tenant=`: which tenant's resources the operator's key reads (tenant keys always
/// read their own).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// A tenant's id; only for the operator's key (`ADMIN_API_KEY`).
    pub tenant: Option<String>,
}

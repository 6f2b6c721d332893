//! The one error body every endpoint answers with.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What went wrong, for a program to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A path or query parameter could not be parsed.
    InvalidParameter,
    /// The body was read but a field is missing or wrong.
    ValidationFailed,
    /// The body is not valid JSON.
    MalformedJson,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// No valid API key was given.
    Unauthorized,
    /// The key is valid but may not use this route (a tenant key on an operator route).
    Forbidden,
    /// The tenant sent more requests per second than its rate limit; see `Retry-After`.
    RateLimited,
    /// Creating this would take the tenant over one of its quotas; nothing was created.
    QuotaExceeded,
    /// This `Idempotency-Key` was used with a different body.
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still being processed.
    IdempotencyKeyInUse,
    /// Too many signing-secret rotations within 24 hours; see `Retry-After`.
    RotationLimit,
    /// No such route, or no such resource.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The resource's state does not allow the request (e.g. a delivery is in progress).
    Conflict,
    /// The request took longer than the configured timeout.
    Timeout,
    /// A dependency (database, Redis) is unreachable; retry later.
    ServiceUnavailable,
    /// A fault of the server's own; the request id finds it in the logs.
    Internal,
}

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The parameter or body field, as the client named it.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "status": 400,
    "code": "invalid_parameter",
    "message": "invalid parameter `at`",
    "fields": [{"field": "at", "reason": "expected an RFC 3339 timestamp"}]
}))]
pub struct ErrorBody {
    /// The HTTP status, repeated for clients that only see the body.
    pub status: u16,
    /// Machine-readable kind of error.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// For validation errors, each offending field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

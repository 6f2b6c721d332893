//! The one error body every endpoint answers with: RFC 9457 problem details
//! (`application/problem+json`), with our `code` and the list of offending fields.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of every error answer.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Where the `type` URIs of our problems live: `/problems/{code}`.
pub const PROBLEM_TYPE_PREFIX: &str = "/problems/";

/// What went wrong, for a program to branch on. Each code has one status, one title and one
/// `type` URI (`/problems/{code}`); [`ErrorCode::describe`] is the one table of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A path, query or header parameter could not be read.
    InvalidParameter,
    /// The body was read but a field is missing, unknown or wrong.
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

/// What a code means on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The code as sent, and the last segment of its `type` URI.
    pub name: &'static str,
    /// The HTTP status it answers with.
    pub status: u16,
    /// The problem's short, fixed summary (RFC 9457 `title`).
    pub title: &'static str,
}

impl ErrorCode {
    /// Every code, in the order the documentation lists them.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::InvalidParameter,
        ErrorCode::ValidationFailed,
        ErrorCode::MalformedJson,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::IdempotencyKeyInUse,
        ErrorCode::RateLimited,
        ErrorCode::QuotaExceeded,
        ErrorCode::RotationLimit,
        ErrorCode::Timeout,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
    ];

    /// The one table of codes: name, status and title. A new code is one arm here.
    pub const fn describe(self) -> CodeInfo {
        let (name, status, title) = match self {
            ErrorCode::InvalidParameter => ("invalid_parameter", 400, "Invalid parameter"),
            ErrorCode::ValidationFailed => ("validation_failed", 422, "Invalid request body"),
            ErrorCode::MalformedJson => ("malformed_json", 400, "Malformed JSON"),
            ErrorCode::UnsupportedMediaType => {
                ("unsupported_media_type", 415, "Unsupported media type")
            }
            ErrorCode::PayloadTooLarge => ("payload_too_large", 413, "Request body too large"),
            ErrorCode::Unauthorized => ("unauthorized", 401, "API key required"),
            ErrorCode::Forbidden => ("forbidden", 403, "Not allowed for this key"),
            ErrorCode::RateLimited => ("rate_limited", 429, "Rate limit exceeded"),
            ErrorCode::QuotaExceeded => ("quota_exceeded", 429, "Quota exceeded"),
            ErrorCode::IdempotencyKeyReused => (
                "idempotency_key_reused",
                422,
                "Idempotency key used with another body",
            ),
            ErrorCode::IdempotencyKeyInUse => (
                "idempotency_key_in_use",
                409,
                "Idempotency key still in use",
            ),
            ErrorCode::RotationLimit => ("rotation_limit", 429, "Too many secret rotations"),
            ErrorCode::NotFound => ("not_found", 404, "Not found"),
            ErrorCode::MethodNotAllowed => ("method_not_allowed", 405, "Method not allowed"),
            ErrorCode::Conflict => ("conflict", 409, "Conflict with the resource's state"),
            ErrorCode::Timeout => ("timeout", 503, "Request timed out"),
            ErrorCode::ServiceUnavailable => ("service_unavailable", 503, "Service unavailable"),
            ErrorCode::Internal => ("internal", 500, "Internal error"),
        };
        CodeInfo {
            name,
            status,
            title,
        }
    }

    /// The problem's `type`: `/problems/{code}`, stable for as long as the code is.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.describe().name)
    }
}

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The parameter or body field as the client named it; nested items as a JSON-pointer
    /// style path, e.g. `provider/1`; `body` for the body as a whole.
    pub field: String,
    /// Why it was refused, in plain words.
    pub message: String,
}

impl FieldError {
    /// The error of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error response: RFC 9457 problem details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/invalid_parameter",
    "title": "Invalid parameter",
    "status": 400,
    "detail": "`at` must be an RFC 3339 timestamp, e.g. 2022-09-12T10:00:00Z.",
    "instance": "01JDQ8Z5X7K3M9N2P4R6S8T0VW",
    "code": "invalid_parameter",
    "errors": [{"field": "at", "message": "must be an RFC 3339 timestamp, e.g. 2022-09-12T10:00:00Z"}]
}))]
pub struct Problem {
    /// The problem's kind as a URI reference, `/problems/{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the kind, the same for every problem of that kind.
    pub title: String,
    /// The HTTP status, repeated for clients that only see the body.
    pub status: u16,
    /// What went wrong with this request, in one sentence a user can act on.
    pub detail: String,
    /// The request id (`x-request-id`), which finds this request in the logs.
    pub instance: String,
    /// Machine-readable kind of error.
    pub code: ErrorCode,
    /// Each offending field; empty when the problem is not about one.
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// The problem of kind `code`, not yet tied to a request (`instance` empty).
    pub fn new(code: ErrorCode, detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let info = code.describe();
        Problem {
            type_uri: code.type_uri(),
            title: info.title.to_owned(),
            status: info.status,
            detail: detail.into(),
            instance: String::new(),
            code,
            errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serializes_as_its_name() {
        for code in ErrorCode::ALL {
            let sent = serde_json::to_value(code).unwrap();
            assert_eq!(sent, code.describe().name);
            assert_eq!(
                code.type_uri(),
                format!("/problems/{}", code.describe().name)
            );
        }
    }

    #[test]
    fn a_problem_has_every_member_even_without_fields() {
        let body = serde_json::to_value(Problem::new(
            ErrorCode::NotFound,
            "No such webhook.",
            vec![],
        ))
        .unwrap();
        for member in [
            "type", "title", "status", "detail", "instance", "code", "errors",
        ] {
            assert!(body.get(member).is_some(), "{member} in {body}");
        }
        assert_eq!(body["errors"], serde_json::json!([]));
        assert_eq!(body["status"], 404);
    }
}

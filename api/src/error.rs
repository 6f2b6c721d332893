//! The API's errors and the one place that turns them into HTTP answers.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openapi::error::{ErrorBody, ErrorCode, FieldError};
use sea_orm::DbErr;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A path or query parameter could not be parsed.
    #[error("invalid parameter `{field}`: {reason}")]
    InvalidParameter {
        /// The parameter, as the client named it.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The resource does not exist (or did not, at the asked time).
    #[error("{0}")]
    NotFound(String),
    /// No route matches the request's path.
    #[error("no route for {0}")]
    NoRoute(String),
    /// `/v1/*` needs an API key and none (or a wrong one) was given.
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// The body is not JSON (or is cut short).
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but not `application/json`.
    #[error("the body must be sent as `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// The body's fields are missing or wrong.
    #[error("the request body is invalid")]
    Validation(Vec<FieldError>),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// The counter buffer (Redis, or the database when embedded) is unreachable.
    #[error("the counter buffer is unavailable; nothing was applied, retry later")]
    BufferUnavailable,
    /// A store the request needs failed; nothing of the request was kept.
    #[error("{0}")]
    Unavailable(String),
    /// The resource is in a state that does not allow the request.
    #[error("{0}")]
    Conflict(String),
    /// The key is valid but not for this route.
    #[error("{0}")]
    Forbidden(String),
    /// The tenant is over its request rate; it may retry after `retry_after` seconds.
    #[error("too many requests: the limit is {limit} per second; retry after {retry_after} s")]
    RateLimited {
        /// The tenant's requests per second.
        limit: u32,
        /// Seconds until a request is admitted again.
        retry_after: u64,
    },
    /// Creating this would exceed one of the tenant's quotas.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The `Idempotency-Key` was first used with another body.
    #[error(
        "this Idempotency-Key was used with a different request body; use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still being answered.
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyKeyInUse,
    /// Too many rotations of the signing secret; the next is possible in `retry_after` seconds.
    #[error("at most 5 signing-secret rotations are allowed within 24 hours")]
    RotationLimit {
        /// Seconds until a rotation is allowed again.
        retry_after: u64,
    },
}

impl ApiError {
    /// A validation error of one field.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            reason: reason.into(),
        }])
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::InvalidParameter { .. } => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter)
            }
            ApiError::NotFound(_) | ApiError::NoRoute(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            ApiError::QuotaExceeded(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::QuotaExceeded),
            ApiError::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
            ),
            ApiError::IdempotencyKeyInUse => (StatusCode::CONFLICT, ErrorCode::IdempotencyKeyInUse),
            ApiError::RotationLimit { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RotationLimit)
            }
            ApiError::BufferUnavailable | ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
            ),
            ApiError::Database(DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
            ),
            ApiError::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let fields = match &self {
            ApiError::InvalidParameter { field, reason } => vec![FieldError {
                field: (*field).to_owned(),
                reason: reason.clone(),
            }],
            ApiError::Validation(fields) => fields.clone(),
            _ => Vec::new(),
        };
        let message = match &self {
            // The client learns that it was the server; the details go to the log only.
            ApiError::Database(error) => {
                tracing::error!(%error, "database error");
                match code {
                    ErrorCode::ServiceUnavailable => "the database is unavailable; retry later",
                    _ => "internal error; the request id finds it in the logs",
                }
                .to_owned()
            }
            ApiError::Validation(fields) => {
                let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                format!("invalid request body: {}", names.join(", "))
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::RateLimited { retry_after, .. } | ApiError::RotationLimit { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        };
        let mut response = error_response(status, code, message, fields);
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// Builds the project's JSON error answer.
pub fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: String,
    fields: Vec<FieldError>,
) -> Response {
    let body = ErrorBody {
        status: status.as_u16(),
        code,
        message,
        fields,
    };
    (status, Json(body)).into_response()
}

//! The API's errors and the one place that turns them into HTTP answers: RFC 9457 problem
//! details (`application/problem+json`). `ApiError::code` picks the code of each variant;
//! the code's status, title and `type` come from `ErrorCode::describe`; `detail` is the
//! variant's own sentence. The request id is filled in as `instance` by `http::observe`.
//! What each of the engine's errors means to a client is written once, in `from_engine`.

mod from_engine;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openapi::error::{ErrorCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};
use sea_orm::DbErr;

/// Seconds a client is asked to wait (`Retry-After`) before retrying a 503.
pub const RETRY_AFTER_UNAVAILABLE_SECONDS: u64 = 5;

/// Most field errors one answer lists; a body with more problems names the first ones.
pub const MAX_FIELD_ERRORS: usize = 20;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A path, query or header parameter could not be read.
    #[error("`{field}` {reason}")]
    InvalidParameter {
        /// The parameter, as the client named it.
        field: &'static str,
        /// Why it was refused, completing "`field` ...": "must be ...", "is required".
        reason: String,
    },
    /// A path or query parameter (named) holds a control character.
    #[error("`{field}` {reason}", field = .0, reason = crate::input::text::REASON)]
    ControlCharacter(String),
    /// The resource does not exist (or did not, at the asked time).
    #[error("{0}")]
    NotFound(String),
    /// No route matches the request's path.
    #[error("there is no route {0}; the routes are listed at /api-docs/openapi.json")]
    NoRoute(String),
    /// `/v1/*` needs an API key and none (or a wrong one) was given.
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// The body is not JSON (or is cut short); the parser's position.
    #[error("the body is not valid JSON ({0}); send one JSON object")]
    MalformedJson(String),
    /// The body is not `application/json`.
    #[error("send the body as JSON, with `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    #[error("the body is larger than the configured limit (`BODY_LIMIT`); send a smaller one")]
    PayloadTooLarge,
    /// The body's fields are missing, unknown or wrong.
    #[error("the request body is invalid")]
    Validation(Vec<FieldError>),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// The counter buffer (Redis, or the database when embedded) is unreachable.
    #[error("the counter buffer is unavailable and nothing was applied; retry later")]
    BufferUnavailable,
    /// A store the request needs failed; nothing of the request was kept.
    #[error("{0}")]
    Unavailable(String),
    /// A bug: something that cannot fail did; the reason goes to the log only.
    #[error("{0}")]
    Internal(String),
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
    /// The client address sent too many wrong keys; it may try again after `retry_after`
    /// seconds.
    #[error(
        "too many failed authentications from this address; retry after {retry_after} s with a valid key"
    )]
    TooManyFailedAuthentications {
        /// Seconds until a key this instance does not know is looked up again.
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
    /// A validation error of one body field.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, reason)])
    }

    /// The code of each variant: the only place that knows it.
    fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidParameter { .. } | ApiError::ControlCharacter(_) => {
                ErrorCode::InvalidParameter
            }
            ApiError::NotFound(_) | ApiError::NoRoute(_) => ErrorCode::NotFound,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::MalformedJson(_) => ErrorCode::MalformedJson,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::RateLimited { .. } | ApiError::TooManyFailedAuthentications { .. } => {
                ErrorCode::RateLimited
            }
            ApiError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            ApiError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            ApiError::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse,
            ApiError::RotationLimit { .. } => ErrorCode::RotationLimit,
            ApiError::BufferUnavailable | ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Database(error) if retry_later(error) => ErrorCode::ServiceUnavailable,
            ApiError::Database(_) | ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The offending fields, for `errors`.
    fn fields(&self) -> Vec<FieldError> {
        match self {
            ApiError::InvalidParameter { field, reason } => vec![FieldError::new(*field, reason)],
            ApiError::ControlCharacter(field) => {
                vec![FieldError::new(field.clone(), crate::input::text::REASON)]
            }
            ApiError::Validation(fields) => fields.iter().take(MAX_FIELD_ERRORS).cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Seconds the client should wait before retrying (`Retry-After`), when retrying later
    /// can succeed.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::RotationLimit { retry_after }
            | ApiError::TooManyFailedAuthentications { retry_after } => Some(*retry_after),
            // The first request is being answered; its answer is kept in a moment.
            ApiError::IdempotencyKeyInUse => Some(1),
            _ => (self.code().describe().status == 503).then_some(RETRY_AFTER_UNAVAILABLE_SECONDS),
        }
    }

    /// One sentence for `detail`.
    fn detail(&self) -> String {
        match self {
            // The client learns that it was the server; the details go to the log only.
            ApiError::Database(error) => {
                tracing::error!(%error, "database error");
                match self.code() {
                    ErrorCode::ServiceUnavailable => {
                        "the database is unavailable or busy; retry later"
                    }
                    _ => "internal error; the request id (`instance`) finds it in the logs",
                }
                .to_owned()
            }
            ApiError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                "internal error; the request id (`instance`) finds it in the logs".to_owned()
            }
            ApiError::Validation(fields) => match fields.as_slice() {
                [one] => format!("`{}` {}", one.field, one.message),
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .take(MAX_FIELD_ERRORS)
                        .map(|f| format!("`{}`", f.field))
                        .collect();
                    format!(
                        "{} fields of the body are invalid ({}); `errors` says why",
                        many.len(),
                        names.join(", ")
                    )
                }
            },
            other => other.to_string(),
        }
    }
}

/// Whether a database error says the database is unreachable, restarting or busy (trying
/// again later can work), not that the request or the stored data is wrong.
fn retry_later(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
    // SQLite's "database is locked" (the busy timeout ran out): the driver says so only in
    // its message.
    let message = error.to_string();
    if message.contains("database is locked") || message.contains("database table is locked") {
        return true;
    }
    match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                SqlxError::Io(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed
                | SqlxError::Protocol(_) => true,
                // Postgres shutting down, starting up, or cutting connections (class 57).
                SqlxError::Database(db) => db.code().is_some_and(|code| code.starts_with("57")),
                _ => false,
            }
        }
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem::new(self.code(), sentence(&self.detail()), self.fields());
        problem_response(problem, self.retry_after())
    }
}

/// Builds the answer carrying `problem` (and `Retry-After` when given). The problem travels
/// in the response's extensions too, so that `http::observe` can fill in `instance` without
/// parsing the body.
pub fn problem_response(problem: Problem, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        )],
        body,
    )
        .into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response.extensions_mut().insert(problem);
    response
}

/// `no webhook `x`` → `No webhook `x`.`: a detail is one sentence.
pub fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '?', '!']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_can_succeed_later_says_when_to_retry() {
        let unavailable = ApiError::BufferUnavailable.into_response();
        assert_eq!(unavailable.headers()["retry-after"], "5");
        let invalid = ApiError::invalid_field("key", "is required").into_response();
        assert!(invalid.headers().get("retry-after").is_none());
    }

    #[test]
    fn details_are_sentences() {
        assert_eq!(sentence("no webhook `x`"), "No webhook `x`.");
        assert_eq!(sentence("`at` is required."), "`at` is required.");
    }

    #[test]
    fn every_variant_answers_with_its_codes_status() {
        let errors = [
            ApiError::InvalidParameter {
                field: "at",
                reason: "is required".into(),
            },
            ApiError::NotFound("no webhook `x`".into()),
            ApiError::Unauthorized,
            ApiError::MalformedJson("EOF while parsing".into()),
            ApiError::UnsupportedMediaType,
            ApiError::PayloadTooLarge,
            ApiError::invalid_field("key", "is required"),
            ApiError::Conflict("busy".into()),
            ApiError::BufferUnavailable,
        ];
        for error in errors {
            let code = error.code();
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), code.describe().status);
            assert_eq!(response.headers()["content-type"], PROBLEM_CONTENT_TYPE);
        }
    }

    #[tokio::test]
    async fn a_validation_error_lists_at_most_twenty_fields_and_counts_them_all() {
        let fields = (0..25)
            .map(|i| FieldError::new(format!("f{i}"), "is wrong"))
            .collect();
        let response = ApiError::Validation(fields).into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: Problem = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.errors.len(), MAX_FIELD_ERRORS);
        assert!(body.detail.starts_with("25 fields"), "{}", body.detail);
    }
}

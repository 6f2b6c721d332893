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
            ApiError::BufferUnavailable | ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
            ),
            ApiError::Database(error) if unreachable(error) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
            ),
            ApiError::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

/// Whether a database error says the database is unreachable or restarting (trying again
/// later can work), not that the request or the stored data is wrong.
fn unreachable(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
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
        error_response(status, code, message, fields)
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

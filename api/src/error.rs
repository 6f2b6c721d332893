//! The API's errors and the one place that turns them into HTTP answers.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openapi::error::{ErrorBody, ErrorCode, FieldError};
use sea_orm::DbErr;

/// Most field errors one answer lists; the message says how many more there were.
pub const MAX_FIELD_ERRORS: usize = 20;

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
    /// The body is larger than the configured limit (also when sent without a length).
    #[error("the request body is larger than the configured limit")]
    PayloadTooLarge,
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
            ApiError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
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
            ApiError::Validation(fields) => fields.iter().take(MAX_FIELD_ERRORS).cloned().collect(),
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
            ApiError::Validation(all) => {
                let mut names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                names.dedup();
                let mut message = format!("invalid request body: {}", names.join(", "));
                if all.len() > fields.len() {
                    let more = all.len() - fields.len();
                    message.push_str(&format!(" (and {more} more field errors not listed)"));
                }
                message
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_validation_error_lists_at_most_twenty_fields() {
        let fields = (0..25)
            .map(|i| FieldError {
                field: format!("f{i}"),
                reason: "wrong".into(),
            })
            .collect();
        let response = ApiError::Validation(fields).into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.fields.len(), MAX_FIELD_ERRORS);
        assert!(body.message.contains("and 5 more"), "{}", body.message);
    }
}

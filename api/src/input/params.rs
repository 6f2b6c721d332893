//! Path and query parameters read the same way by every route: a rejection is a 400 naming
//! the parameter, in plain words.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};

use super::plain;
use crate::error::ApiError;

/// The path's one parameter, or a 400 naming `field`.
pub fn path<T>(path: Result<Path<T>, PathRejection>, field: &'static str) -> Result<T, ApiError> {
    path.map(|Path(value)| value)
        .map_err(|_| ApiError::InvalidParameter {
            field,
            reason: "could not be read: it must be valid UTF-8 once percent-decoded".into(),
        })
}

/// The query, or a 400 naming `field` (the parameter most likely at fault).
pub fn query<T>(
    query: Result<Query<T>, QueryRejection>,
    field: &'static str,
) -> Result<T, ApiError> {
    query.map(|Query(value)| value).map_err(|e| {
        let text = e.body_text();
        let message = text
            .split_once(": ")
            .map_or(text.as_str(), |(_, message)| message);
        let (_, reason) = plain::field_message("", message);
        ApiError::InvalidParameter { field, reason }
    })
}

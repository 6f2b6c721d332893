//! Path and query parameters read the same way by every route: a rejection is a 400 naming
//! the parameter.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};

use crate::error::ApiError;

/// The path's one parameter, or a 400 naming `field`.
pub fn path<T>(path: Result<Path<T>, PathRejection>, field: &'static str) -> Result<T, ApiError> {
    path.map(|Path(value)| value)
        .map_err(|e| ApiError::InvalidParameter {
            field,
            reason: e.body_text(),
        })
}

/// The query, or a 400 naming `field` (the parameter most likely at fault).
pub fn query<T>(
    query: Result<Query<T>, QueryRejection>,
    field: &'static str,
) -> Result<T, ApiError> {
    query
        .map(|Query(value)| value)
        .map_err(|e| ApiError::InvalidParameter {
            field,
            reason: e.body_text(),
        })
}

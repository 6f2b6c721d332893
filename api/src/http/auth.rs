//! Optional API keys: `Authorization: Bearer <key>` on the data routes.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The configured API keys; empty means none are required.
#[derive(Clone, Default)]
pub struct ApiKeys(pub Arc<HashSet<String>>);

/// Lets a request through only with `Authorization: Bearer <one of the keys>`.
pub async fn require_api_key(
    State(keys): State<ApiKeys>,
    request: Request,
    next: Next,
) -> Response {
    if keys.0.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(key) if keys.0.contains(key) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

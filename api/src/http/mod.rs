//! What every request gets: a request id, a span, a timeout, a body limit, a cap on
//! requests at once (`shed`), API-key checks (`auth`), parameters free of control
//! characters (`control`), and metrics and JSON errors even from
//! the layers that answer before a handler runs (`observe`); and what a creating request may
//! ask for, replay under an `Idempotency-Key` (`idempotency`).

pub mod auth;
pub mod control;
pub mod idempotency;
pub mod observe;
pub mod shed;
pub mod trace;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::error::ApiError;

/// The header carrying the request id, in and out.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client request id kept; a longer one is replaced, never echoed or logged.
pub const MAX_REQUEST_ID_LENGTH: usize = 128;

/// Whether a client's request id is kept: 1 to 128 visible ASCII characters.
pub fn valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_REQUEST_ID_LENGTH).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic)
}

/// Removes a client request id that is not [`valid_request_id`] (and any second one), so
/// that a fresh one is made in its place.
pub fn drop_invalid_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all(&REQUEST_ID).iter();
    let keep = matches!((values.next(), values.next()), (Some(v), None) if valid_request_id(v));
    if !keep {
        headers.remove(&REQUEST_ID);
    }
    request
}

/// Makes a fresh ULID request id when the client sent none (or an invalid one).
#[derive(Clone, Copy, Default)]
pub struct MakeUlid;

impl MakeRequestId for MakeUlid {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::generate().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The span every log line of a request is written in.
pub fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

/// Logs the answer to a request: errors at INFO, the rest at DEBUG, since a log line
/// per request costs more than the hot endpoints themselves.
pub fn log_response(response: &Response, latency: std::time::Duration, _: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if status >= 400 {
        tracing::info!(status, latency_ms, "answered");
    } else {
        tracing::debug!(status, latency_ms, "answered");
    }
}

/// Answers unknown routes.
pub async fn no_route(request: Request) -> ApiError {
    ApiError::NoRoute(format!("{} {}", request.method(), request.uri().path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_short_and_visible() {
        let kept = [
            "a",
            "client-chosen-42",
            &"x".repeat(MAX_REQUEST_ID_LENGTH),
            "~!{}",
        ];
        for id in kept {
            assert!(
                valid_request_id(&HeaderValue::from_str(id).unwrap()),
                "{id}"
            );
        }
        let long = "x".repeat(MAX_REQUEST_ID_LENGTH + 1);
        for id in ["", "with space", "tab\there", long.as_str()] {
            assert!(
                !valid_request_id(&HeaderValue::from_str(id).unwrap()),
                "{id}"
            );
        }
        let non_ascii = HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap();
        assert!(!valid_request_id(&non_ascii));
    }
}

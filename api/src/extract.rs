//! `ApiJson<T>`: a JSON body, read and checked with every failure in the project's error
//! shape, naming the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::ApiError;
use openapi::error::FieldError;

/// A JSON body of `T`, deserialized strictly and validated.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        // The body limit layer refuses a declared length over the limit; a body sent
        // without one (chunked) is cut at the limit here, and answered 413 too.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::MalformedJson(e.body_text()),
            })?;
        let value: T = parse(&bytes)?;
        value
            .validate()
            .map_err(|errors| ApiError::Validation(field_errors(&errors)))?;
        Ok(ApiJson(value))
    }
}

/// Deserializes `bytes`: broken JSON is `MalformedJson` (400), JSON of the wrong shape is a
/// validation error (422) naming the field.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(classify)?;
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

fn classify(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    match inner.classify() {
        Category::Data => {
            let message = inner.to_string();
            // `.` is the body itself; `[0]` means the body is an array, not an object.
            let field = missing_field(&message).unwrap_or(match path.as_str() {
                "." => "body",
                p if p.starts_with('[') => "body",
                p => p,
            });
            ApiError::invalid_field(field, strip_position(&message))
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::MalformedJson(inner.to_string())
        }
    }
}

/// serde names a missing field only in its message: ``missing field `key` ``.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// `invalid type: string "5", expected i64 at line 1 column 12` → without the position.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut fields = Vec::new();
    for (field, kind) in errors.errors() {
        if let ValidationErrorsKind::Field(list) = kind {
            for error in list {
                let reason = match (&error.message, error.code.as_ref()) {
                    (Some(message), _) => message.to_string(),
                    (None, "length") => length_reason(error),
                    (None, code) => code.to_owned(),
                };
                fields.push(FieldError {
                    field: field.to_string(),
                    reason,
                });
            }
        }
    }
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    fields
}

fn length_reason(error: &validator::ValidationError) -> String {
    let bound = |name: &str| error.params.get(name).map(ToString::to_string);
    match (bound("min"), bound("max")) {
        (Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
        (Some(min), None) => format!("must be at least {min} characters long"),
        (None, Some(max)) => format!("must be at most {max} characters long"),
        (None, None) => "has the wrong length".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openapi::counters::IncrementRequest;

    fn reject(body: &str) -> (String, Vec<String>) {
        match parse::<IncrementRequest>(body.as_bytes()) {
            Ok(_) => panic!("{body} was accepted"),
            Err(ApiError::Validation(fields)) => (
                "validation".into(),
                fields.into_iter().map(|f| f.field).collect(),
            ),
            Err(ApiError::MalformedJson(_)) => ("malformed".into(), vec![]),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_name_their_field() {
        let validation = |field: &str| ("validation".to_owned(), vec![field.to_owned()]);
        assert_eq!(reject(r#"{"key": "a", "value": "5"}"#), validation("value"));
        assert_eq!(reject(r#"{"key": "a", "value": 1.5}"#), validation("value"));
        assert_eq!(
            reject(r#"{"key": "a", "value": null}"#),
            validation("value")
        );
        assert_eq!(
            reject(r#"{"key": "a", "value": true}"#),
            validation("value")
        );
        assert_eq!(
            reject(r#"{"key": "a", "value": 9223372036854775808}"#),
            validation("value")
        );
        assert_eq!(reject(r#"{"key": "a"}"#), validation("value"));
        assert_eq!(reject(r#"{"value": 1}"#), validation("key"));
        assert_eq!(reject(r#"{"key": 7, "value": 1}"#), validation("key"));
        assert_eq!(reject(r#"[1, 2]"#), validation("body"));
    }

    #[test]
    fn broken_json_is_malformed() {
        for body in ["", "{", r#"{"key": "a", "value": 1} trailing"#, "nope"] {
            assert_eq!(reject(body).0, "malformed", "{body:?}");
        }
    }

    #[test]
    fn integers_at_the_edges_are_read_exactly() {
        let body = r#"{"key": "a", "value": -9223372036854775808}"#;
        let parsed: IncrementRequest = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.value, i64::MIN);
    }
}

//! `ApiJson<T>`: a JSON body, read and checked with every failure in the project's error
//! shape, naming the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::error::Category;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::{plain, text};
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
        // The body limit layer bounds the size, with or without a `Content-Length`: a
        // chunked body that crosses it fails here, as 413 too.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::MalformedJson("the body could not be read to its end".into()),
            })?;
        let value: T = parse(&bytes)?;
        refuse_control(&bytes)?;
        value
            .validate()
            .map_err(|errors| ApiError::Validation(field_errors(&errors)))?;
        Ok(ApiJson(value))
    }
}

/// Deserializes `bytes`: broken JSON is `MalformedJson` (400); JSON that is not an object,
/// or an object of the wrong shape, is a validation error (422) naming the field.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        // Tell broken JSON from JSON of another kind (an array, a number...).
        serde_json::from_slice::<IgnoredAny>(bytes).map_err(|e| malformed(&e))?;
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        // A shape error found before the end of broken JSON: the JSON is the problem.
        match serde_json::from_slice::<IgnoredAny>(bytes) {
            Err(syntax) => malformed(&syntax),
            Ok(_) => classify(error),
        }
    })?;
    deserializer.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// Refuses a body with a control character in a string, naming the field: read again only
/// when the bytes may hold one.
fn refuse_control(bytes: &[u8]) -> Result<(), ApiError> {
    if !text::suspect_json(bytes) {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
    match text::in_json(&value) {
        Some(field) => Err(ApiError::invalid_field(field, text::REASON)),
        None => Ok(()),
    }
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::MalformedJson(error.to_string())
}

fn classify(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = pointer(error.path());
    let inner = error.into_inner();
    match inner.classify() {
        Category::Data => {
            let message = strip_position(&inner.to_string());
            let (field, message) = plain::field_message(&path, &message);
            ApiError::invalid_field(field, message)
        }
        Category::Syntax | Category::Eof | Category::Io => malformed(&inner),
    }
}

/// The path of a value as a JSON pointer without its leading slash: `provider/1`.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    segments.join("/")
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
    collect_field_errors(errors, "", &mut fields);
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    fields
}

/// Every field error under `errors`, named by its path from the body (`quotas/pendingWebhooks`,
/// `items/2/name`): a nested struct's errors would otherwise be lost.
fn collect_field_errors(errors: &ValidationErrors, prefix: &str, fields: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = format!("{prefix}{}", camel_case(field));
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = match (&error.message, error.code.as_ref()) {
                        (Some(message), _) => message.to_string(),
                        (None, "length") => length_reason(error),
                        (None, _) => "is not valid".to_owned(),
                    };
                    fields.push(FieldError::new(path.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => {
                collect_field_errors(inner, &format!("{path}/"), fields);
            }
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect_field_errors(inner, &format!("{path}/{index}/"), fields);
                }
            }
        }
    }
}

/// The validator names fields as in Rust (`callback_url`); bodies name them in camelCase.
fn camel_case(field: &str) -> String {
    let mut parts = field.split('_');
    let first = parts.next().unwrap_or_default().to_owned();
    parts.fold(first, |mut name, part| {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            name.extend(c.to_uppercase());
            name.push_str(chars.as_str());
        }
        name
    })
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

    fn reject(body: &str) -> (String, Vec<(String, String)>) {
        match parse::<IncrementRequest>(body.as_bytes()) {
            Ok(_) => panic!("{body} was accepted"),
            Err(ApiError::Validation(fields)) => (
                "validation".into(),
                fields.into_iter().map(|f| (f.field, f.message)).collect(),
            ),
            Err(ApiError::MalformedJson(_)) => ("malformed".into(), vec![]),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_name_their_field_in_plain_words() {
        let cases = [
            (
                r#"{"key": "a", "value": "5"}"#,
                "value",
                "must be a whole number, not a string",
            ),
            (
                r#"{"key": "a", "value": 1.5}"#,
                "value",
                "must be a whole number",
            ),
            (
                r#"{"key": "a", "value": null}"#,
                "value",
                "must be a whole number, not null",
            ),
            (
                r#"{"key": "a", "value": true}"#,
                "value",
                "must be a whole number, not true or false",
            ),
            (
                r#"{"key": "a", "value": 9223372036854775808}"#,
                "value",
                "must be at most 9223372036854775807",
            ),
            (r#"{"key": "a"}"#, "value", "is required"),
            (r#"{"value": 1}"#, "key", "is required"),
            (
                r#"{"key": 7, "value": 1}"#,
                "key",
                "must be a string, not a number",
            ),
            (r#"[1, 2]"#, "body", "must be a JSON object"),
            ("5", "body", "must be a JSON object"),
        ];
        for (body, field, message) in cases {
            let (kind, fields) = reject(body);
            assert_eq!(kind, "validation", "{body}");
            assert_eq!(
                fields,
                vec![(field.to_owned(), message.to_owned())],
                "{body}"
            );
        }
        let (_, fields) = reject(r#"{"key": "a", "value": 1, "vlaue": 2}"#);
        assert_eq!(fields[0].0, "vlaue");
        assert!(
            fields[0].1.starts_with("is not a field of this body"),
            "{fields:?}"
        );
    }

    #[test]
    fn a_nested_body_error_is_named_by_its_path() {
        let update: openapi::tenants::UpdateTenant =
            parse(br#"{"quotas": {"pendingWebhooks": -1}}"#).unwrap();
        let errors = update.validate().unwrap_err();
        let fields: Vec<(String, String)> = field_errors(&errors)
            .into_iter()
            .map(|f| (f.field, f.message))
            .collect();
        assert_eq!(
            fields,
            vec![(
                "quotas/pendingWebhooks".to_owned(),
                "must be from 0 to 100000000".to_owned()
            )]
        );
    }

    #[test]
    fn an_error_inside_a_nested_object_is_named_by_its_path() {
        let cases = [
            (
                r#"{"quotas": {"pendingWebhooks": 1.5}}"#,
                "quotas/pendingWebhooks",
                "must be a whole number",
            ),
            (
                r#"{"quotas": {"pendingWebhooks": "5"}}"#,
                "quotas/pendingWebhooks",
                "must be a whole number, not a string",
            ),
            (
                r#"{"quotas": {"pendingWebhook": 5}}"#,
                "quotas/pendingWebhook",
                "is not a field of this body; its fields are activeStreams and pendingWebhooks",
            ),
            (
                r#"{"quotas": [1]}"#,
                "quotas",
                "must be a JSON object or null, not a list",
            ),
        ];
        for (body, field, message) in cases {
            match parse::<openapi::tenants::UpdateTenant>(body.as_bytes()) {
                Err(ApiError::Validation(fields)) => assert_eq!(
                    fields
                        .into_iter()
                        .map(|f| (f.field, f.message))
                        .collect::<Vec<_>>(),
                    vec![(field.to_owned(), message.to_owned())],
                    "{body}"
                ),
                Err(other) => panic!("{body}: {other:?}"),
                Ok(_) => panic!("{body} was accepted"),
            }
        }
        let parsed: openapi::tenants::UpdateTenant =
            parse(br#"{"quotas": null, "name": "a"}"#).unwrap();
        assert!(parsed.quotas.is_none());
        let parsed: openapi::tenants::UpdateTenant =
            parse(br#"{"quotas": {"activeStreams": 3.0}}"#).unwrap();
        assert_eq!(parsed.quotas.unwrap().active_streams, Some(3));
    }

    #[test]
    fn fractionless_numbers_are_integers() {
        let parsed: IncrementRequest = parse(br#"{"key": "a", "value": 60.0}"#).unwrap();
        assert_eq!(parsed.value, 60);
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

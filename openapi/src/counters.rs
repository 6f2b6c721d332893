//! Bodies of the counter endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// `POST /increment` and `POST /v1/increment`: add `value` to `key`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "page-views", "value": 3}))]
pub struct IncrementRequest {
    /// The counter: 1 to 256 characters, no control characters.
    #[validate(length(min = 1, max = 256), custom(function = "no_control_characters"))]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub key: String,
    /// A whole number in the signed 64-bit range (`3` or `3.0`); negative decrements, 0
    /// changes nothing.
    #[serde(deserialize_with = "crate::json::whole_i64")]
    pub value: i64,
}

fn no_control_characters(key: &str) -> Result<(), ValidationError> {
    if key.chars().any(char::is_control) {
        return Err(ValidationError::new("control_characters")
            .with_message("must not contain control characters".into()));
    }
    Ok(())
}

/// The increment is durably buffered; it reaches `counters` with the next flush.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncrementAccepted {
    /// The counter.
    pub key: String,
    /// The increment buffered.
    pub value: i64,
}

/// A counter: its persisted total and what is buffered for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counter {
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// The counter, unique within its tenant.
    pub key: String,
    /// The total in the database.
    pub persisted: i64,
    /// Buffered increments not yet flushed (at most one flush interval old).
    pub pending: i64,
    /// `persisted + pending`: the counter's value now.
    pub value: i64,
    /// When the persisted total last changed; `null` before the first flush.
    #[serde(default, with = "crate::json::option_timestamp")]
    pub persisted_at: Option<DateTime<Utc>>,
}

/// One page of persisted counters, by key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CounterPage {
    /// The counters of this page (`pending` is not read for lists: it is 0 here).
    pub items: Vec<Counter>,
    /// This page, from 1.
    pub page: u64,
    /// Items per page.
    pub page_size: u64,
    /// Items in all pages.
    pub total: u64,
}

/// `GET /v1/counters`: search by key prefix, a page at a time.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CounterListQuery {
    /// Only counters whose key starts with this (case-sensitive).
    #[param(example = "page-")]
    pub prefix: Option<String>,
    /// The page, from 1 (default 1).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000, example = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 50)]
    pub page_size: Option<String>,
    /// Only this tenant's counters; for the operator's key (tenant keys always list their own).
    pub tenant: Option<String>,
}

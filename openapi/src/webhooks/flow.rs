//! Flow control as the api shows and takes it: the limits on a provider or a receiver
//! host, whether it is paused, and how many webhooks wait on it, by reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// The `{host}` of the receiver routes. The api checks it against the pattern documented
/// here (`host_shape`), so the document and the check are one.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReceiverPath {
    /// The callback host: a name, an IPv4 address or a bracketed IPv6 address
    /// (`hooks.example.com`, `127.0.0.1`, `[::1]`), with a port if one likes; the port is
    /// ignored: settings apply to the host on every port and scheme.
    #[param(
        min_length = 1,
        max_length = 253,
        pattern = r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:)|(?:(?:[0-9A-Fa-f]{1,4}:){6}|::(?:[0-9A-Fa-f]{1,4}:){0,5}|(?:[0-9A-Fa-f]{1,4}:){1,5}:)(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})\])(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?$"
    )]
    pub host: String,
}

/// `PUT /v1/receivers/{host}`, `PUT /v1/providers/{name}`: the limits from now on, across
/// every worker process; one left out (or `null`) is unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"maxConcurrent": 4, "maxPerSecond": 10}))]
pub struct FlowLimits {
    /// At most this many requests at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json::whole_i64_option"
    )]
    #[validate(range(min = 1, max = 100_000, message = "must be from 1 to 100000"))]
    #[schema(minimum = 1, maximum = 100000)]
    pub max_concurrent: Option<i64>,
    /// At most this many requests per second (a fraction is allowed: 0.5 is one every two
    /// seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0.01, max = 100_000.0, message = "must be from 0.01 to 100000"))]
    #[schema(minimum = 0.01, maximum = 100000)]
    pub max_per_second: Option<f64>,
}

/// How many webhooks wait on a provider or receiver, by reason; none of them spends an
/// attempt while it waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingCounts {
    /// Held by a pause.
    pub paused: i64,
    /// Waiting for a place under the limits.
    pub limit: i64,
    /// Waiting for it to come back up (its next probe).
    pub down: i64,
    /// It asked to be called later (429 or 503 with `Retry-After`).
    pub busy: i64,
}

/// What a tenant set on one receiver host, and what waits on it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverControl {
    /// The callback host (name or address, lower case), whatever the scheme and port.
    pub host: String,
    /// The tenant whose deliveries these are (in the operator's lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Whether deliveries to it are held.
    pub paused: bool,
    /// Since when, while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::json::option_timestamp")]
    pub paused_at: Option<DateTime<Utc>>,
    /// The limits in force (none set: unlimited, within each worker's
    /// `RECEIVER_CONCURRENCY`).
    pub limits: FlowLimits,
    /// The tenant's webhooks waiting on it.
    pub waiting: WaitingCounts,
}

/// Whether `host` has the shape the receiver routes document for `{host}`.
pub fn host_shape(host: &str) -> bool {
    static PATTERN: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let params = ReceiverPath::into_params(|| Some(utoipa::openapi::path::ParameterIn::Path));
        let pattern = params.into_iter().find_map(|p| match p.schema? {
            RefOr::T(Schema::Object(object)) => object.pattern,
            _ => None,
        })?;
        regex::Regex::new(&pattern).ok()
    });
    PATTERN.as_ref().is_some_and(|p| p.is_match(host))
}

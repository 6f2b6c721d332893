//! Which webhooks a list or a bulk redelivery is about: parsed once from the query or the
//! body, then turned into one SQL condition.
//!
//! Webhook ids are ULIDs, which start with their creation time in milliseconds: a created
//! time range and an id prefix are both ranges of the primary key, so the filters that
//! narrow most need no index of their own, and keyset paging (`id > after`) stays an index
//! range scan at any depth.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{webhook, webhook_provider};
use openapi::webhooks::WebhookStatus;
use sea_orm::sea_query::{Expr, ExprTrait as _, LikeExpr, Query};
use sea_orm::{ColumnTrait, Condition};

use engine::webhooks::id_floor;

use crate::error::ApiError;

/// The characters of a ULID (Crockford's base 32), in order.
const ULID_ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// A ULID's length.
const ULID_LENGTH: usize = 26;
/// The longest callback host a filter accepts (a DNS name's limit, plus a port).
const MAX_HOST_LENGTH: usize = 260;
/// How far a webhook's id time may be from its `created_at`: both are read from the clock
/// while submitting, the id a moment before.
const ID_CLOCK_SLACK: TimeDelta = TimeDelta::seconds(1);

/// A filter over webhooks, every part valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookFilter {
    /// Only this status.
    pub status: Option<WebhookStatus>,
    /// Only webhooks collecting from this provider.
    pub provider: Option<String>,
    /// Only callbacks on this host (lowercase, maybe with `:port`).
    pub callback_host: Option<String>,
    /// Submitted at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Submitted before.
    pub created_before: Option<DateTime<Utc>>,
    /// An id prefix, uppercase.
    pub search: Option<String>,
}

/// The raw parts of a filter, as a query or a body carries them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawFilter<'a> {
    /// `status`.
    pub status: Option<&'a str>,
    /// `provider`.
    pub provider: Option<&'a str>,
    /// `callbackHost`.
    pub callback_host: Option<&'a str>,
    /// `search`.
    pub search: Option<&'a str>,
}

impl WebhookFilter {
    /// Parses the parts of a filter; empty parts are no filter. Each bad part is a 400
    /// naming it.
    pub fn parse(
        raw: RawFilter<'_>,
        created_after: Option<DateTime<Utc>>,
        created_before: Option<DateTime<Utc>>,
    ) -> Result<Self, ApiError> {
        let status =
            match non_empty(raw.status) {
                None => None,
                Some(status) => Some(WebhookStatus::parse(status).ok_or_else(|| {
                    ApiError::InvalidParameter {
                        field: "status",
                        reason: format!(
                            "expected collecting, delivering, delivered or parked, got `{status}`"
                        ),
                    }
                })?),
            };
        Ok(WebhookFilter {
            status,
            provider: non_empty(raw.provider).map(str::to_owned),
            callback_host: non_empty(raw.callback_host).map(parse_host).transpose()?,
            created_after,
            created_before,
            search: non_empty(raw.search).map(parse_search).transpose()?,
        })
    }

    /// Why `provider` is refused, if it is not one of `providers` (the document lists the
    /// configured ones as the only values).
    pub fn unknown_provider(&self, providers: &engine::providers::Providers) -> Option<String> {
        let name = self.provider.as_deref()?;
        providers
            .get(name)
            .is_none()
            .then(|| format!("must be a configured provider ({providers}), not `{name}`"))
    }

    /// The condition selecting the filtered webhooks of `tenant` (every tenant's for `None`).
    pub fn condition(&self, tenant: Option<&str>) -> Condition {
        let mut condition = engine::webhooks::owned_by(tenant);
        if let Some(status) = self.status {
            condition =
                condition.add(webhook::Column::Status.eq(webhook::WebhookStatus::from(status)));
        }
        if let Some(provider) = &self.provider {
            condition = condition.add(
                webhook::Column::Id.in_subquery(
                    Query::select()
                        .column(webhook_provider::Column::WebhookId)
                        .from(webhook_provider::Entity)
                        .and_where(webhook_provider::Column::Provider.eq(provider.as_str()))
                        .to_owned(),
                ),
            );
        }
        if let Some(host) = &self.callback_host {
            let mut any_url = Condition::any();
            for pattern in host_patterns(host) {
                any_url = any_url.add(
                    Expr::col((webhook::Entity, webhook::Column::CallbackUrl))
                        .like(LikeExpr::new(pattern).escape('\\')),
                );
            }
            condition = condition.add(any_url);
        }
        if let Some(after) = self.created_after {
            condition = condition
                .add(webhook::Column::Id.gte(id_floor(after - ID_CLOCK_SLACK)))
                .add(webhook::Column::CreatedAt.gte(after));
        }
        if let Some(before) = self.created_before {
            condition = condition
                .add(webhook::Column::Id.lt(id_floor(before + ID_CLOCK_SLACK)))
                .add(webhook::Column::CreatedAt.lt(before));
        }
        if let Some(prefix) = &self.search {
            let (low, high) = prefix_range(prefix);
            condition = condition
                .add(webhook::Column::Id.gte(low))
                .add(webhook::Column::Id.lte(high));
        }
        condition
    }
}

fn non_empty(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

/// A callback host as URLs store it: lowercase, without scheme or path.
fn parse_host(raw: &str) -> Result<String, ApiError> {
    let host = raw.to_ascii_lowercase();
    let valid = host.len() <= MAX_HOST_LENGTH
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c));
    if !valid {
        return Err(ApiError::InvalidParameter {
            field: "callbackHost",
            reason: format!(
                "expected a host name or address, maybe with `:port` (no scheme, no path), got `{raw}`"
            ),
        });
    }
    Ok(host)
}

/// An id prefix in ULID characters, uppercase.
fn parse_search(raw: &str) -> Result<String, ApiError> {
    let prefix = raw.to_ascii_uppercase();
    if prefix.len() > ULID_LENGTH || !prefix.chars().all(|c| ULID_ALPHABET.contains(c)) {
        return Err(ApiError::InvalidParameter {
            field: "search",
            reason: format!("expected a webhook id or the start of one, got `{raw}`"),
        });
    }
    Ok(prefix)
}

/// The first and last ULID starting with `prefix`.
fn prefix_range(prefix: &str) -> (String, String) {
    let pad = ULID_LENGTH - prefix.len();
    (
        format!("{prefix}{}", "0".repeat(pad)),
        format!("{prefix}{}", "Z".repeat(pad)),
    )
}

/// `LIKE` patterns matching a callback URL on `host` (stored URLs are normalised: lowercase
/// host, a path of at least `/`).
fn host_patterns(host: &str) -> Vec<String> {
    let escaped = host.replace('\\', "\\\\").replace('_', "\\_");
    let with_port = host.contains(':') && !host.ends_with(']');
    let mut patterns = Vec::new();
    for scheme in ["http", "https"] {
        patterns.push(format!("{scheme}://{escaped}/%"));
        if !with_port {
            patterns.push(format!("{scheme}://{escaped}:%"));
        }
    }
    patterns
}

/// Reads an RFC 3339 time of a query, or a 400 naming it.
pub fn parse_time(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    // An empty time is refused like any other non-time: the document says date-time.
    match raw {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(raw)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ApiError::InvalidParameter {
                field,
                reason: format!("expected an RFC 3339 time, got `{raw}`"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use ulid::Ulid;

    use super::*;

    #[test]
    fn an_id_floor_sorts_before_every_id_of_its_millisecond_and_after_earlier_ones() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T12:00:00.500Z")
            .unwrap()
            .with_timezone(&Utc);
        let floor = id_floor(at);
        let same = Ulid::from_parts(at.timestamp_millis() as u64, 12345).to_string();
        let earlier = Ulid::from_parts(at.timestamp_millis() as u64 - 1, u128::MAX).to_string();
        assert!(floor <= same);
        assert!(earlier < floor);
    }

    #[test]
    fn a_prefix_range_holds_exactly_the_ids_starting_with_it() {
        let id = Ulid::generate().to_string();
        let (low, high) = prefix_range(&id[..8]);
        assert!(low <= id && id <= high);
        let (low, high) = prefix_range(&id);
        assert_eq!((low.as_str(), high.as_str()), (id.as_str(), id.as_str()));
        let other = format!("{}{}", &id[..7], if &id[7..8] == "Z" { "0" } else { "Z" });
        let (low, high) = prefix_range(&other);
        assert!(id < low || id > high);
    }

    #[test]
    fn bad_parts_name_their_parameter() {
        let bad = [
            RawFilter {
                status: Some("lost"),
                ..RawFilter::default()
            },
            RawFilter {
                search: Some("01-abc"),
                ..RawFilter::default()
            },
            RawFilter {
                callback_host: Some("https://example.com/x"),
                ..RawFilter::default()
            },
        ];
        for (raw, field) in bad.into_iter().zip(["status", "search", "callbackHost"]) {
            match WebhookFilter::parse(raw, None, None) {
                Err(ApiError::InvalidParameter { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn hosts_and_searches_are_normalised() {
        let filter = WebhookFilter::parse(
            RawFilter {
                callback_host: Some("Hooks.Example.COM"),
                search: Some("01jz"),
                status: Some(""),
                provider: None,
            },
            None,
            None,
        )
        .unwrap();
        assert_eq!(filter.callback_host.as_deref(), Some("hooks.example.com"));
        assert_eq!(filter.search.as_deref(), Some("01JZ"));
        assert_eq!(filter.status, None);
        assert_eq!(
            host_patterns("a_b.example:8080"),
            [
                "http://a\\_b.example:8080/%",
                "https://a\\_b.example:8080/%"
            ]
        );
    }
}

//! The instants clients write: RFC 3339, or the challenge's `2022-09-12 10:00:00+00`.

use chrono::{DateTime, Utc};

use crate::error::ApiError;

/// Parses an instant for the parameter `field`, normalised to UTC.
///
/// Accepts RFC 3339 and the original challenge's format (a space for `T`, an offset of
/// hours only). A `+` that arrived as a space (an unencoded `+` in a query string) is
/// restored, since the string cannot be read any other way.
pub fn parse_instant(field: &'static str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim_start();
    parse(raw)
        .or_else(|| restore_plus(raw).as_deref().and_then(parse))
        .ok_or_else(|| ApiError::InvalidParameter {
            field,
            reason: "must be an RFC 3339 timestamp such as 2022-09-12T10:00:00Z \
                     (or 2022-09-12 10:00:00+00)"
                .to_owned(),
        })
}

fn parse(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// `2022-09-12 10:00:00 00` → `2022-09-12 10:00:00+00`: the last space, when a time
/// precedes it and digits follow, was a `+`.
fn restore_plus(raw: &str) -> Option<String> {
    let (head, offset) = raw.rsplit_once(' ')?;
    let looks_like_offset = offset.starts_with(|c: char| c.is_ascii_digit());
    (head.contains(':') && looks_like_offset).then(|| format!("{head}+{offset}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> Option<String> {
        parse_instant("at", raw).ok().map(|t| t.to_rfc3339())
    }

    #[test]
    fn both_formats_name_the_same_instant() {
        let expected = Some("2022-09-12T10:00:00+00:00".to_owned());
        assert_eq!(at("2022-09-12T10:00:00Z"), expected);
        assert_eq!(at("2022-09-12T12:00:00+02:00"), expected);
        assert_eq!(at("2022-09-12 10:00:00+00"), expected);
        assert_eq!(at("2022-09-12 10:00:00+0000"), expected);
        assert_eq!(at("2022-09-12 10:00:00 00"), expected);
        assert_eq!(at("2022-09-12T10:00:00 00:00"), expected);
    }

    #[test]
    fn garbage_is_refused_naming_the_field() {
        for raw in [
            "",
            "yesterday",
            "2022-09-12",
            "2022-13-12T10:00:00Z",
            "12:00 00",
        ] {
            match parse_instant("timestamp", raw) {
                Err(ApiError::InvalidParameter { field, .. }) => assert_eq!(field, "timestamp"),
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
    }
}

//! How values are written and read on the wire, the same for every body: timestamps in UTC
//! with milliseconds, and whole numbers read from any JSON number without a fraction.

use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

/// Writes a timestamp as RFC 3339 in UTC with millisecond precision
/// (`2026-11-30T08:00:00.123Z`); reads any RFC 3339 timestamp. Use with `#[serde(with)]`.
pub mod timestamp {
    use super::*;

    /// The one format of every timestamp the API writes.
    pub fn format(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Writes `at`.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    /// Reads an RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| de::Error::custom("must be an RFC 3339 timestamp"))
    }
}

/// [`timestamp`] for optional timestamps (`null` or absent when `None`).
pub mod option_timestamp {
    use super::*;

    /// Writes `at`, or `null`.
    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&timestamp::format(at)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an RFC 3339 timestamp or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct At(#[serde(with = "timestamp")] DateTime<Utc>);
        Ok(Option::<At>::deserialize(deserializer)?.map(|At(at)| at))
    }
}

/// A signed 64-bit whole number read from any JSON number without a fractional part:
/// `60` and `60.0` are 60; `60.5` "must be a whole number"; values outside the range say
/// their bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeNumber(pub i64);

/// The smallest `i64` as an `f64` (exact); the largest `i64` + 1 is its negation.
const I64_MIN_F64: f64 = -9_223_372_036_854_775_808.0;

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeVisitor)
    }
}

struct WholeVisitor;

fn too_large<E: de::Error>() -> E {
    E::custom(format!("must be at most {}", i64::MAX))
}

fn too_small<E: de::Error>() -> E {
    E::custom(format!("must be at least {}", i64::MIN))
}

impl Visitor<'_> for WholeVisitor {
    type Value = WholeNumber;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WholeNumber, E> {
        Ok(WholeNumber(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WholeNumber, E> {
        i64::try_from(v).map(WholeNumber).map_err(|_| too_large())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<WholeNumber, E> {
        i64::try_from(v)
            .map(WholeNumber)
            .map_err(|_| if v > 0 { too_large() } else { too_small() })
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<WholeNumber, E> {
        i64::try_from(v).map(WholeNumber).map_err(|_| too_large())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<WholeNumber, E> {
        if !v.is_finite() || v.fract() != 0.0 {
            return Err(E::custom("must be a whole number"));
        }
        // Strictly: an integer literal just below the range arrives rounded to -2^63.
        if v <= I64_MIN_F64 {
            return Err(too_small());
        }
        if v >= -I64_MIN_F64 {
            return Err(too_large());
        }
        // Exact: `v` is whole and inside the range.
        Ok(WholeNumber(v as i64))
    }
}

/// Reads a field of type `i64` as a [`WholeNumber`]. Use with `#[serde(deserialize_with)]`.
pub fn whole_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    WholeNumber::deserialize(deserializer).map(|WholeNumber(n)| n)
}

/// Reads an optional `i64` field (`null` is `None`) as a [`WholeNumber`].
pub fn whole_i64_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    Ok(Option::<WholeNumber>::deserialize(deserializer)?.map(|WholeNumber(n)| n))
}

/// Reads an optional nested object (`null` is `None`): anything but an object or `null` is
/// refused, where serde alone would also read a struct from an array. The object is read in
/// place, not buffered, so an error inside it keeps its path (`quotas/pendingWebhooks`).
pub fn object_option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(ObjectOrNull(PhantomData))
}

struct ObjectOrNull<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOrNull<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(json: &str) -> Result<i64, String> {
        serde_json::from_str::<WholeNumber>(json)
            .map(|WholeNumber(n)| n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_read_from_any_number_without_a_fraction() {
        assert_eq!(whole("60"), Ok(60));
        assert_eq!(whole("60.0"), Ok(60));
        assert_eq!(whole("-1e3"), Ok(-1000));
        assert_eq!(whole("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(whole("9223372036854775807"), Ok(i64::MAX));
        assert!(
            whole("60.5")
                .unwrap_err()
                .starts_with("must be a whole number")
        );
        assert!(
            whole("9223372036854775808")
                .unwrap_err()
                .starts_with("must be at most 9223372036854775807")
        );
        assert!(whole("1e19").unwrap_err().starts_with("must be at most"));
        assert!(whole("-1e19").unwrap_err().starts_with("must be at least"));
        assert!(
            whole("-9223372036854775809")
                .unwrap_err()
                .starts_with("must be at least")
        );
        assert!(
            whole("\"5\"")
                .unwrap_err()
                .contains("expected a whole number")
        );
    }

    #[test]
    fn timestamps_are_written_in_utc_with_milliseconds() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T09:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp::format(&at), "2026-11-30T08:00:00.000Z");
        let at = DateTime::from_timestamp_micros(1_764_489_600_123_456).unwrap();
        assert_eq!(timestamp::format(&at), "2025-11-30T08:00:00.123Z");
    }
}

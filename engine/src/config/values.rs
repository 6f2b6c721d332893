//! How configuration values are read: one parser per kind of value, so that a bound every
//! setting of that kind shares is checked in one place, when the flag or variable is read.

use std::time::Duration;

use secrecy::SecretString;

/// Reads a secret from configuration into a type that never prints it (`Debug` shows
/// `[REDACTED]`, and there is no `Display`).
pub fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw))
}

/// A duration above zero (`500ms`, `10s`, `24h`).
pub fn positive_duration(raw: &str) -> Result<Duration, String> {
    let value = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if value.is_zero() {
        return Err("must be above zero".into());
    }
    Ok(value)
}

/// The interval of a job scheduled in slots, which are whole seconds: at least `1s`.
pub fn slot_interval(raw: &str) -> Result<Duration, String> {
    let value = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if value < Duration::from_secs(1) {
        return Err("must be at least 1s (slots are whole seconds)".into());
    }
    Ok(value)
}

/// A duration given in whole milliseconds, above zero (OpenTelemetry's variables).
pub fn millis(raw: &str) -> Result<Duration, String> {
    match raw.trim().parse::<u64>() {
        Ok(0) => Err("must be above zero".into()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => Err(format!("`{raw}` is not a whole number of milliseconds")),
    }
}

/// A URL that may be given empty, meaning none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaybeUrl(pub Option<url::Url>);

impl From<url::Url> for MaybeUrl {
    fn from(url: url::Url) -> Self {
        MaybeUrl(Some(url))
    }
}

/// An absolute URL, or nothing when empty (OpenTelemetry's variables are read so).
pub fn maybe_url(raw: &str) -> Result<MaybeUrl, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(MaybeUrl(None));
    }
    url::Url::parse(raw)
        .map(|url| MaybeUrl(Some(url)))
        .map_err(|e| format!("`{raw}` is not an absolute URL: {e}"))
}

/// A share from 0 to 1.
pub fn ratio(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{raw}` is not a number from 0 to 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_url_is_none_and_a_relative_one_refused() {
        assert_eq!(maybe_url(""), Ok(MaybeUrl(None)));
        let url = maybe_url("http://collector:4318").unwrap();
        assert_eq!(url.0.unwrap().as_str(), "http://collector:4318/");
        assert!(maybe_url("/v1/traces").is_err());
    }

    #[test]
    fn durations_are_bounded_where_they_are_read() {
        assert_eq!(positive_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(positive_duration("0s"), Err("must be above zero".into()));
        assert!(positive_duration("soon").is_err());
        assert_eq!(slot_interval("10s"), Ok(Duration::from_secs(10)));
        assert!(slot_interval("900ms").is_err());
    }
}

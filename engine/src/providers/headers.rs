//! Provider credentials: the headers `PROVIDER_HEADERS` gives each provider, sent on every
//! request to it and never shown. A credential in a provider's URL would be shown wherever
//! the URL is, so they live here instead.

use std::collections::HashMap;

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

/// A header sent on each request to one provider; its value is a secret.
#[derive(Clone)]
pub struct ProviderHeader {
    /// The header's name.
    pub name: HeaderName,
    value: SecretString,
}

impl ProviderHeader {
    /// The value to send, marked sensitive so that the HTTP stack never prints it.
    pub fn value(&self) -> HeaderValue {
        // Checked when parsed: a value that failed then never got here.
        let mut value = HeaderValue::from_str(self.value.expose_secret())
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        value.set_sensitive(true);
        value
    }
}

impl std::fmt::Debug for ProviderHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: [REDACTED]", self.name)
    }
}

/// Reads `PROVIDER_HEADERS` (comma-separated `provider:Header-Name=value`): each provider's
/// headers, by name. A reason for refusing it never quotes a value.
pub fn parse(raw: &str) -> Result<HashMap<String, Vec<ProviderHeader>>, String> {
    let mut headers: HashMap<String, Vec<ProviderHeader>> = HashMap::new();
    for (i, entry) in raw.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let position = i + 1;
        let malformed = || format!("entry {position} is not `provider:Header-Name=value`");
        let (target, value) = entry.split_once('=').ok_or_else(malformed)?;
        let (provider, name) = target.split_once(':').ok_or_else(malformed)?;
        let (provider, name) = (provider.trim(), name.trim());
        // Not quoted: a misplaced `=` can put a secret in the name.
        let name = HeaderName::try_from(name).map_err(|_| {
            format!("entry {position} of `{provider}`: the header name is not valid")
        })?;
        let value = value.trim();
        if value.is_empty() || HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "entry {position} of `{provider}` ({name}): the value is empty or not a valid header value"
            ));
        }
        headers
            .entry(provider.to_owned())
            .or_default()
            .push(ProviderHeader {
                name,
                value: value.into(),
            });
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_by_provider_and_never_shown() {
        let headers =
            parse("gas:Authorization=Bearer s3cret==, gas:X-Team=a , internet:X-Api-Key=k-1")
                .unwrap();
        let gas = &headers["gas"];
        assert_eq!(gas[0].name, "authorization");
        assert_eq!(gas[0].value(), "Bearer s3cret==");
        assert!(gas[0].value().is_sensitive());
        assert_eq!(gas[1].value(), "a");
        assert_eq!(headers["internet"][0].value(), "k-1");
        let shown = format!("{headers:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("k-1"),
            "{shown}"
        );
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn a_bad_entry_is_refused_without_quoting_its_value() {
        for bad in [
            "gas=Bearer s3cret",
            "gas:Authorization",
            "gas:Bad Name=s3cret",
            "gas:Authorization: Bearer s3cret==",
            "gas:X-Key=",
            "gas:X-Key=s3cret\u{7}",
        ] {
            let reason = parse(bad).unwrap_err();
            assert!(!reason.contains("s3cret"), "{bad}: {reason}");
        }
    }
}

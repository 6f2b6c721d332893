//! The data providers webhooks collect from: their names and addresses, the client that
//! fetches them, and the health every worker process shares.

pub mod client;
pub mod headers;
pub mod health;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::config::{ConfigError, ProviderConfig};

pub use client::{FetchError, ProviderClient};
pub use headers::ProviderHeader;
pub use health::{Admission, HealthView, ProviderHealth};

/// The providers used when none are configured: the challenge's mock server.
const DEFAULT_PROVIDERS: &[(&str, &str)] = &[
    ("gas", "http://127.0.0.1:3000/providers/gas"),
    ("internet", "http://127.0.0.1:3000/providers/internet"),
];

/// A configured provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Its name, as clients write it.
    pub name: String,
    /// The URL its data is fetched from.
    pub url: url::Url,
    /// How long a request to it may take.
    pub timeout: Duration,
    /// Headers sent on each request to it (`PROVIDER_HEADERS`): its credentials.
    pub headers: Vec<ProviderHeader>,
}

impl Provider {
    /// Its URL as the operator may see it: a user, a password and query values, where
    /// credentials hide, replaced by `***`.
    pub fn redacted_url(&self) -> String {
        let mut url = self.url.clone();
        if !url.username().is_empty() || url.password().is_some() {
            // Only fails for URLs that cannot have a user, which then have none.
            let _ = url.set_username("***");
            let _ = url.set_password(None);
        }
        if url.query().is_some() {
            let keys: Vec<String> = url.query_pairs().map(|(key, _)| key.into_owned()).collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(keys.iter().map(|key| (key.as_str(), "***")));
        }
        // `***` is written percent-encoded in a query; shown as typed.
        url.to_string().replace("%2A%2A%2A", "***")
    }
}

/// Every configured provider, in configuration order.
#[derive(Debug, Clone)]
pub struct Providers(Arc<Vec<Provider>>);

impl Providers {
    /// Reads `PROVIDERS` (`name=URL[;timeout=5s]`, comma-separated; the defaults when
    /// empty) and gives each the headers `PROVIDER_HEADERS` names it with.
    pub fn parse(config: &ProviderConfig) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError {
            variable: "PROVIDERS",
            reason,
        };
        let entries: Vec<String> = if config.providers.iter().all(|p| p.trim().is_empty()) {
            DEFAULT_PROVIDERS
                .iter()
                .map(|(name, url)| format!("{name}={url}"))
                .collect()
        } else {
            config.providers.clone()
        };
        let mut providers: Vec<Provider> = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (name, rest) = entry
                .split_once('=')
                .ok_or_else(|| invalid(format!("`{entry}` is not `name=URL`")))?;
            let name = name.trim();
            if !valid_name(name) {
                return Err(invalid(format!(
                    "provider name `{name}` must be 1-64 letters, digits, `-` or `_`"
                )));
            }
            let (url, options) = rest.split_once(';').unwrap_or((rest, ""));
            let url = url::Url::parse(url.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| invalid(format!("`{url}` of `{name}` is not an http(s) URL")))?;
            let mut timeout = config.provider_timeout;
            for option in options.split(';').filter(|o| !o.trim().is_empty()) {
                match option.trim().split_once('=') {
                    Some(("timeout", value)) => {
                        timeout = humantime::parse_duration(value.trim())
                            .ok()
                            .filter(|t| !t.is_zero())
                            .ok_or_else(|| {
                                invalid(format!("timeout `{value}` of `{name}` is not a duration"))
                            })?;
                    }
                    _ => return Err(invalid(format!("unknown option `{option}` of `{name}`"))),
                }
            }
            if providers.iter().any(|p| p.name == name) {
                return Err(invalid(format!("`{name}` is configured twice")));
            }
            providers.push(Provider {
                name: name.to_owned(),
                url,
                timeout,
                headers: Vec::new(),
            });
        }
        let raw = config.provider_headers.as_ref();
        let headers =
            headers::parse(raw.map_or("", ExposeSecret::expose_secret)).map_err(|reason| {
                ConfigError {
                    variable: "PROVIDER_HEADERS",
                    reason,
                }
            })?;
        for (name, headers) in headers {
            let provider = providers
                .iter_mut()
                .find(|p| p.name == name)
                .ok_or_else(|| ConfigError {
                    variable: "PROVIDER_HEADERS",
                    reason: format!("`{name}` is not a configured provider"),
                })?;
            provider.headers = headers;
        }
        Ok(Providers(Arc::new(providers)))
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.0.iter().find(|p| p.name == name)
    }

    /// Every provider, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.0.iter()
    }

    /// The names, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|p| p.name.as_str()).collect()
    }
}

impl fmt::Display for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        providers: ProviderConfig,
    }

    fn parse(args: &[&str]) -> Result<Providers, ConfigError> {
        let mut argv = vec!["x"];
        argv.extend_from_slice(args);
        Providers::parse(&Cli::try_parse_from(argv).unwrap().providers)
    }

    #[test]
    fn defaults_entries_and_timeouts() {
        let defaults = parse(&[]).unwrap();
        assert_eq!(defaults.names(), ["gas", "internet"]);
        let custom = parse(&[
            "--providers",
            "water=http://w.example/x;timeout=2s,power=https://p.example",
        ])
        .unwrap();
        assert_eq!(custom.get("water").unwrap().timeout, Duration::from_secs(2));
        assert_eq!(custom.get("power").unwrap().timeout, Duration::from_secs(5));
        for bad in [
            "water",
            "wa ter=http://x",
            "water=ftp://x",
            "water=http://x;timeout=soon",
            "water=http://x;retries=2",
            "a=http://x,a=http://y",
        ] {
            assert!(parse(&["--providers", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_go_to_their_provider() {
        let providers = parse(&[
            "--providers",
            "water=http://w.example/x,power=https://p.example",
            "--provider-headers",
            "power:Authorization=Bearer s3cret",
        ])
        .unwrap();
        assert!(providers.get("water").unwrap().headers.is_empty());
        let power = &providers.get("power").unwrap().headers;
        assert_eq!(power[0].value(), "Bearer s3cret");
        assert!(!format!("{providers:?}").contains("s3cret"));
        let unknown = parse(&["--provider-headers", "water:X-Key=s3cret"]).unwrap_err();
        assert_eq!(unknown.variable, "PROVIDER_HEADERS");
        assert!(!unknown.reason.contains("s3cret"), "{}", unknown.reason);
    }

    #[test]
    fn the_operator_sees_urls_without_credentials() {
        let providers = parse(&[
            "--providers",
            "a=https://user:pa55@a.example/x?token=t0k&region=eu,b=http://b.example/y",
        ])
        .unwrap();
        assert_eq!(
            providers.get("a").unwrap().redacted_url(),
            "https://***@a.example/x?token=***&region=***"
        );
        assert_eq!(
            providers.get("b").unwrap().redacted_url(),
            "http://b.example/y"
        );
    }
}

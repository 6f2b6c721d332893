//! Which callback targets are allowed: absolute http(s) URLs, and (unless configuration
//! allows private targets) only public addresses, checked on the URL at submission and on
//! every address actually connected to at delivery.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::special_purpose::{refused_v4, refused_v6};

/// Longest callback URL accepted.
pub const MAX_URL_LENGTH: usize = 2048;

/// Host names that always mean this machine or a cloud's metadata service.
const INTERNAL_NAMES: &[&str] = &["localhost", "metadata", "metadata.google.internal"];

/// A callback URL that passed every check; only `parse` makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    /// Checks `raw`: an absolute http(s) URL of at most 2048 characters with a host, and a
    /// public one unless `allow_private`. The error says why, for the client.
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, String> {
        if raw.len() > MAX_URL_LENGTH {
            return Err(format!("must be at most {MAX_URL_LENGTH} characters"));
        }
        let url = Url::parse(raw).map_err(|e| format!("must be an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        let host = url.host().ok_or("must name a host")?;
        if !allow_private {
            refuse_internal(&host)?;
        }
        Ok(CallbackUrl(url))
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

fn refuse_internal(host: &Host<&str>) -> Result<(), String> {
    let ip = match host {
        Host::Ipv4(ip) => IpAddr::V4(*ip),
        Host::Ipv6(ip) => IpAddr::V6(*ip),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if INTERNAL_NAMES.contains(&name.as_str()) || name.ends_with(".localhost") {
                return Err(format!(
                    "`{name}` is an internal host; callbacks must be public"
                ));
            }
            return Ok(());
        }
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(format!(
            "{ip} is a loopback, private, link-local or reserved address; callbacks must be public"
        ))
    }
}

/// Whether `ip` is globally reachable: in no range of the IANA special-purpose registries
/// that is not (see `special_purpose`), nor carrying such an IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4).is_none(),
        IpAddr::V6(v6) => refused_v6(v6).is_none(),
    }
}

/// No public address was left after resolving the callback's host. What it says goes to
/// the tenant (the attempt's error): the category only, never the addresses, which would
/// map the operator's internal names; the operator's log has them.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{host}` resolves only to loopback, private, link-local or reserved addresses; callbacks must be public"
)]
pub struct RefusedAddress {
    host: String,
    /// What the host resolved to, for the log only.
    addresses: String,
}

/// A resolver that hands the HTTP client only public addresses, so the address connected
/// to is the address checked, whatever DNS said at submission.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let addresses = all.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>();
                let refused = RefusedAddress {
                    host,
                    addresses: addresses.join(", "),
                };
                tracing::warn!(host = %refused.host, addresses = %refused.addresses, "callback host resolves only to refused addresses");
                return Err(Box::new(refused) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        let refused = PublicOnly.resolve("localhost".parse().unwrap()).await;
        let error = refused.err().expect("localhost has no public address");
        let refused = error
            .downcast_ref::<RefusedAddress>()
            .expect("a refused address");
        // The tenant reads the category; only the log reads the addresses.
        let told = refused.to_string();
        assert!(told.contains("loopback, private"), "{told}");
        assert!(
            !told.contains("127.0.0.1") && !told.contains("::1"),
            "{told}"
        );
        assert!(refused.addresses.contains("127.0.0.1") || refused.addresses.contains("::1"));
    }

    #[test]
    fn checks_urls() {
        for good in [
            "https://example.com/hook",
            "https://example.com./hook",
            "http://1.1.1.1./",
            "https://[2606:4700:4700::1111]/hook",
            "http://[::ffff:93.184.215.14]/",
            "http://[64:ff9b::5db8:d70e]/",
        ] {
            assert!(CallbackUrl::parse(good, false).is_ok(), "{good}");
        }
        for bad in [
            "http://127.0.0.1./",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[fe80::1]/",
            "http://localhost./",
            "example.com/hook",
            "ftp://example.com/",
            "http://localhost:8080/",
            "http://api.localhost/",
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://metadata.google.internal/",
            "http://10.0.0.5/",
        ] {
            assert!(CallbackUrl::parse(bad, false).is_err(), "{bad}");
        }
        assert!(CallbackUrl::parse("http://127.0.0.1:9/", true).is_ok());
        assert!(CallbackUrl::parse("ftp://127.0.0.1/", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert!(CallbackUrl::parse(&long, true).is_err());
    }
}

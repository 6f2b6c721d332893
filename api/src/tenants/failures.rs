//! Failed authentications per client address: each wrong key costs its sender a token of a
//! small bucket, and a sender out of tokens is answered 429 (with `Retry-After`) for any key
//! this instance does not already know, without asking the database. A known key always
//! passes, so clients behind the same proxy as a guesser keep working.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use super::rate::{Admission, Bucket};
use crate::error::ApiError;

/// Wrong keys one client address may send per second, on average (twice that at once).
pub const FAILED_AUTH_PER_SECOND: f64 = 5.0;
/// Client addresses tracked at most; beyond, the least used are forgotten.
const CAPACITY: u64 = 100_000;
/// An address that stopped failing is forgotten after this long (its bucket is full again
/// long before).
const IDLE: Duration = Duration::from_secs(600);

/// See the module documentation.
pub struct FailedAuth {
    buckets: Cache<IpAddr, Arc<Bucket>>,
}

impl Default for FailedAuth {
    fn default() -> Self {
        FailedAuth {
            buckets: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
        }
    }
}

impl FailedAuth {
    /// Seconds `peer` must wait before a key unknown to memory is looked up for it, or
    /// `None` when it may be now.
    pub fn blocked(&self, peer: IpAddr) -> Option<u64> {
        self.buckets.get(&client(peer))?.wait()
    }

    /// Counts a wrong key from `peer`: the answer is 401, or 429 once `peer` is over.
    pub fn fail(&self, peer: IpAddr) -> ApiError {
        let bucket = self.buckets.get_with(client(peer), || {
            Arc::new(Bucket::new(FAILED_AUTH_PER_SECOND))
        });
        match bucket.admit() {
            Admission::Admitted { .. } => ApiError::Unauthorized,
            Admission::Refused { retry_after } => {
                ApiError::TooManyFailedAuthentications { retry_after }
            }
        }
    }
}

/// The client an address stands for: an IPv6 address by its /64, which one subscriber
/// usually holds whole.
fn client(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_over_its_failures_is_refused_until_it_refills() {
        let failures = FailedAuth::default();
        let guesser: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        let burst = (FAILED_AUTH_PER_SECOND * 2.0) as usize;
        for _ in 0..burst {
            assert!(failures.blocked(guesser).is_none());
            assert!(matches!(failures.fail(guesser), ApiError::Unauthorized));
        }
        assert!(matches!(
            failures.fail(guesser),
            ApiError::TooManyFailedAuthentications { retry_after: 1 }
        ));
        assert_eq!(failures.blocked(guesser), Some(1));
        assert_eq!(failures.blocked(other), None);
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client(a), client(b));
        assert_ne!(client(a), client(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}

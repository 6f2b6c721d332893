//! The address ranges a callback may never reach: every range the IANA special-purpose
//! address registries mark as not globally reachable, plus multicast and, for IPv6,
//! everything outside the global unicast space.
//!
//! Sources (the one place to update when the registries change):
//! - IANA IPv4 Special-Purpose Address Registry,
//!   <https://www.iana.org/assignments/iana-ipv4-special-registry/>
//! - IANA IPv6 Special-Purpose Address Registry,
//!   <https://www.iana.org/assignments/iana-ipv6-special-registry/>
//! - IANA IPv4 and IPv6 multicast address spaces (224.0.0.0/4, ff00::/8), and the IPv6
//!   address space registry (only 2000::/3 is allocated as global unicast).
//!
//! Addresses that carry an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by that
//! IPv4 address, so a private target cannot hide inside an IPv6 one.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 range: network, prefix length, registry name.
type V4Range = (Ipv4Addr, u8, &'static str);
/// An IPv6 range: network, prefix length, registry name.
type V6Range = (Ipv6Addr, u8, &'static str);

/// IPv4 ranges that are not globally reachable. 192.0.0.0/24 is refused whole: its two
/// anycast exceptions (192.0.0.9 and .10) are protocol services, never a webhook receiver.
pub const IPV4_REFUSED: &[V4Range] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\""),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private-use"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space (CGNAT)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private-use"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (TEST-NET-1)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "deprecated 6to4 relay anycast",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private-use"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (TEST-NET-2)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (TEST-NET-3)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    // Before 240.0.0.0/4, which holds it: the first matching range names the refusal.
    (Ipv4Addr::new(255, 255, 255, 255), 32, "limited broadcast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
];

/// IPv6 ranges that are not globally reachable (those carrying an IPv4 address are
/// handled before this table is read).
pub const IPV6_REFUSED: &[V6Range] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, "unspecified"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, "loopback"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use NAT64",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0),
        64,
        "dummy prefix",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "segment routing (SRv6) SIDs",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique-local",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// Sub-ranges of 2001::/23 the IPv6 registry marks globally reachable.
pub const IPV6_GLOBAL_IN_2001_23: &[V6Range] = &[
    (
        Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1),
        128,
        "PCP anycast",
    ),
    (
        Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2),
        128,
        "TURN anycast",
    ),
    (
        Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 3),
        128,
        "DNS-SD SRP anycast",
    ),
    (Ipv6Addr::new(0x2001, 3, 0, 0, 0, 0, 0, 0), 32, "AMT"),
    (
        Ipv6Addr::new(0x2001, 4, 0x112, 0, 0, 0, 0, 0),
        48,
        "AS112-v6",
    ),
    (
        Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0),
        28,
        "ORCHIDv2",
    ),
    (
        Ipv6Addr::new(0x2001, 0x30, 0, 0, 0, 0, 0, 0),
        28,
        "drone remote ID (DET)",
    ),
];

/// Why `ip` is refused (its range's name), or `None` when it is globally reachable.
pub fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let ip = u32::from(ip);
    IPV4_REFUSED
        .iter()
        .find(|(network, prefix, _)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
            ip & mask == u32::from(*network) & mask
        })
        .map(|(_, _, name)| *name)
}

/// Why `ip` is refused, or `None` when it is globally reachable. An address carrying an
/// IPv4 address is judged by it.
pub fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return refused_v4(v4);
    }
    if in_any(ip, IPV6_GLOBAL_IN_2001_23).is_some() {
        return None;
    }
    if let Some(name) = in_any(ip, IPV6_REFUSED) {
        return Some(name);
    }
    // Outside 2000::/3 nothing is allocated for global unicast.
    (ip.segments()[0] & 0xe000 != 0x2000).then_some("not global unicast")
}

/// The IPv4 address inside an IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) or 6to4
/// (2002::/16) address.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if bits >> 32 == u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)) >> 32 {
        return Some(low32);
    }
    if ip.segments()[0] == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

fn in_any(ip: Ipv6Addr, ranges: &[V6Range]) -> Option<&'static str> {
    let ip = u128::from(ip);
    ranges
        .iter()
        .find(|(network, prefix, _)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
            ip & mask == u128::from(*network) & mask
        })
        .map(|(_, _, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// The first and last address of a range.
    fn ends_v4(network: Ipv4Addr, prefix: u8) -> [Ipv4Addr; 2] {
        let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        let first = u32::from(network) & !host;
        [Ipv4Addr::from(first), Ipv4Addr::from(first | host)]
    }

    fn ends_v6(network: Ipv6Addr, prefix: u8) -> [Ipv6Addr; 2] {
        let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        let first = u128::from(network) & !host;
        [Ipv6Addr::from(first), Ipv6Addr::from(first | host)]
    }

    #[test]
    fn every_ipv4_range_is_refused_from_end_to_end() {
        for (network, prefix, name) in IPV4_REFUSED {
            let [first, _] = ends_v4(*network, *prefix);
            assert_eq!(refused_v4(first), Some(*name), "{first}");
            for ip in ends_v4(*network, *prefix) {
                assert!(refused_v4(ip).is_some(), "{ip}");
                // The same address inside IPv6 is refused too.
                for wrapped in [
                    ip.to_ipv6_mapped(),
                    Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(u32::from(ip))),
                    Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(u32::from(ip)) << 80) | 1),
                ] {
                    assert!(refused_v6(wrapped).is_some(), "{wrapped} carrying {ip}");
                }
            }
        }
    }

    #[test]
    fn every_ipv6_range_is_refused_from_end_to_end() {
        for (network, prefix, _) in IPV6_REFUSED {
            for ip in ends_v6(*network, *prefix) {
                let inside_exception = in_any(ip, IPV6_GLOBAL_IN_2001_23).is_some();
                assert!(refused_v6(ip).is_some() || inside_exception, "{ip}");
            }
        }
        for outside in ["4000::1", "8000::", "e000::1", "fec0::1", "::2", "::a00:1"] {
            let ip: Ipv6Addr = outside.parse().unwrap();
            assert_eq!(refused_v6(ip), Some("not global unicast"), "{ip}");
        }
        for not_global_in_2001 in [
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "2001:1::4",
            "2001:1ff::",
        ] {
            let ip: Ipv6Addr = not_global_in_2001.parse().unwrap();
            assert_eq!(refused_v6(ip), Some("IETF protocol assignments"), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.31.196.1",
            "192.88.98.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "2001:4860:4860::8888",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2620:4f:8000::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let refused = match public.parse::<IpAddr>().unwrap() {
                IpAddr::V4(ip) => refused_v4(ip),
                IpAddr::V6(ip) => refused_v6(ip),
            };
            assert_eq!(refused, None, "{public}");
        }
    }

    #[test]
    fn carried_ipv4_addresses_are_found() {
        let six_to_four: Ipv6Addr = "2002:c0a8:0101::1".parse().unwrap();
        assert_eq!(
            embedded_v4(six_to_four),
            Some(Ipv4Addr::new(192, 168, 1, 1))
        );
        let nat64: Ipv6Addr = "64:ff9b::10.0.0.1".parse().unwrap();
        assert_eq!(embedded_v4(nat64), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(embedded_v4("2606:4700::1111".parse().unwrap()), None);
    }
}

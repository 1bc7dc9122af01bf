//! Which IP addresses the http tool never connects to (SSRF defence).
//!
//! Everything that is not public unicast is refused: this host's own networks
//! (loopback, private, link-local, CGNAT, unspecified), cloud metadata services,
//! multicast and broadcast, and the ranges reserved for documentation,
//! benchmarking and future use. IPv6 addresses that carry an IPv4 address
//! (IPv4-mapped, -compatible, -translated, NAT64, 6to4, Teredo) are judged by the
//! IPv4 address they carry, because a dual-stack socket or a translator on the
//! path delivers them there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use Blocked::*;

/// Why an address may not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blocked {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    SharedCgnat,
    Multicast,
    Broadcast,
    Documentation,
    CloudMetadata,
    Benchmarking,
    Reserved,
}

impl Blocked {
    /// Stable kebab-case code: denials name the rule as `ssrf:<code>`, so it
    /// must not change when the wording of [`Blocked::describe`] does.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::SharedCgnat => "shared-cgnat",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::CloudMetadata => "cloud-metadata",
            Self::Benchmarking => "benchmarking",
            Self::Reserved => "reserved",
        }
    }

    /// A short phrase for error messages, e.g. "a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified (\"this network\") address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private network address",
            Self::LinkLocal => "a link-local address",
            Self::SharedCgnat => "a carrier-grade NAT (shared) address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "an address reserved for documentation",
            Self::CloudMetadata => "a cloud metadata service address",
            Self::Benchmarking => "an address reserved for benchmarking",
            Self::Reserved => "a reserved address",
        }
    }
}

/// What is wrong with an address, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub class: Blocked,
    /// The IPv4 address an IPv6 spelling carries, when the verdict came from it,
    /// so an error can say why `::ffff:7f00:1` is loopback.
    pub embedded: Option<Ipv4Addr>,
}

/// `None` when `ip` is a public unicast address that may be reached.
pub fn classify(ip: IpAddr) -> Option<Verdict> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map(|class| Verdict {
            class,
            embedded: None,
        }),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Cloud metadata endpoints, matched before the general ranges so a denial
/// names them precisely (and because 168.63.129.16 is otherwise public).
const METADATA_V4: [Ipv4Addr; 6] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure IMDS, OpenStack, DigitalOcean
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(169, 254, 169, 123), // AWS time sync
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure wire server: a public address
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
];

/// AWS's IPv6 instance metadata endpoint.
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// IPv4 blocks, first match wins: broadcast sits before the rest of 240/4.
const RANGES_V4: [(Ipv4Addr, u32, Blocked); 16] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8, Unspecified),
    (Ipv4Addr::new(10, 0, 0, 0), 8, Private),
    (Ipv4Addr::new(100, 64, 0, 0), 10, SharedCgnat),
    (Ipv4Addr::new(127, 0, 0, 0), 8, Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, LinkLocal),
    (Ipv4Addr::new(172, 16, 0, 0), 12, Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, Reserved), // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24, Documentation),
    (Ipv4Addr::new(192, 88, 99, 0), 24, Reserved), // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16, Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, Benchmarking),
    (Ipv4Addr::new(198, 51, 100, 0), 24, Documentation),
    (Ipv4Addr::new(203, 0, 113, 0), 24, Documentation),
    (Ipv4Addr::new(224, 0, 0, 0), 4, Multicast),
    (Ipv4Addr::new(255, 255, 255, 255), 32, Broadcast),
    (Ipv4Addr::new(240, 0, 0, 0), 4, Reserved),
];

/// IPv6 blocks outside the IPv4 embeddings.
const RANGES_V6: [(Ipv6Addr, u32, Blocked); 10] = [
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Private), // unique local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, Private), // site-local (deprecated)
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, LinkLocal),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Multicast),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        Documentation,
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        Documentation,
    ),
    (
        Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0),
        48,
        Benchmarking,
    ),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Reserved), // discard-only
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, Reserved), // ORCHID
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28, Reserved), // ORCHIDv2
];

/// Only 2000::/3 is allocated as global unicast today.
const GLOBAL_UNICAST: (Ipv6Addr, u32) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// IPv6 prefixes whose last 32 bits are an IPv4 address.
const LOW32_EMBEDDINGS: [(Ipv6Addr, u32); 5] = [
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96), // IPv4-mapped
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96), // IPv4-translated (SIIT)
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),      // IPv4-compatible (deprecated)
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96), // NAT64 well-known
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // NAT64 local-use
];
const SIX_TO_FOUR: (Ipv6Addr, u32) = (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);
const TEREDO: (Ipv6Addr, u32) = (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32);

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

fn in_v6(ip: Ipv6Addr, (net, prefix): (Ipv6Addr, u32)) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    if METADATA_V4.contains(&ip) {
        return Some(CloudMetadata);
    }
    RANGES_V4
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, class)| *class)
}

/// The IPv4 addresses an IPv6 address carries, in the order they are judged;
/// empty when it is no known embedding.
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let bits = ip.to_bits();
    let low32 = bits as u32;
    if ip.is_unspecified() || ip.is_loopback() {
        // `::` and `::1` are themselves, not IPv4-compatible 0.0.0.0 and 0.0.0.1.
        return Vec::new();
    }
    if LOW32_EMBEDDINGS.iter().any(|&net| in_v6(ip, net)) {
        return vec![Ipv4Addr::from_bits(low32)];
    }
    if in_v6(ip, SIX_TO_FOUR) {
        // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        return vec![Ipv4Addr::from_bits((bits >> 80) as u32)];
    }
    if in_v6(ip, TEREDO) {
        // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC: the client (where the packets
        // end up) is stored inverted, the server in clear; either may be abused.
        let client = Ipv4Addr::from_bits(!low32);
        let server = Ipv4Addr::from_bits((bits >> 64) as u32);
        return vec![client, server];
    }
    Vec::new()
}

fn classify_v6(ip: Ipv6Addr) -> Option<Verdict> {
    let plain = |class| {
        Some(Verdict {
            class,
            embedded: None,
        })
    };
    if METADATA_V6.contains(&ip) {
        return plain(CloudMetadata);
    }
    if ip.is_unspecified() {
        return plain(Unspecified);
    }
    if ip.is_loopback() {
        return plain(Loopback);
    }
    let carried = embedded_v4(ip);
    for v4 in &carried {
        if let Some(class) = classify_v4(*v4) {
            return Some(Verdict {
                class,
                embedded: Some(*v4),
            });
        }
    }
    if let Some((_, _, class)) = RANGES_V6
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, (*net, *prefix)))
    {
        return plain(*class);
    }
    // An embedding of a public IPv4 address is reachable even outside 2000::/3.
    if carried.is_empty() && !in_v6(ip, GLOBAL_UNICAST) {
        return plain(Reserved);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn class(text: &str) -> Option<&'static str> {
        let ip: IpAddr = text.parse().expect("a valid address literal");
        classify(ip).map(|v| v.class.code())
    }

    fn v4(text: &str) -> Ipv4Addr {
        text.parse().expect("an IPv4 literal")
    }

    #[test]
    fn ipv4_ranges_and_their_edges() {
        for (address, expected) in [
            // 0.0.0.0/8 "this network"
            ("0.0.0.0", Some("unspecified")),
            ("0.255.255.255", Some("unspecified")),
            ("1.0.0.0", None),
            // 10/8
            ("9.255.255.255", None),
            ("10.0.0.0", Some("private")),
            ("10.255.255.255", Some("private")),
            ("11.0.0.0", None),
            // 100.64/10
            ("100.63.255.255", None),
            ("100.64.0.0", Some("shared-cgnat")),
            ("100.127.255.255", Some("shared-cgnat")),
            ("100.128.0.0", None),
            // 127/8
            ("126.255.255.255", None),
            ("127.0.0.0", Some("loopback")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.255", Some("loopback")),
            ("128.0.0.0", None),
            // 169.254/16
            ("169.253.255.255", None),
            ("169.254.0.0", Some("link-local")),
            ("169.254.255.255", Some("link-local")),
            ("169.255.0.0", None),
            // 172.16/12
            ("172.15.255.255", None),
            ("172.16.0.0", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.0", None),
            // 192.0.0/24
            ("191.255.255.255", None),
            ("192.0.0.0", Some("reserved")),
            ("192.0.0.255", Some("reserved")),
            ("192.0.1.0", None),
            // 192.0.2/24
            ("192.0.1.255", None),
            ("192.0.2.0", Some("documentation")),
            ("192.0.2.255", Some("documentation")),
            ("192.0.3.0", None),
            // 192.88.99/24
            ("192.88.98.255", None),
            ("192.88.99.0", Some("reserved")),
            ("192.88.99.255", Some("reserved")),
            ("192.88.100.0", None),
            // 192.168/16
            ("192.167.255.255", None),
            ("192.168.0.0", Some("private")),
            ("192.168.255.255", Some("private")),
            ("192.169.0.0", None),
            // 198.18/15
            ("198.17.255.255", None),
            ("198.18.0.0", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("198.20.0.0", None),
            // 198.51.100/24
            ("198.51.99.255", None),
            ("198.51.100.0", Some("documentation")),
            ("198.51.100.255", Some("documentation")),
            ("198.51.101.0", None),
            // 203.0.113/24
            ("203.0.112.255", None),
            ("203.0.113.0", Some("documentation")),
            ("203.0.113.255", Some("documentation")),
            ("203.0.114.0", None),
            // 224/4, then 240/4 with the broadcast address at its top
            ("223.255.255.255", None),
            ("224.0.0.0", Some("multicast")),
            ("239.255.255.255", Some("multicast")),
            ("240.0.0.0", Some("reserved")),
            ("255.255.255.254", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            // cloud metadata and their neighbours
            ("169.254.169.254", Some("cloud-metadata")),
            ("169.254.169.253", Some("link-local")),
            ("169.254.169.255", Some("link-local")),
            ("169.254.170.2", Some("cloud-metadata")),
            ("169.254.170.1", Some("link-local")),
            ("169.254.170.3", Some("link-local")),
            ("169.254.169.123", Some("cloud-metadata")),
            ("169.254.169.122", Some("link-local")),
            ("169.254.169.124", Some("link-local")),
            ("100.100.100.200", Some("cloud-metadata")),
            ("100.100.100.199", Some("shared-cgnat")),
            ("100.100.100.201", Some("shared-cgnat")),
            ("168.63.129.16", Some("cloud-metadata")),
            ("168.63.129.15", None),
            ("168.63.129.17", None),
            ("192.0.0.192", Some("cloud-metadata")),
            ("192.0.0.191", Some("reserved")),
            ("192.0.0.193", Some("reserved")),
            // public
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    #[test]
    fn ipv6_ranges_and_their_edges() {
        for (address, expected) in [
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            // fc00::/7 unique local; neighbours lie outside 2000::/3
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
            ("fc00::", Some("private")),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("private")),
            ("fe00::", Some("reserved")),
            // fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
            ("fe80::", Some("link-local")),
            (
                "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                Some("link-local"),
            ),
            ("fec0::", Some("private")),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("private")),
            ("ff00::", Some("multicast")),
            ("ff02::1", Some("multicast")),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("multicast")),
            // 2001:db8::/32 documentation
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("2001:db8::", Some("documentation")),
            (
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
                Some("documentation"),
            ),
            ("2001:db9::", None),
            // 3fff::/20 documentation
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("3fff::", Some("documentation")),
            (
                "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
                Some("documentation"),
            ),
            ("3fff:1000::", None),
            // 2001:2::/48 benchmarking
            ("2001:1:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("2001:2::", Some("benchmarking")),
            ("2001:2:0:ffff:ffff:ffff:ffff:ffff", Some("benchmarking")),
            ("2001:2:1::", None),
            // 100::/64 discard-only; neighbours lie outside 2000::/3
            ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
            ("100::", Some("reserved")),
            ("100::ffff:ffff:ffff:ffff", Some("reserved")),
            ("100:0:0:1::", Some("reserved")),
            // 2001:10::/28 and 2001:20::/28 ORCHID
            ("2001:f:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("2001:10::", Some("reserved")),
            ("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
            ("2001:20::", Some("reserved")),
            ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
            ("2001:30::", None),
            // 2000::/3 is the only global unicast
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
            ("2000::", None),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("4000::", Some("reserved")),
            ("::2:0:0:1", Some("reserved")),
            // AWS IPv6 metadata
            ("fd00:ec2::254", Some("cloud-metadata")),
            ("fd00:ec2::253", Some("private")),
            ("fd00:ec2::255", Some("private")),
            // public
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
            ("2001:4860:4860::8888", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    #[test]
    fn ipv6_embedding_edges() {
        for (address, expected, embedded) in [
            // IPv4-mapped ::ffff:0:0/96
            ("::fffe:ffff:ffff", Some("reserved"), None),
            ("::ffff:0.0.0.0", Some("unspecified"), Some("0.0.0.0")),
            (
                "::ffff:255.255.255.255",
                Some("broadcast"),
                Some("255.255.255.255"),
            ),
            ("::1:0:0:0", Some("reserved"), None),
            // IPv4-translated ::ffff:0:0:0/96
            ("::fffe:ffff:ffff:ffff", Some("reserved"), None),
            ("::ffff:0:0.0.0.0", Some("unspecified"), Some("0.0.0.0")),
            (
                "::ffff:0:255.255.255.255",
                Some("broadcast"),
                Some("255.255.255.255"),
            ),
            ("::ffff:1:0:0", Some("reserved"), None),
            // IPv4-compatible ::/96 (:: and ::1 are not embeddings)
            ("::2", Some("unspecified"), Some("0.0.0.2")),
            (
                "::255.255.255.255",
                Some("broadcast"),
                Some("255.255.255.255"),
            ),
            ("::1:0:0", Some("reserved"), None),
            // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
            (
                "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff",
                Some("reserved"),
                None,
            ),
            ("64:ff9b::", Some("unspecified"), Some("0.0.0.0")),
            (
                "64:ff9b::ffff:ffff",
                Some("broadcast"),
                Some("255.255.255.255"),
            ),
            ("64:ff9b::1:0:0", Some("reserved"), None),
            ("64:ff9b:0:ffff:ffff:ffff:ffff:ffff", Some("reserved"), None),
            ("64:ff9b:1::", Some("unspecified"), Some("0.0.0.0")),
            ("64:ff9b:1:ffff:ffff:ffff:808:808", None, None),
            (
                "64:ff9b:1:ffff:ffff:ffff:a00:1",
                Some("private"),
                Some("10.0.0.1"),
            ),
            ("64:ff9b:2::", Some("reserved"), None),
            // 6to4 2002::/16
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None, None),
            ("2002::", Some("unspecified"), Some("0.0.0.0")),
            ("2002:808:808::", None, None),
            (
                "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                Some("broadcast"),
                Some("255.255.255.255"),
            ),
            ("2003::", None, None),
            // Teredo 2001::/32: client (inverted) judged first, then server
            ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None, None),
            ("2001::", Some("broadcast"), Some("255.255.255.255")),
            (
                "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
                Some("unspecified"),
                Some("0.0.0.0"),
            ),
            ("2001:0:808:404::f7f7:f7f7", None, None),
            ("2001:0:a00:1::f7f7:f7f7", Some("private"), Some("10.0.0.1")),
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                Some("documentation"),
                Some("192.0.2.45"),
            ),
            ("2001:1::", None, None),
        ] {
            let verdict = classify(address.parse().expect("an IPv6 literal"));
            assert_eq!(verdict.map(|v| v.class.code()), expected, "{address}");
            assert_eq!(
                verdict.and_then(|v| v.embedded),
                embedded.map(v4),
                "{address}"
            );
        }
    }

    /// Every way IPv6 can carry `v4`, built from its bits.
    fn spellings(v4: Ipv4Addr) -> Vec<(&'static str, Ipv6Addr)> {
        let n = u128::from(v4.to_bits());
        let public_server = u128::from(Ipv4Addr::new(8, 8, 4, 4).to_bits());
        let public_client = u128::from(!Ipv4Addr::new(8, 8, 8, 8).to_bits());
        let inverted = u128::from(!v4.to_bits());
        let prefix = |p: Ipv6Addr| p.to_bits();
        let teredo = prefix(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0));
        vec![
            ("mapped", v4.to_ipv6_mapped()),
            ("compatible", v4.to_ipv6_compatible()),
            ("translated", Ipv6Addr::from_bits((0xffff << 48) | n)),
            (
                "nat64",
                Ipv6Addr::from_bits(prefix("64:ff9b::".parse().expect("v6")) | n),
            ),
            (
                "nat64-local",
                Ipv6Addr::from_bits(prefix("64:ff9b:1:2:3:4::".parse().expect("v6")) | n),
            ),
            ("6to4", Ipv6Addr::from_bits((0x2002 << 112) | (n << 80) | 1)),
            (
                "teredo-client",
                Ipv6Addr::from_bits(teredo | (public_server << 64) | inverted),
            ),
            (
                "teredo-server",
                Ipv6Addr::from_bits(teredo | (n << 64) | public_client),
            ),
        ]
    }

    #[test]
    fn every_spelling_is_judged_by_the_ipv4_address_it_carries() {
        for text in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "8.8.8.8"] {
            let ip = v4(text);
            let expected = classify(IpAddr::V4(ip)).map(|v| v.class);
            for (form, v6) in spellings(ip) {
                let verdict = classify(IpAddr::V6(v6));
                assert_eq!(
                    verdict.map(|v| v.class),
                    expected,
                    "{form} {v6} carries {ip}"
                );
                if let Some(verdict) = verdict {
                    assert_eq!(verdict.embedded, Some(ip), "{form} {v6}");
                }
            }
        }
        // The builder above agrees with the usual spellings.
        let loopback = spellings(v4("127.0.0.1"));
        let written = [
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b:1:2:3:4:7f00:1",
            "2002:7f00:1::1",
            "2001:0:808:404::80ff:fffe",
            "2001:0:7f00:1::f7f7:f7f7",
        ];
        for ((form, built), text) in loopback.iter().zip(written) {
            assert_eq!(*built, text.parse::<Ipv6Addr>().expect("v6"), "{form}");
        }
    }

    #[test]
    fn codes_are_distinct_kebab_case_and_described() {
        let all = [
            Unspecified,
            Loopback,
            Private,
            LinkLocal,
            SharedCgnat,
            Multicast,
            Broadcast,
            Documentation,
            CloudMetadata,
            Benchmarking,
            Reserved,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|b| b.code()).collect();
        assert_eq!(codes.len(), all.len());
        for b in all {
            assert!(
                b.code()
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c == b'-')
            );
            assert!(b.describe().starts_with("a") || b.describe().starts_with("the"));
        }
    }

    /// Addresses near the edges of every IPv4 block, where mistakes hide.
    fn near_an_edge() -> impl Strategy<Value = Ipv4Addr> {
        let edges: Vec<u32> = RANGES_V4
            .iter()
            .flat_map(|(net, prefix, _)| {
                let size = 1u64 << (32 - prefix);
                let first = u64::from(net.to_bits());
                [first, first + size]
            })
            .chain(METADATA_V4.iter().map(|ip| u64::from(ip.to_bits())))
            .map(|n| n as u32)
            .collect();
        (proptest::sample::select(edges), -300i64..300)
            .prop_map(|(edge, delta)| Ipv4Addr::from_bits((i64::from(edge) + delta) as u32))
    }

    fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
        prop_oneof![any::<u32>().prop_map(Ipv4Addr::from_bits), near_an_edge()]
    }

    proptest! {
        #[test]
        fn mapped_has_the_class_of_its_ipv4_address(ip in any_v4()) {
            let expected = classify(IpAddr::V4(ip)).map(|v| v.class);
            let mapped = classify(IpAddr::V6(ip.to_ipv6_mapped()));
            prop_assert_eq!(mapped.map(|v| v.class), expected);
            prop_assert_eq!(mapped.and_then(|v| v.embedded), expected.map(|_| ip));
        }

        #[test]
        fn every_embedding_agrees_with_ipv4(ip in any_v4()) {
            let expected = classify(IpAddr::V4(ip)).map(|v| v.class);
            for (form, v6) in spellings(ip) {
                // ::0.0.0.0 and ::0.0.0.1 are `::` and `::1`, named as such.
                if form == "compatible" && ip.to_bits() <= 1 {
                    continue;
                }
                prop_assert_eq!(classify(IpAddr::V6(v6)).map(|v| v.class), expected, "{}", form);
            }
        }
    }

    #[test]
    fn a_sweep_of_the_whole_ipv4_space() {
        // A prime stride visits every /16, complementing the random cases above.
        let mut n: u64 = 0;
        while n <= u64::from(u32::MAX) {
            let ip = Ipv4Addr::from_bits(n as u32);
            assert_eq!(
                classify(IpAddr::V6(ip.to_ipv6_mapped())).map(|v| v.class),
                classify(IpAddr::V4(ip)).map(|v| v.class),
                "{ip}"
            );
            n += 65_521;
        }
    }
}

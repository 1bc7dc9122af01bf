//! Which IP addresses the http tool never connects to.
//!
//! Everything that is not public unicast is refused: this host's own network
//! (loopback, private, link-local, CGNAT, unspecified), cloud metadata services,
//! multicast and broadcast, and the ranges reserved for documentation,
//! benchmarking and future use. IPv6 addresses that carry an IPv4 address
//! (IPv4-mapped, -compatible, -translated, NAT64, 6to4, Teredo) are judged by the
//! IPv4 address they carry, because a dual-stack host or a translator on the
//! path delivers them there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    /// Stable kebab-case code (`ssrf:<code>` is the rule a denial names).
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

    /// A short phrase for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified (\"this host\") address",
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

/// What is wrong with an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub class: Blocked,
    /// The IPv4 address an IPv6 spelling carries, when the verdict came from it.
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

/// Cloud metadata endpoints; checked first so they are named precisely.
const METADATA_V4: [Ipv4Addr; 6] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure IMDS, OpenStack, …
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(169, 254, 169, 123), // AWS time sync
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure wire server: a public address
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    use Blocked::*;
    if METADATA_V4.contains(&ip) {
        return Some(CloudMetadata);
    }
    let table: &[([u8; 4], u32, Blocked)] = &[
        ([0, 0, 0, 0], 8, Unspecified),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedCgnat),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Broadcast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, class)| *class)
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Verdict> {
    use Blocked::*;
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
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let via = |v4: Ipv4Addr| {
        classify_v4(v4).map(|class| Verdict {
            class,
            embedded: Some(v4),
        })
    };
    // IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, translated ::ffff:0:a.b.c.d,
    // NAT64 64:ff9b::/96 and 64:ff9b:1::/48: the IPv4 address is the last 32 bits.
    if in_v6(ip, v6("::ffff:0:0"), 96)
        || in_v6(ip, v6("::"), 96)
        || in_v6(ip, v6("::ffff:0:0:0"), 96)
        || in_v6(ip, v6("64:ff9b::"), 96)
        || in_v6(ip, v6("64:ff9b:1::"), 48)
    {
        return via(low32);
    }
    // 6to4 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if in_v6(ip, v6("2002::"), 16) {
        return via(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    // Teredo 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC — the server address, and the
    // client address stored inverted. Either being refused refuses the address.
    if in_v6(ip, v6("2001::"), 32) {
        let server = Ipv4Addr::from(((bits >> 64) & 0xffff_ffff) as u32);
        let client = Ipv4Addr::from(!((bits & 0xffff_ffff) as u32));
        return via(client).or_else(|| via(server));
    }
    let table: &[(&str, u32, Blocked)] = &[
        ("fc00::", 7, Private),
        ("fec0::", 10, Private),
        ("fe80::", 10, LinkLocal),
        ("ff00::", 8, Multicast),
        ("2001:db8::", 32, Documentation),
        ("3fff::", 20, Documentation),
        ("2001:2::", 48, Benchmarking),
        ("100::", 64, Reserved),
        ("2001:10::", 28, Reserved),
        ("2001:20::", 28, Reserved),
    ];
    if let Some((_, _, class)) = table
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, v6(net), *prefix))
    {
        return plain(*class);
    }
    // Only 2000::/3 is global unicast today; anything else is unassigned.
    if !in_v6(ip, v6("2000::"), 3) {
        return plain(Reserved);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<&'static str> {
        classify(text.parse().expect("an address")).map(|v| v.class.code())
    }

    #[test]
    fn ipv4_ranges_and_their_edges() {
        for (address, expected) in [
            ("0.0.0.0", Some("unspecified")),
            ("0.255.255.255", Some("unspecified")),
            ("1.0.0.0", None),
            ("9.255.255.255", None),
            ("10.0.0.0", Some("private")),
            ("10.255.255.255", Some("private")),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.0", Some("shared-cgnat")),
            ("100.127.255.255", Some("shared-cgnat")),
            ("100.128.0.0", None),
            ("100.100.100.200", Some("cloud-metadata")),
            ("126.255.255.255", None),
            ("127.0.0.0", Some("loopback")),
            ("127.255.255.255", Some("loopback")),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.0.0", Some("link-local")),
            ("169.254.169.254", Some("cloud-metadata")),
            ("169.254.170.2", Some("cloud-metadata")),
            ("169.254.255.255", Some("link-local")),
            ("169.255.0.0", None),
            ("168.63.129.16", Some("cloud-metadata")),
            ("168.63.129.17", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.0", None),
            ("192.0.0.0", Some("reserved")),
            ("192.0.0.192", Some("cloud-metadata")),
            ("192.0.1.0", None),
            ("192.0.2.0", Some("documentation")),
            ("192.0.2.255", Some("documentation")),
            ("192.0.3.0", None),
            ("192.88.99.1", Some("reserved")),
            ("192.167.255.255", None),
            ("192.168.0.0", Some("private")),
            ("192.168.255.255", Some("private")),
            ("192.169.0.0", None),
            ("198.17.255.255", None),
            ("198.18.0.0", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("198.20.0.0", None),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.255", Some("documentation")),
            ("223.255.255.255", None),
            ("224.0.0.0", Some("multicast")),
            ("239.255.255.255", Some("multicast")),
            ("240.0.0.0", Some("reserved")),
            ("255.255.255.254", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        for (address, expected) in [
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fc00::1", Some("private")),
            ("fdff:ffff::1", Some("private")),
            ("fec0::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("febf:ffff::1", Some("link-local")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("3fff:fff::1", Some("documentation")),
            ("2001:2::1", Some("benchmarking")),
            ("100::1", Some("reserved")),
            ("2001:10::1", Some("reserved")),
            ("2001:20::1", Some("reserved")),
            ("fd00:ec2::254", Some("cloud-metadata")),
            ("4000::1", Some("reserved")),
            ("::2:0:0:1", Some("reserved")),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
            ("2001:4860:4860::8888", None),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    #[test]
    fn ipv6_spellings_of_ipv4_are_judged_by_the_ipv4_address() {
        for v4 in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "8.8.8.8"] {
            let expected = class(v4);
            let octets: Ipv4Addr = v4.parse().expect("v4");
            let n = u32::from(octets);
            let (hi, lo) = (n >> 16, n & 0xffff);
            let inverted = !n;
            let spellings = [
                format!("::ffff:{v4}"),
                format!("::{v4}"),
                format!("::ffff:0:{v4}"),
                format!("64:ff9b::{v4}"),
                format!("64:ff9b:1::{v4}"),
                format!("2002:{hi:x}:{lo:x}::1"),
                // Teredo with a public server (8.8.4.4) and this client.
                format!(
                    "2001:0:808:404:0:0:{:x}:{:x}",
                    inverted >> 16,
                    inverted & 0xffff
                ),
            ];
            for spelling in spellings {
                let verdict = classify(spelling.parse().expect("v6"));
                assert_eq!(
                    verdict.map(|v| v.class.code()),
                    expected,
                    "{spelling} carries {v4}"
                );
                if let Some(verdict) = verdict {
                    assert_eq!(verdict.embedded, Some(octets), "{spelling}");
                }
            }
        }
        // A Teredo address whose server is private is refused too.
        assert_eq!(class("2001:0:a00:1::f7f7:f7f7"), Some("private"));
    }

    #[test]
    fn every_mapped_address_has_the_class_of_its_ipv4_address() {
        // A sweep across the whole IPv4 space in coarse steps, plus every edge above.
        let mut n: u64 = 0;
        while n <= u64::from(u32::MAX) {
            let v4 = Ipv4Addr::from(n as u32);
            assert_eq!(
                classify(IpAddr::V6(v4.to_ipv6_mapped())).map(|v| v.class),
                classify(IpAddr::V4(v4)).map(|v| v.class),
                "{v4}"
            );
            n += 65_521; // a prime stride, so every /16 is visited
        }
    }
}

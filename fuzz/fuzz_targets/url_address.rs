//! The URL vetting and address classification the http tool relies on: never a
//! panic; a vetted URL re-vets to the same destination and port; an IPv4
//! address and its IPv4-mapped IPv6 spelling are always judged alike.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use clambot::net::address::classify;
use clambot::net::url_vet::vet_url;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let v4 = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
        assert_eq!(
            classify(IpAddr::V4(v4)).map(|v| v.class),
            classify(IpAddr::V6(v4.to_ipv6_mapped())).map(|v| v.class),
            "{v4}"
        );
    }
    if data.len() >= 16 {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&data[..16]);
        let _ = classify(IpAddr::from(octets));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(vetted) = vet_url(text) {
        let again = vet_url(vetted.url.as_str()).expect("a vetted URL vets again");
        assert_eq!(again.destination, vetted.destination, "{text:?}");
        assert_eq!(again.port, vetted.port, "{text:?}");
    }
});

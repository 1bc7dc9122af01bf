//! Network safety: the one HTTP client builder ([`client`]), which addresses
//! may never be reached ([`address`]), which URLs are refused before any lookup
//! ([`url_vet`]), and name resolution behind
//! a trait ([`Resolver`]) so tests can answer for `api.example.com` while the
//! address rules still judge what they answer.

pub mod address;
pub mod client;
pub mod url_vet;

use std::fmt;
use std::io;
use std::net::IpAddr;

use crate::gate::BoxFuture;

/// Turns a host name into addresses. Called once per request: the http tool
/// judges every address it returns and then connects only to those.
pub trait Resolver: Send + Sync + fmt::Debug {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let mut addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
                .await?
                .map(|a| a.ip())
                .collect();
            addresses.dedup();
            Ok(addresses)
        })
    }
}

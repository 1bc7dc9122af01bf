// TEMPORARY STUB (replaced by the real module)
use std::net::IpAddr;
use url::Url;
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Ip(IpAddr),
    Name(String),
}
#[derive(Debug, Clone)]
pub struct VettedUrl {
    pub url: Url,
    pub destination: Destination,
    pub port: u16,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    Unparsable(String),
}
impl UrlProblem {
    pub fn code(&self) -> &'static str {
        "unparsable"
    }
}
impl std::fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for UrlProblem {}
pub fn vet_url(raw: &str) -> Result<VettedUrl, UrlProblem> {
    let url = Url::parse(raw).map_err(|e| UrlProblem::Unparsable(e.to_string()))?;
    let destination = match url.host() {
        Some(url::Host::Ipv4(a)) => Destination::Ip(a.into()),
        Some(url::Host::Ipv6(a)) => Destination::Ip(a.into()),
        Some(url::Host::Domain(d)) => Destination::Name(d.to_owned()),
        None => return Err(UrlProblem::Unparsable("no host".into())),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(VettedUrl {
        url,
        destination,
        port,
    })
}

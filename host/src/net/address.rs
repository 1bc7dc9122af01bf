// TEMPORARY STUB (replaced by the real module)
use std::net::IpAddr;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blocked {
    Loopback,
}
impl Blocked {
    pub fn code(self) -> &'static str {
        "loopback"
    }
    pub fn describe(self) -> &'static str {
        "a loopback address"
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub class: Blocked,
    pub embedded: Option<std::net::Ipv4Addr>,
}
pub fn classify(ip: IpAddr) -> Option<Verdict> {
    ip.is_loopback().then_some(Verdict {
        class: Blocked::Loopback,
        embedded: None,
    })
}

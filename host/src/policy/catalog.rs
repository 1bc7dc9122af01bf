//! The host functions a policy may name, read from the WIT contract itself so a
//! rule naming a function that does not exist (`http.fecth`) is a load error.

use std::collections::BTreeMap;

/// The WIT files that declare the host interfaces.
const WIT_SOURCES: &[&str] = &[
    include_str!("../../../wit/http.wit"),
    include_str!("../../../wit/fs.wit"),
    include_str!("../../../wit/cron.wit"),
    include_str!("../../../wit/memory.wit"),
    include_str!("../../../wit/secrets.wit"),
    include_str!("../../../wit/log.wit"),
];

/// Interfaces and their functions, in WIT spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    interfaces: BTreeMap<String, Vec<String>>,
}

impl Catalog {
    /// The `clambot:host` interfaces.
    pub fn host() -> Self {
        let mut interfaces = BTreeMap::new();
        for source in WIT_SOURCES {
            let mut current: Option<String> = None;
            for line in source.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("interface ") {
                    let name = rest.trim_end_matches('{').trim().to_owned();
                    interfaces.insert(name.clone(), Vec::new());
                    current = Some(name);
                } else if let (Some(interface), Some((name, rest))) =
                    (&current, line.split_once(':'))
                    && rest.trim_start().starts_with("func(")
                {
                    let name = name.trim().trim_start_matches('%').to_owned();
                    interfaces
                        .get_mut(interface)
                        .expect("inserted above")
                        .push(name);
                }
            }
        }
        Self { interfaces }
    }

    pub fn has_interface(&self, interface: &str) -> bool {
        self.interfaces.contains_key(interface)
    }

    pub fn functions(&self, interface: &str) -> &[String] {
        self.interfaces.get(interface).map_or(&[], Vec::as_slice)
    }

    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.interfaces.keys().map(String::as_str)
    }
}

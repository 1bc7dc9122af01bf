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
        let mut interfaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for source in WIT_SOURCES {
            for item in scan_wit(source) {
                let functions = interfaces.entry(item.interface).or_default();
                if let Some(function) = item.function {
                    functions.push(function.name);
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

/// One `interface` of a WIT text, or one function in it with its `///` docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitItem {
    pub interface: String,
    pub function: Option<WitFunction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitFunction {
    /// WIT spelling, without a `%` escape.
    pub name: String,
    /// The `///` lines above it, joined by spaces.
    pub docs: String,
}

/// The interfaces and functions of a WIT text, line by line: enough for the
/// host's own files and the tools' (one declaration per line, as `wit fmt`
/// writes them), without a full WIT parser.
pub fn scan_wit(source: &str) -> Vec<WitItem> {
    let mut items = Vec::new();
    let mut current: Option<String> = None;
    let mut docs: Vec<&str> = Vec::new();
    for line in source.lines().map(str::trim) {
        if let Some(doc) = line.strip_prefix("///") {
            docs.push(doc.trim());
            continue;
        }
        if let Some(rest) = line.strip_prefix("interface ") {
            let name = rest.trim_end_matches('{').trim().to_owned();
            items.push(WitItem {
                interface: name.clone(),
                function: None,
            });
            current = Some(name);
        } else if let (Some(interface), Some((name, rest))) = (&current, line.split_once(':'))
            && rest.trim_start().starts_with("func(")
        {
            items.push(WitItem {
                interface: interface.clone(),
                function: Some(WitFunction {
                    name: name.trim().trim_start_matches('%').to_owned(),
                    docs: docs.join(" "),
                }),
            });
        }
        docs.clear();
    }
    items
}

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

/// The parameters of a host function and the fields of the records they use,
/// so `policy check` can tell a `where` path that names no argument.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signatures {
    /// `(interface, function)` → `(parameter, type)` in order.
    params: BTreeMap<(String, String), Vec<(String, String)>>,
    /// `(interface, record)` → `(field, type)` in order.
    records: BTreeMap<(String, String), Vec<(String, String)>>,
}

impl Signatures {
    /// The `clambot:host` functions' parameters.
    pub fn host() -> Self {
        let mut out = Self::default();
        for source in WIT_SOURCES {
            out.scan(source);
        }
        out
    }

    fn scan(&mut self, source: &str) {
        let mut interface: Option<String> = None;
        let mut record: Option<String> = None;
        let unescape = |s: &str| s.trim().trim_start_matches('%').to_owned();
        for line in source.lines().map(str::trim) {
            if line.starts_with("///") || line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("interface ") {
                interface = Some(rest.trim_end_matches('{').trim().to_owned());
                continue;
            }
            let Some(iface) = &interface else { continue };
            if let Some(rest) = line.strip_prefix("record ") {
                let name = unescape(rest.trim_end_matches('{'));
                self.records
                    .insert((iface.clone(), name.clone()), Vec::new());
                record = Some(name);
                continue;
            }
            if line.starts_with('}') {
                record = None;
                continue;
            }
            if let Some(name) = &record {
                if let Some((field, ty)) = line.split_once(':')
                    && let Some(fields) = self.records.get_mut(&(iface.clone(), name.clone()))
                {
                    fields.push((unescape(field), ty.trim().trim_end_matches(',').to_owned()));
                }
                continue;
            }
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let Some(params) = rest.trim_start().strip_prefix("func(") else {
                continue;
            };
            let params = params.split_once(')').map_or(params, |(p, _)| p);
            let list = params
                .split(',')
                .filter_map(|p| p.split_once(':'))
                .map(|(n, t)| (unescape(n), t.trim().to_owned()))
                .collect();
            self.params.insert((iface.clone(), unescape(name)), list);
        }
    }

    /// The parameters of `interface.function`, if it is a host function.
    pub fn params(&self, interface: &str, function: &str) -> Option<&[(String, String)]> {
        self.params
            .get(&(interface.to_owned(), function.to_owned()))
            .map(Vec::as_slice)
    }

    /// The fields (with their types) of the record type `ty` of `interface`,
    /// if it is one.
    pub fn fields(&self, interface: &str, ty: &str) -> Option<&[(String, String)]> {
        self.records
            .get(&(interface.to_owned(), ty.to_owned()))
            .map(Vec::as_slice)
    }

    /// Every function of `interface` with its parameters.
    pub fn functions<'a>(
        &'a self,
        interface: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [(String, String)])> + 'a {
        self.params
            .iter()
            .filter(move |((i, _), _)| i == interface)
            .map(|((_, f), p)| (f.as_str(), p.as_slice()))
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

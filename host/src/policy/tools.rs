//! `[tools.NAME]` tables and the `caller` key of rules: which tool components may
//! be loaded, pinned by SHA-256, which host interfaces each may import, and whose
//! calls a rule judges.
//!
//! Threat model: a tool component is third-party code. It is loaded only when a
//! `[tools.NAME]` table names it and its bytes hash to the pinned `sha256`; it may
//! import only the host interfaces its `imports` list grants (an empty or absent
//! list grants none). The calls a tool makes to host interfaces are judged only by
//! rules that say `caller = "tools.NAME"`: a rule without `caller` judges the
//! script's own calls, so granting the script `http.fetch` grants no tool anything.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::Compiler;
use super::schema::RawTool;

/// Interfaces a tool may never import, whatever its `imports` say: tools call
/// other tools only through a script.
const NEVER_IMPORTABLE: &[&str] = &["components"];

/// Whose call the gate is judging.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Caller {
    /// The script running in the sandbox.
    #[default]
    Script,
    /// A tool component, by its `[tools.NAME]` name.
    Tool(String),
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Script => f.write_str("script"),
            Self::Tool(name) => write!(f, "tools.{name}"),
        }
    }
}

/// `[tools.NAME]`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSettings {
    pub name: String,
    /// Where the component is, when not in the usual places (relative paths are
    /// relative to the policy file's directory).
    pub component: Option<PathBuf>,
    /// The pinned SHA-256 of the component's bytes, lowercase hex.
    pub sha256: String,
    /// Host interfaces (`http`, `fs`, …) the tool may import.
    pub imports: Vec<String>,
    pub timeout: Option<Duration>,
    pub memory: Option<u64>,
    pub line: usize,
    pub note: Option<String>,
}

/// Whether `name` is a tool name: lowercase words of letters and digits joined by
/// `-`, as a WIT identifier (`units`, `csv-stats`).
pub fn is_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            word.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

impl Compiler<'_> {
    pub(super) fn tool(&mut self, name: &str, raw: Spanned<RawTool>) -> Option<ToolSettings> {
        let span = raw.span();
        let line = self.locator.line_of(&span);
        let raw = raw.into_inner();
        if !is_tool_name(name) {
            self.error::<()>(
                &span,
                format!(
                    "`{name}` is not a tool name; use lowercase letters, digits and `-` (like a WIT identifier, e.g. `csv-stats`)"
                ),
            );
        }
        let sha256 = match raw.sha256 {
            None => self.error(
                &span,
                format!(
                    "[tools.{name}] needs `sha256 = \"…\"`, the pinned hash of the component (see `clambot tools list`)"
                ),
            ),
            Some(hash) => {
                let text = hash.get_ref();
                if text.len() == 64
                    && text
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                {
                    Some(text.clone())
                } else {
                    self.error(
                        &hash.span(),
                        format!(
                            "`{text}` is not a SHA-256; expected 64 lowercase hex digits (see `clambot tools list`)"
                        ),
                    )
                }
            }
        };
        let mut imports = Vec::new();
        if let Some(list) = raw.imports {
            for item in list.into_inner() {
                let interface = item.get_ref();
                if NEVER_IMPORTABLE.contains(&interface.as_str())
                    || !self.catalog.has_interface(interface)
                {
                    let known: Vec<&str> = self.catalog.interfaces().collect();
                    self.error::<()>(
                        &item.span(),
                        format!(
                            "`{interface}` is not a host interface a tool may import; expected one of: {}",
                            known.join(", ")
                        ),
                    );
                } else if !imports.contains(interface) {
                    imports.push(interface.clone());
                }
            }
        }
        let timeout = self.timeout(raw.timeout);
        let memory = self.size(raw.memory);
        let component = raw.component.map(|c| PathBuf::from(c.into_inner()));
        Some(ToolSettings {
            name: name.to_owned(),
            component,
            sha256: sha256?,
            imports,
            timeout,
            memory,
            line,
            note: raw.note,
        })
    }

    /// Parses a rule's `caller`; `tools` are the declared tool names.
    pub(super) fn caller(
        &mut self,
        raw: Option<Spanned<String>>,
        tools: &[String],
    ) -> Option<Caller> {
        let Some(raw) = raw else {
            return Some(Caller::Script);
        };
        let text = raw.get_ref();
        if text == "script" {
            return Some(Caller::Script);
        }
        match text.strip_prefix("tools.") {
            Some(name) if tools.iter().any(|t| t == name) => Some(Caller::Tool(name.to_owned())),
            Some(name) => self.error(
                &raw.span(),
                format!(
                    "`caller = \"{text}\"` names no tool: there is no [tools.{name}] table (declared: {})",
                    if tools.is_empty() {
                        "none".to_owned()
                    } else {
                        tools.join(", ")
                    }
                ),
            ),
            None => self.error(
                &raw.span(),
                format!("`{text}` is not a caller; expected `\"script\"` or `\"tools.NAME\"`"),
            ),
        }
    }
}

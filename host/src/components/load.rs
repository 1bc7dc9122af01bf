//! Finding and admitting tool components.
//!
//! A tool is a directory `NAME/` holding `NAME.wasm`, in the project's `tools/` or
//! the user's `$CLAMBOT_HOME/tools/` (the user's wins on a name clash, and the
//! listing says so). It is loaded only when `policy.toml` has a `[tools.NAME]`
//! table, only when the bytes hash to the table's `sha256`, and only when every
//! import is one the table grants (or inert WASI, served with nothing behind it).

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::gate::HOST_PACKAGE;
use crate::policy::ToolSettings;

/// WASI interfaces a tool may import without a grant: they reach nothing. The
/// context behind them has no environment, no arguments, no stdin; clocks and
/// randomness are harmless; stdout and stderr go to the run's bounded output.
/// `wasi:filesystem`, `wasi:sockets` and `wasi:http` are never in this list.
const INERT_WASI: &[&str] = &[
    "wasi:io/poll",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// Host interfaces a tool may never import: tools reach other tools only through
/// a script, and the types interface carries no functions.
const NEVER_GRANTED: &[&str] = &["components"];

/// A tool component found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub path: PathBuf,
    /// Another component of the same name this one hides, if any.
    pub shadows: Option<PathBuf>,
}

/// Why a tool was not loaded. Each message names what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "tools.{name}: {path} is not named in policy.toml; add a [tools.{name}] table with `sha256 = \"{sha256}\"` to load it"
    )]
    NotInPolicy {
        name: String,
        path: String,
        sha256: String,
    },
    #[error(
        "tools.{name}: policy.toml:{line} names it, but no {name}/{name}.wasm was found (looked in: {looked})"
    )]
    Missing {
        name: String,
        line: usize,
        looked: String,
    },
    #[error(
        "tools.{name}: {path} has sha256 {actual}, but policy.toml:{line} pins {pinned}; the component changed since it was reviewed, so it is not loaded"
    )]
    HashMismatch {
        name: String,
        path: String,
        line: usize,
        pinned: String,
        actual: String,
    },
    #[error(
        "tools.{name}: {path} imports `{import}`, which policy.toml:{line} does not grant{hint}; it is not loaded"
    )]
    Import {
        name: String,
        path: String,
        line: usize,
        import: String,
        hint: String,
    },
    #[error("tools.{name}: {path} is not a usable component: {reason}")]
    Unusable {
        name: String,
        path: String,
        reason: String,
    },
}

impl Refusal {
    pub fn tool(&self) -> &str {
        match self {
            Self::NotInPolicy { name, .. }
            | Self::Missing { name, .. }
            | Self::HashMismatch { name, .. }
            | Self::Import { name, .. }
            | Self::Unusable { name, .. } => name,
        }
    }
}

/// The project's `tools/` (next to the policy file, or the working directory)
/// and the user's tools directory, in the order they are searched.
pub fn search_dirs(project: Option<&Path>, user: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(project) = project {
        dirs.push(project.join("tools"));
    }
    dirs.push(user.to_path_buf());
    dirs
}

/// Every `NAME/NAME.wasm` under `dirs`; a later directory's tool hides an
/// earlier one of the same name.
pub fn discover(dirs: &[PathBuf]) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name).join(format!("{name}.wasm"));
            if !crate::policy::is_tool_name(&name) || !path.is_file() {
                continue;
            }
            match found.iter_mut().find(|f| f.name == name) {
                Some(existing) => {
                    existing.shadows = Some(std::mem::replace(&mut existing.path, path));
                }
                None => found.push(Found {
                    name,
                    path,
                    shadows: None,
                }),
            }
        }
    }
    found
}

/// Checks the pin and reads the bytes of a tool's component.
pub fn pinned_bytes(settings: &ToolSettings, path: &Path) -> Result<Vec<u8>, Refusal> {
    let bytes = std::fs::read(path).map_err(|e| Refusal::Unusable {
        name: settings.name.clone(),
        path: path.display().to_string(),
        reason: format!("cannot be read: {e}"),
    })?;
    let actual = crate::sha256_hex(&bytes);
    if actual != settings.sha256 {
        return Err(Refusal::HashMismatch {
            name: settings.name.clone(),
            path: path.display().to_string(),
            line: settings.line,
            pinned: settings.sha256.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Refuses a component with an import its table does not grant.
pub fn check_imports(
    settings: &ToolSettings,
    path: &Path,
    component: &Component,
    engine: &Engine,
) -> Result<(), Refusal> {
    for (import, item) in component.component_type().imports(engine) {
        let unversioned = import.split('@').next().unwrap_or(import);
        let granted = if let Some(interface) = unversioned.strip_prefix(HOST_PACKAGE) {
            interface == "types"
                || (!NEVER_GRANTED.contains(&interface)
                    && settings.imports.iter().any(|i| i == interface))
        } else {
            INERT_WASI.contains(&unversioned)
        };
        let is_interface = matches!(item.ty, ComponentItem::ComponentInstance(_));
        if !granted || !is_interface {
            let hint = match unversioned.strip_prefix(HOST_PACKAGE) {
                Some(interface) if !NEVER_GRANTED.contains(&interface) => format!(
                    " (add \"{interface}\" to `imports` in [tools.{}] to allow it, with rules for `caller = \"tools.{}\"`)",
                    settings.name, settings.name
                ),
                Some(_) => " (a tool may never import it)".to_owned(),
                None if unversioned.starts_with("wasi:") => {
                    " (tools get no files, sockets or outbound HTTP of their own; use the gated clambot:host interfaces)"
                        .to_owned()
                }
                None => String::new(),
            };
            return Err(Refusal::Import {
                name: settings.name.clone(),
                path: path.display().to_string(),
                line: settings.line,
                import: import.to_owned(),
                hint,
            });
        }
    }
    Ok(())
}

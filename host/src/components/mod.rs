//! Tool components: WebAssembly components, in any language, that export one WIT
//! interface. Scripts call them as `tools.NAME.function(...)`; every such call is
//! judged by the gate as `tools.NAME.function`, and every call a tool makes to a
//! host interface is judged under the tool's own identity.
//!
//! Threat model: a tool is third-party code. It is loaded only when policy names
//! it and its bytes match the pinned hash, it may import only what its table
//! grants, it runs in a fresh instance per call with its own time and memory
//! limits, and a crash or timeout is a `ToolError` for the script, never a crash
//! of the host.

pub mod load;
pub mod scaffold;
pub mod signature;
pub mod tool;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use wasmtime::{Config, Engine};

use crate::gate::Implementations;
use crate::policy::Policy;
use crate::sandbox::EpochTicker;
pub use load::{Found, Refusal};
pub use tool::Tool;

/// The loaded tools and the ones that were refused, with why.
pub struct Toolbox {
    pub tools: Vec<Arc<Tool>>,
    pub refused: Vec<Refusal>,
    /// Every component found on disk, loaded or not.
    pub found: Vec<Found>,
    _ticker: Option<EpochTicker>,
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toolbox")
            .field("tools", &self.tools)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// The engine tool components run on: like the sandbox's (epochs, a bounded
/// stack) but allocating on demand, since tools vary widely in size.
fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(1024 * 1024)
        .async_stack_size(2 * 1024 * 1024);
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the tools' wasmtime engine")
}

impl Toolbox {
    /// No tools.
    pub fn empty() -> Self {
        Self {
            tools: Vec::new(),
            refused: Vec::new(),
            found: Vec::new(),
            _ticker: None,
        }
    }

    /// Finds the components in `dirs` and loads those `policy` names, pinned and
    /// with granted imports only. `host` is what the tools' own calls may reach.
    /// Finds the components in `dirs` and admits those `policy` names, compiling
    /// each through the precompiled-component cache in `cache_dir` when given.
    pub fn load(
        policy: &Policy,
        dirs: &[PathBuf],
        host: &Implementations,
        cache_dir: Option<&Path>,
    ) -> Result<Self> {
        let found = load::discover(dirs);
        let mut refused = Vec::new();
        for f in &found {
            if !policy.tools().contains_key(&f.name) {
                refused.push(Refusal::NotInPolicy {
                    name: f.name.clone(),
                    path: f.path.display().to_string(),
                    sha256: std::fs::read(&f.path)
                        .map(|b| crate::sha256_hex(&b))
                        .unwrap_or_else(|e| format!("<unreadable: {e}>")),
                });
            }
        }
        if policy.tools().is_empty() {
            return Ok(Self {
                refused,
                found,
                ..Self::empty()
            });
        }
        let engine = engine()?;
        let host = Arc::new(host.clone());
        let mut tools = Vec::new();
        for settings in policy.tools().values() {
            let path = match &settings.component {
                Some(path) if path.is_relative() => policy
                    .base_dir()
                    .map_or_else(|| path.clone(), |base| base.join(path)),
                Some(path) => path.clone(),
                None => match found.iter().find(|f| f.name == settings.name) {
                    Some(f) => f.path.clone(),
                    None => {
                        refused.push(Refusal::Missing {
                            name: settings.name.clone(),
                            line: settings.line,
                            looked: dirs
                                .iter()
                                .map(|d| d.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                        continue;
                    }
                },
            };
            match admit(settings, &path, &engine, &host, cache_dir) {
                Ok(tool) => tools.push(Arc::new(tool)),
                Err(refusal) => refused.push(refusal),
            }
        }
        Ok(Self {
            tools,
            refused,
            found,
            _ticker: Some(EpochTicker::start(&engine)),
        })
    }

    /// Adds the loaded tools to `implementations` (as `tools.NAME`).
    pub fn register(&self, implementations: &mut Implementations) {
        for tool in &self.tools {
            implementations.insert_tool(Arc::clone(tool));
        }
    }

    /// Refusals of tools the policy names (a component policy does not name is
    /// only listed by `clambot tools list`, not warned about).
    pub fn named_refusals(&self) -> impl Iterator<Item = &Refusal> {
        self.refused
            .iter()
            .filter(|r| !matches!(r, Refusal::NotInPolicy { .. }))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Tool>> {
        self.tools.iter().find(|t| t.name() == name)
    }
}

/// Pin, compile, import check, link.
fn admit(
    settings: &crate::policy::ToolSettings,
    path: &Path,
    engine: &Engine,
    host: &Arc<Implementations>,
    cache_dir: Option<&Path>,
) -> Result<Tool, Refusal> {
    let unusable = |reason: String| Refusal::Unusable {
        name: settings.name.clone(),
        path: path.display().to_string(),
        reason,
    };
    let bytes = load::pinned_bytes(settings, path)?;
    let sha256 = crate::sha256_hex(&bytes);
    let what = format!("tool-{}", settings.name);
    let (component, _) = crate::sandbox::cache::load(engine, &what, &bytes, &sha256, cache_dir)
        .map_err(|e| unusable(format!("{e:#}")))?;
    load::check_imports(settings, path, &component, engine)?;
    Tool::link(
        settings.clone(),
        sha256,
        path,
        &component,
        engine,
        Arc::clone(host),
    )
    .map_err(|e| unusable(format!("{e:#}")))
}

/// `count-words` → `countWords`, as the JS API spells WIT names.
pub fn camel_case(wit_name: &str) -> String {
    let mut out = String::with_capacity(wit_name.len());
    let mut upper = false;
    for c in wit_name.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::camel_case;

    #[test]
    fn wit_names_become_camel_case() {
        assert_eq!(camel_case("count-words"), "countWords");
        assert_eq!(camel_case("slugify"), "slugify");
        assert_eq!(camel_case("a-b-c"), "aBC");
    }
}

//! The precompiled-component cache, for the guest and for tool components.
//! Compiling the 1.2 MB guest with Cranelift takes about a second (an 18 MB
//! Python tool, about ten); loading the precompiled `.cwasm` takes milliseconds.
//! Entries are keyed by the component's SHA-256 and the engine's compatibility
//! hash, so a new component or a new wasmtime never loads a stale artefact.

use std::hash::{Hash, Hasher};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How the component was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Loaded from the cache.
    Hit(PathBuf),
    /// Compiled and stored in the cache.
    Stored(PathBuf),
    /// Compiled, but the cache could not be used (the reason is kept).
    Unavailable(String),
    /// No cache directory was configured.
    Disabled,
}

/// Whether a cache miss announces itself on stderr (see [`announce_compiles`]).
static ANNOUNCE: AtomicBool = AtomicBool::new(false);

/// Makes every cache miss print one line on stderr before compiling
/// ("clambot: compiling the sandbox (first run, once)…"), when stderr is a
/// terminal: a person waiting seconds for the first run is told why, and
/// scripts and logs reading stderr never see it. The `clambot` binary turns it
/// on; the library stays silent unless asked. A warm cache prints nothing.
pub fn announce_compiles() {
    ANNOUNCE.store(true, Ordering::Relaxed);
}

fn announce(what: &str) {
    if ANNOUNCE.load(Ordering::Relaxed) && std::io::stderr().is_terminal() {
        eprintln!("{}", announcement(what));
    }
}

/// The line a cache miss of `what` prints.
fn announcement(what: &str) -> String {
    match what.strip_prefix("tool-") {
        Some(tool) => format!("clambot: compiling the tool `{tool}` (first use, once)…"),
        None if what == "guest" => "clambot: compiling the sandbox (first run, once)…".to_owned(),
        None => format!("clambot: compiling the {what} component (first use, once)…"),
    }
}

fn cache_path(dir: &Path, engine: &Engine, what: &str, component_hash: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    let engine_hash = hasher.finish();
    dir.join(format!(
        "{}-{}-{engine_hash:016x}.cwasm",
        what.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        &component_hash[..16]
    ))
}

/// Loads `bytes` (whose SHA-256 is `hash`) as a component, through the cache in
/// `dir` when given. `what` names it in file names and errors ("guest",
/// "tool-textkit").
pub fn load(
    engine: &Engine,
    what: &str,
    bytes: &[u8],
    hash: &str,
    dir: Option<&Path>,
) -> Result<(Component, CacheStatus)> {
    let Some(dir) = dir else {
        let component = Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling the {what} component"))?;
        return Ok((component, CacheStatus::Disabled));
    };
    let path = cache_path(dir, engine, what, hash);
    // Read, not mmapped: a mapped file truncated by someone else would crash the
    // process with SIGBUS; a read copy cannot change under us.
    if let Ok(cached) = std::fs::read(&path) {
        // SAFETY: the file is one this code wrote with `precompile_component` for an
        // engine with the same compatibility hash (it is in the name); it lives in the
        // user's own cache directory, which is as trusted as the binary itself, and
        // wasmtime checks its header and compatibility before using it.
        #[expect(
            unsafe_code,
            reason = "loading a precompiled artefact clambot wrote itself"
        )]
        let loaded = unsafe { Component::deserialize(engine, &cached) };
        if let Ok(component) = loaded {
            return Ok((component, CacheStatus::Hit(path)));
        }
        // A corrupt or truncated entry is replaced below.
    }
    announce(what);
    let precompiled = engine
        .precompile_component(bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling the {what} component"))?;
    // SAFETY: the bytes come from `precompile_component` on this very engine.
    #[expect(
        unsafe_code,
        reason = "loading what precompile_component just produced"
    )]
    let component = unsafe { Component::deserialize(engine, &precompiled) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading the compiled {what} component"))?;
    let status = match store(dir, &path, &precompiled) {
        Ok(()) => CacheStatus::Stored(path),
        Err(e) => CacheStatus::Unavailable(format!("{e:#}")),
    };
    Ok((component, status))
}

/// Writes atomically, so a concurrent reader never sees half a file.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::atomic::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_miss_names_what_is_compiled() {
        assert_eq!(
            announcement("guest"),
            "clambot: compiling the sandbox (first run, once)…"
        );
        assert_eq!(
            announcement("tool-csvstats"),
            "clambot: compiling the tool `csvstats` (first use, once)…"
        );
    }
}

//! Tool components, in whichever language a directory holds:
//! - `Cargo.toml` and `tool.js`: JavaScript on QuickJS ([`crate::quickjs`]);
//! - `Cargo.toml`: Rust, where the Rust linker makes the component;
//! - `app.py`: Python, made by componentize-py.
//!
//! Each builds into `DIR/NAME.wasm`, the same bytes wherever it is built.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::quickjs::{build_quickjs_component, remap_flags};

/// Where tool components live: `tools/NAME/` (the examples) and
/// `host/tests/fixtures/NAME/` (components the tests need, such as one with a
/// forbidden import).
const TOOL_PARENTS: &[&str] = &["tools", "host/tests/fixtures"];

/// The componentize-py release the Python tools are built with; scripts/
/// install-tool-toolchain.sh installs the same one.
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// Every tool directory of the repository, sorted.
pub fn tool_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for parent in TOOL_PARENTS {
        let entries =
            std::fs::read_dir(root.join(parent)).with_context(|| format!("reading {parent}/"))?;
        dirs.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").is_file() || p.join("app.py").is_file()),
        );
    }
    dirs.sort();
    Ok(dirs)
}

/// Builds the tool in `dir`; returns where its component belongs and its bytes.
pub fn build_tool(root: &Path, dir: &Path) -> Result<(PathBuf, Vec<u8>)> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("a tool directory's name is UTF-8")?
        .to_owned();
    let artifact = name.replace('-', "_");
    let component = if dir.join("Cargo.toml").is_file() && dir.join("tool.js").is_file() {
        build_quickjs_component(root, dir, &artifact)?
    } else if dir.join("Cargo.toml").is_file() {
        build_rust(root, dir, &artifact)?
    } else if dir.join("app.py").is_file() {
        build_python(dir, &name)?
    } else {
        bail!(
            "{} holds no tool source (Cargo.toml, Cargo.toml + tool.js, or app.py)",
            dir.display()
        );
    };
    Ok((dir.join(format!("{name}.wasm")), component))
}

/// A Rust tool: `cargo build` for `wasm32-wasip2`, with the lock file when there is one.
fn build_rust(root: &Path, dir: &Path, artifact: &str) -> Result<Vec<u8>> {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "--release", "--target", "wasm32-wasip2"]);
    if dir.join("Cargo.lock").is_file() {
        cargo.arg("--locked");
    }
    let status = cargo
        .arg("--target-dir")
        .arg(dir.join("target"))
        .current_dir(dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", remap_flags(root))
        .env("SOURCE_DATE_EPOCH", "0")
        .status()
        .with_context(|| format!("running cargo for {}", dir.display()))?;
    if !status.success() {
        bail!("building {} failed ({status})", dir.display());
    }
    let artifact = dir
        .join("target/wasm32-wasip2/release")
        .join(format!("{artifact}.wasm"));
    std::fs::read(&artifact).with_context(|| format!("reading {}", artifact.display()))
}

/// A Python tool: componentize-py against `wit/`, world `NAME-tool`, module
/// `app`. `--stub-wasi` turns every WASI import into a trap, so the component
/// imports nothing (without it, it would import files and sockets, which the
/// loader refuses).
fn build_python(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let version = Command::new("componentize-py")
        .arg("--version")
        .output()
        .context("running componentize-py (install it with scripts/install-tool-toolchain.sh)")?;
    let version = String::from_utf8_lossy(&version.stdout);
    if !version.contains(COMPONENTIZE_PY) {
        bail!(
            "the Python tools are built with componentize-py {COMPONENTIZE_PY}, found `{}` \
             (scripts/install-tool-toolchain.sh installs the right one)",
            version.trim()
        );
    }
    let out = dir.join("target");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let output = out.join(format!("{name}.wasm"));
    let status = Command::new("componentize-py")
        .args(["-d", "wit", "-w", &format!("{name}-tool"), "componentize"])
        .args(["--stub-wasi", "-p", ".", "app", "-o"])
        .arg(&output)
        .current_dir(dir)
        .envs(python_build_env())
        .status()
        .with_context(|| format!("running componentize-py for {}", dir.display()))?;
    if !status.success() {
        bail!("building {} failed ({status})", dir.display());
    }
    std::fs::read(&output).with_context(|| format!("reading {}", output.display()))
}

/// What keeps the host's own Python out of the build.
fn python_build_env() -> Vec<(&'static str, String)> {
    vec![
        ("PYTHONHASHSEED", "0".to_owned()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
        ("SOURCE_DATE_EPOCH", "0".to_owned()),
    ]
}

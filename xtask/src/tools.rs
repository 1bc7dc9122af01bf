//! Tool components, in whichever language a directory holds:
//! - `Cargo.toml` and `tool.js`: JavaScript on QuickJS ([`crate::quickjs`]);
//! - `Cargo.toml`: Rust, where the Rust linker makes the component;
//! - `app.py`: Python, made by componentize-py.
//!
//! Each builds into `DIR/NAME.wasm`, the same bytes wherever it is built.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::quickjs::{build_quickjs_component, cargo_build_wasm, remap_flags};

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
    cargo_build_wasm(
        dir,
        vec![
            (
                "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS".to_owned(),
                remap_flags(root),
            ),
            ("SOURCE_DATE_EPOCH".to_owned(), "0".to_owned()),
        ],
    )?;
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
    let componentize_py = componentize_py();
    let version = Command::new(&componentize_py)
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
    let status = Command::new(&componentize_py)
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

/// componentize-py on the PATH, or where a `pip install --user` puts it
/// (scripts/install-tool-toolchain.sh falls back to that on a system Python).
fn componentize_py() -> PathBuf {
    let user_install = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".local/bin/componentize-py"))
        .filter(|path| path.is_file());
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("componentize-py").is_file())
    });
    match user_install {
        Some(path) if !on_path => path,
        _ => PathBuf::from("componentize-py"),
    }
}

/// What keeps the host's own Python out of the build.
fn python_build_env() -> Vec<(&'static str, String)> {
    vec![
        ("PYTHONHASHSEED", "0".to_owned()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
        ("SOURCE_DATE_EPOCH", "0".to_owned()),
    ]
}

/// Whether a tool is built by componentize-py, whose output is not
/// byte-reproducible (see [`compare_python`]).
pub fn is_python(dir: &Path) -> bool {
    dir.join("app.py").is_file() && !dir.join("Cargo.toml").is_file()
}

/// componentize-py snapshots CPython's memory after running the app once, and
/// that snapshot varies from build to build (stack leftovers, allocator
/// slack, timestamps and thread timing); it also emits its WASI stub modules in
/// hash-map order (componentize-py issue #247; no release fixes either). So a
/// Python tool is checked for what can be checked:
/// - every core module in it (the interpreter, the bindings, the stubs) has
///   the same code, types, imports and exports as in a fresh build, whatever
///   their order; only the data segments holding the memory snapshot may differ;
/// - the component's WIT (what it imports and exports) is the same.
///
/// Returns what differs, or `None` when nothing but the snapshot and the order
/// does.
pub fn compare_python(committed: &[u8], fresh: &[u8]) -> Result<Option<String>> {
    let (mut ours, our_data) = modules_outside_snapshot(committed)?;
    let (mut theirs, their_data) = modules_outside_snapshot(fresh)?;
    ours.sort();
    theirs.sort();
    if ours != theirs {
        let only_ours = ours.iter().filter(|m| !theirs.contains(m)).count();
        return Ok(Some(format!(
            "{only_ours} of its {} core modules differ from a fresh build's outside the memory snapshot",
            ours.len()
        )));
    }
    let (our_wit, their_wit) = (component_wit(committed)?, component_wit(fresh)?);
    if our_wit != their_wit {
        return Ok(Some(
            "its WIT (imports and exports) differs from a fresh build's".to_owned(),
        ));
    }
    println!(
        "    {} core modules and the WIT identical; memory snapshot {our_data} bytes committed, {their_data} in the fresh build",
        ours.len()
    );
    Ok(None)
}

/// A core module in a form that does not depend on the order its functions and
/// exports were emitted in: its other sections (imports, tables, memories,
/// globals, custom sections …) byte for byte, the sorted (type, body) of every
/// function it defines, and its sorted exports with, for a function, that
/// function's type and body. The data sections (the memory snapshot) are left
/// out.
#[derive(Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct CanonicalModule {
    other_sections: Vec<(u8, Vec<u8>)>,
    functions: Vec<(String, Vec<u8>)>,
    exports: Vec<(String, String)>,
}

/// Collects one module's sections until its end.
#[derive(Default)]
struct ModuleParts {
    other_sections: Vec<(u8, Vec<u8>)>,
    types: Vec<String>,
    imported_functions: u32,
    function_types: Vec<u32>,
    bodies: Vec<Vec<u8>>,
    exports: Vec<(String, wasmparser::ExternalKind, u32)>,
}

impl ModuleParts {
    fn finish(self) -> CanonicalModule {
        let function = |index: u32| -> String {
            let Some(local) = index.checked_sub(self.imported_functions) else {
                return format!("imported function {index}");
            };
            let ty = self
                .function_types
                .get(local as usize)
                .and_then(|t| self.types.get(*t as usize))
                .cloned()
                .unwrap_or_default();
            let body = self.bodies.get(local as usize).cloned().unwrap_or_default();
            format!("{ty} {}", hex::encode(body))
        };
        let mut functions: Vec<(String, Vec<u8>)> = self
            .function_types
            .iter()
            .zip(&self.bodies)
            .map(|(t, body)| {
                (
                    self.types.get(*t as usize).cloned().unwrap_or_default(),
                    body.clone(),
                )
            })
            .collect();
        functions.sort();
        let mut exports: Vec<(String, String)> = self
            .exports
            .iter()
            .map(|(name, kind, index)| {
                let target = match kind {
                    wasmparser::ExternalKind::Func => function(*index),
                    other => format!("{other:?} {index}"),
                };
                (name.clone(), target)
            })
            .collect();
        exports.sort();
        CanonicalModule {
            other_sections: self.other_sections,
            functions,
            exports,
        }
    }
}

/// Each core module of a component in its canonical form, and the data
/// sections' total size.
fn modules_outside_snapshot(bytes: &[u8]) -> Result<(Vec<CanonicalModule>, usize)> {
    use wasmparser::{Encoding, Parser, Payload};
    let mut finished = Vec::new();
    // One entry per open module or component: `Some(parts)` for a module.
    let mut open: Vec<Option<ModuleParts>> = Vec::new();
    let mut data = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.context("parsing a tool component")?;
        if let Payload::Version { encoding, .. } = &payload {
            open.push(matches!(encoding, Encoding::Module).then(ModuleParts::default));
            continue;
        }
        if let Payload::End(_) = &payload {
            if let Some(Some(module)) = open.pop() {
                finished.push(module.finish());
            }
            continue;
        }
        let Some(Some(module)) = open.last_mut() else {
            continue;
        };
        match payload {
            Payload::DataSection(reader) => data += reader.range().len(),
            Payload::DataCountSection { .. } => {}
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    module
                        .types
                        .push(format!("{}", ty.context("a function type")?));
                }
            }
            Payload::ImportSection(reader) => {
                let range = reader.range();
                for import in reader.into_imports() {
                    if matches!(
                        import.context("an import")?.ty,
                        wasmparser::TypeRef::Func(_)
                    ) {
                        module.imported_functions += 1;
                    }
                }
                module.other_sections.push((2, bytes[range].to_vec()));
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    module.function_types.push(ty.context("a function's type")?);
                }
            }
            Payload::CodeSectionEntry(body) => {
                module.bodies.push(bytes[body.range()].to_vec());
            }
            Payload::CodeSectionStart { .. } => {}
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.context("an export")?;
                    module
                        .exports
                        .push((export.name.to_owned(), export.kind, export.index));
                }
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    module.other_sections.push((id, bytes[range].to_vec()));
                }
            }
        }
    }
    Ok((finished, data))
}

/// The component's world as WIT text.
fn component_wit(bytes: &[u8]) -> Result<String> {
    let decoded = wit_component::decode(bytes).context("decoding the component's WIT")?;
    let mut printer = wit_component::WitPrinter::default();
    printer
        .print(decoded.resolve(), decoded.package(), &[])
        .context("printing the component's WIT")?;
    Ok(printer.output.to_string())
}

//! Build helper for the sandbox guest.
//!
//! `cargo run -p xtask -- guest` compiles `guest-quickjs/` for `wasm32-wasip2` as a
//! core module, pre-initialises it (wizer: the QuickJS runtime and the JS prelude
//! are created once and their memory becomes the module's starting state), encodes
//! it as a component and writes `guest-quickjs/dist/clambot-guest.wasm`.
//! `cargo run -p xtask -- guest --check` does the same into a scratch file and fails
//! when the bytes differ from the committed component (the reproducibility check).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Linker, Module, Store, Val, ValType};

/// Where the committed component lives, relative to the repository root.
const DIST: &str = "guest-quickjs/dist/clambot-guest.wasm";

/// The C toolchain for QuickJS on this Debian: clang 14 does not know the
/// `wasm32-wasip2` triple, so it compiles for `wasm32-wasi` against Debian's
/// wasi-libc headers (`apt-get install clang-14 llvm-14 wasi-libc`).
fn guest_build_env(root: &Path) -> Vec<(String, String)> {
    let root = root.display().to_string();
    let cargo_home = std::env::var("CARGO_HOME")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cargo")))
        .unwrap_or_default();
    let remap = remap_flags(Path::new(&root));
    [
        ("RQUICKJS_SYS_NO_WASI_SDK", "1".to_owned()),
        ("CC_wasm32_wasip2", "clang-14".to_owned()),
        ("AR_wasm32_wasip2", "llvm-ar-14".to_owned()),
        (
            "CFLAGS_wasm32_wasip2",
            format!(
                "--target=wasm32-wasi -ffile-prefix-map={root}=/clambot -ffile-prefix-map={cargo_home}=/cargo"
            ),
        ),
        ("BINDGEN_EXTRA_CLANG_ARGS_wasm32_wasip2", "--target=wasm32-wasi".to_owned()),
        (
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            format!("-Clink-arg=--skip-wit-component {remap}"),
        ),
        ("SOURCE_DATE_EPOCH", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repository_root()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["guest"] => {
            let component = build_guest(&root)?;
            let dist = root.join(DIST);
            std::fs::create_dir_all(dist.parent().expect("dist has a parent"))?;
            std::fs::write(&dist, &component)?;
            println!(
                "wrote {} ({} bytes, sha256 {})",
                DIST,
                component.len(),
                sha256(&component)
            );
            Ok(())
        }
        ["guest", "--check"] => {
            let component = build_guest(&root)?;
            let committed = std::fs::read(root.join(DIST))
                .with_context(|| format!("reading the committed {DIST}"))?;
            if committed != component {
                bail!(
                    "the committed {DIST} (sha256 {}) differs from a fresh build (sha256 {}): \
                     run `just guest` and commit the result",
                    sha256(&committed),
                    sha256(&component)
                );
            }
            println!("{DIST} is reproducible (sha256 {})", sha256(&component));
            Ok(())
        }
        ["tools"] => {
            for (dist, component) in build_tools(&root)? {
                std::fs::write(&dist, &component)?;
                println!(
                    "wrote {} ({} bytes, sha256 {})",
                    dist.display(),
                    component.len(),
                    sha256(&component)
                );
            }
            Ok(())
        }
        ["tools", "--check"] => {
            let mut stale = Vec::new();
            for (dist, component) in build_tools(&root)? {
                let shown = dist
                    .strip_prefix(&root)
                    .unwrap_or(&dist)
                    .display()
                    .to_string();
                let committed = std::fs::read(&dist)
                    .with_context(|| format!("reading the committed {}", dist.display()))?;
                if committed == component {
                    println!("{shown} is reproducible (sha256 {})", sha256(&component));
                } else {
                    stale.push(format!(
                        "{shown} (committed sha256 {}, fresh build {})",
                        sha256(&committed),
                        sha256(&component)
                    ));
                }
            }
            if !stale.is_empty() {
                bail!(
                    "these committed tool components differ from a fresh build (run `just tools`, \
                     commit, and update their pins in policy files): {}",
                    stale.join("; ")
                );
            }
            Ok(())
        }
        _ => bail!("usage: cargo run -p xtask -- guest|tools [--check]"),
    }
}

/// Where Rust tool components are: `tools/NAME/` (the examples) and
/// `host/tests/fixtures/NAME/` (components the tests need, such as one with a
/// forbidden import). Each directory with a `Cargo.toml` is built into its own
/// `NAME.wasm`.
const TOOL_PARENTS: &[&str] = &["tools", "host/tests/fixtures"];

/// Builds every Rust tool component for `wasm32-wasip2`, letting the Rust linker
/// make the component. Returns (where its committed copy lives, bytes).
fn build_tools(root: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut dirs = Vec::new();
    for parent in TOOL_PARENTS {
        let entries =
            std::fs::read_dir(root.join(parent)).with_context(|| format!("reading {parent}/"))?;
        dirs.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").is_file()),
        );
    }
    dirs.sort();
    let remap = remap_flags(root);
    let mut built = Vec::new();
    for dir in dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("a tool directory's name is UTF-8")?
            .to_owned();
        let artifact = name.replace('-', "_");
        if dir.join("tool.js").is_file() {
            // A JavaScript tool: QuickJS, pre-initialised with its source.
            let component = build_quickjs_component(root, &dir, &artifact)?;
            built.push((dir.join(format!("{name}.wasm")), component));
            continue;
        }
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(dir.join("target"))
            .current_dir(&dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .env("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", &remap)
            .env("SOURCE_DATE_EPOCH", "0")
            .status()
            .with_context(|| format!("running cargo for {}", dir.display()))?;
        if !status.success() {
            bail!("building {} failed ({status})", dir.display());
        }
        let artifact = dir
            .join("target/wasm32-wasip2/release")
            .join(format!("{artifact}.wasm"));
        let component =
            std::fs::read(&artifact).with_context(|| format!("reading {}", artifact.display()))?;
        built.push((dir.join(format!("{name}.wasm")), component));
    }
    Ok(built)
}

/// Path remapping keeps the build's own location out of the bytes, so a checkout
/// anywhere gives the same component.
fn remap_flags(root: &Path) -> String {
    let cargo_home = std::env::var("CARGO_HOME")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cargo")))
        .unwrap_or_default();
    format!(
        "--remap-path-prefix={}=/clambot --remap-path-prefix={cargo_home}=/cargo",
        root.display()
    )
}

fn repository_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest
        .parent()
        .context("xtask lives in the repository")?
        .to_path_buf())
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compiles, pre-initialises and componentises the guest; returns the component.
fn build_guest(root: &Path) -> Result<Vec<u8>> {
    build_quickjs_component(root, &root.join("guest-quickjs"), "clambot_guest")
}

/// Builds a crate on Javy's QuickJS runtime (the guest, or a JavaScript tool):
/// compiled for `wasm32-wasip2` as a core module, pre-initialised (its
/// `wizer-initialize` runs once and the memory becomes the starting state) and
/// encoded as a component. `artifact` is the crate's library name.
fn build_quickjs_component(root: &Path, dir: &Path, artifact: &str) -> Result<Vec<u8>> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(dir.join("target"))
        .current_dir(dir)
        // The caller's flags and target directory must not change the bytes
        // (RUSTFLAGS would even replace the target-specific flags below).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .envs(guest_build_env(root))
        .status()
        .with_context(|| format!("running cargo for {}", dir.display()))?;
    if !status.success() {
        bail!("building {} failed ({status})", dir.display());
    }
    let core_path = dir
        .join("target/wasm32-wasip2/release")
        .join(format!("{artifact}.wasm"));
    let core = std::fs::read(&core_path)
        .with_context(|| format!("reading the core module {}", core_path.display()))?;
    let initialised = preinitialise(&core)?;
    wit_component::ComponentEncoder::default()
        .module(&initialised)
        .context("reading the pre-initialised module")?
        .validate(true)
        .encode()
        .with_context(|| format!("encoding {} as a component", dir.display()))
}

/// Runs the guest's `wizer-initialize` and snapshots its memory. The only imports
/// initialisation may call are the random seed and the clocks; they return fixed
/// values so nothing of this machine lands in the snapshot. Any other import traps.
fn preinitialise(core: &[u8]) -> Result<Vec<u8>> {
    let config = Config::new();
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    let mut store = Store::new(&engine, ());
    let wizer = wasmtime_wizer::Wizer::new();
    let runtime = tokio_like_block_on(async {
        wizer
            .run(
                &mut store,
                core,
                async |store: &mut Store<()>, module: &Module| {
                    let mut linker = Linker::new(store.engine());
                    define_fixed_imports(&mut linker, module)?;
                    linker.instantiate_async(store, module).await
                },
            )
            .await
    });
    runtime.map_err(|e| anyhow::anyhow!("pre-initialising: {e:?}"))
}

fn define_fixed_imports(linker: &mut Linker<()>, module: &Module) -> wasmtime::Result<()> {
    for import in module.imports() {
        let Some(ty) = import.ty().func().cloned() else {
            continue;
        };
        let (module_name, name) = (import.module().to_owned(), import.name().to_owned());
        let fixed = module_name.starts_with("wasi:random/insecure-seed")
            || module_name.starts_with("wasi:clocks/");
        linker.func_new(
            &module_name.clone(),
            &name.clone(),
            ty.clone(),
            move |mut caller, params, results| {
                if !fixed {
                    wasmtime::bail!(
                        "pre-initialisation called {module_name}#{name}, which has no fixed value"
                    );
                }
                // Results that do not fit in registers are written through a return pointer.
                if let [Val::I32(ret)] = params {
                    let memory = caller
                        .get_export("memory")
                        .and_then(|e| e.into_memory())
                        .ok_or_else(|| wasmtime::format_err!("guest exports no memory"))?;
                    let zeros = [0u8; 16];
                    memory.write(&mut caller, *ret as u32 as usize, &zeros)?;
                }
                for (slot, ty) in results.iter_mut().zip(ty.results()) {
                    *slot = match ty {
                        ValType::I32 => Val::I32(0),
                        ValType::I64 => Val::I64(0),
                        other => wasmtime::bail!("unexpected result type {other}"),
                    };
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// Drives a future that never waits on I/O (wasmtime's async calls on a local
/// store complete without a reactor).
fn tokio_like_block_on<F: Future>(future: F) -> F::Output {
    use std::task::{Context as TaskContext, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

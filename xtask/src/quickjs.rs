//! The QuickJS pipeline shared by the sandbox guest and JavaScript tools: a crate
//! on Javy's runtime compiled for `wasm32-wasip2` as a core module, pre-initialised
//! (wizer: its `wizer-initialize` runs once and the memory becomes the starting
//! state) and encoded as a component. Every step is deterministic, so a checkout
//! anywhere gives the same bytes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use wasmtime::{Config, Engine, Linker, Module, Store, Val, ValType};

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

/// Path remapping keeps the build's own location out of the bytes, so a checkout
/// anywhere gives the same component.
pub fn remap_flags(root: &Path) -> String {
    let cargo_home = std::env::var("CARGO_HOME")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cargo")))
        .unwrap_or_default();
    format!(
        "--remap-path-prefix={}=/clambot --remap-path-prefix={cargo_home}=/cargo",
        root.display()
    )
}

/// `cargo build --release` for `wasm32-wasip2` in `dir`, locked when it has a
/// lock file (a new tool from `clambot tools new` has none until its first
/// build), into `dir/target`, with `envs`. The caller's flags and target
/// directory must not change the bytes (RUSTFLAGS would even replace the
/// target-specific flags in `envs`).
pub fn cargo_build_wasm(dir: &Path, envs: Vec<(String, String)>) -> Result<()> {
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
        .envs(envs)
        .status()
        .with_context(|| format!("running cargo for {}", dir.display()))?;
    if !status.success() {
        bail!("building {} failed ({status})", dir.display());
    }
    Ok(())
}

/// Compiles, pre-initialises and componentises the guest; returns the component.
pub fn build_guest(root: &Path) -> Result<Vec<u8>> {
    build_quickjs_component(root, &root.join("guest-quickjs"), "clambot_guest")
}

/// Builds a crate on Javy's QuickJS runtime (the guest, or a JavaScript tool):
/// compiled for `wasm32-wasip2` as a core module, pre-initialised (its
/// `wizer-initialize` runs once and the memory becomes the starting state) and
/// encoded as a component. `artifact` is the crate's library name.
pub fn build_quickjs_component(root: &Path, dir: &Path, artifact: &str) -> Result<Vec<u8>> {
    cargo_build_wasm(dir, guest_build_env(root))?;
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

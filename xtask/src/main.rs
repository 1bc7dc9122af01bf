//! Build helper: the sandbox guest and the tool components.
//!
//! - `guest [--check]`: compiles `guest-quickjs/`, pre-initialises it and encodes
//!   it as a component into `guest-quickjs/dist/clambot-guest.wasm`; `--check`
//!   fails when a fresh build differs from the committed bytes.
//! - `tools [--check]`: the same for every tool component in `tools/` and the
//!   test fixtures (Rust, JavaScript and Python; see [`tools`]).
//! - `tool DIR`: builds one tool directory (e.g. one `clambot tools new` wrote)
//!   and prints its sha256 for the policy.
//! - `scaffold-check`: scaffolds, builds, loads and calls a new tool in each
//!   language through the real `clambot` binary.

mod quickjs;
mod scaffold_check;
mod tools;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Where the committed component lives, relative to the repository root.
const DIST: &str = "guest-quickjs/dist/clambot-guest.wasm";

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
            let component = quickjs::build_guest(&root)?;
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
            let component = quickjs::build_guest(&root)?;
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
            for dir in tools::tool_dirs(&root)? {
                let (dist, component) = tools::build_tool(&root, &dir)?;
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
            for dir in tools::tool_dirs(&root)? {
                let (dist, component) = tools::build_tool(&root, &dir)?;
                let shown = dist
                    .strip_prefix(&root)
                    .unwrap_or(&dist)
                    .display()
                    .to_string();
                let committed = std::fs::read(&dist)
                    .with_context(|| format!("reading the committed {}", dist.display()))?;
                if committed == component {
                    println!("{shown} is reproducible (sha256 {})", sha256(&component));
                } else if tools::is_python(&dir) {
                    match tools::compare_python(&committed, &component)? {
                        None => println!(
                            "{shown}: a fresh build matches outside the memory snapshot \
                             (componentize-py is not byte-reproducible; committed sha256 {})",
                            sha256(&committed)
                        ),
                        Some(difference) => stale.push(format!("{shown}: {difference}")),
                    }
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
        ["tool", dir] => {
            let dir = std::path::absolute(dir).with_context(|| format!("resolving {dir}"))?;
            let (dist, component) = tools::build_tool(&root, &dir)?;
            std::fs::write(&dist, &component)
                .with_context(|| format!("writing {}", dist.display()))?;
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("NAME");
            println!(
                "wrote {} ({} bytes)\n\nPin it in policy.toml:\n\n[tools.{name}]\nsha256 = \"{}\"",
                dist.display(),
                component.len(),
                sha256(&component)
            );
            Ok(())
        }
        ["scaffold-check"] => scaffold_check::run(&root),
        _ => bail!(
            "usage: cargo run -p xtask -- guest [--check] | tools [--check] | tool DIR | scaffold-check"
        ),
    }
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

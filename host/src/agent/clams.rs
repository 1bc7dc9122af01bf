//! Saved clams: reviewed, reusable scripts, each a directory with `clam.js` and
//! `clam.toml`. The agent saves what it accepted under `$CLAMBOT_HOME/clams/`
//! (outside the workspace, so no script's fs calls can rewrite a clam that will
//! run again); read-only directories (e.g. a project's `clams/`) can be added.
//!
//! A clam's `sha256` pins its script: a `clam.js` edited behind the toml's back
//! is refused, not run. Names never collide silently: a new clam whose name is
//! taken gets a suffix; only a fix of the same clam bumps its version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::normalize::normalize_request;
use crate::sha256_hex;

/// `clam.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClamMeta {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// The requests this clam answers (matched after normalisation).
    #[serde(default)]
    pub source_requests: Vec<String>,
    /// SHA-256 of `clam.js`; when present, a script that differs is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The host functions its accepted runs called (`interface.function`).
    #[serde(default)]
    pub calls: Vec<String>,
    /// What each argument means, for people and for the model.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// The arguments of the request it was made for, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub failures: u64,
}

impl ClamMeta {
    /// The stored inputs, or `{}`.
    pub fn inputs(&self) -> Json {
        self.inputs
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_else(|| Json::Object(Default::default()))
    }
}

/// A clam read from disk.
#[derive(Debug, Clone)]
pub struct Clam {
    pub meta: ClamMeta,
    pub script: String,
    pub dir: PathBuf,
    /// Whether the agent may update it (it lives in the save directory).
    pub writable: bool,
}

/// What the agent asks to save.
#[derive(Debug, Clone)]
pub struct NewClam<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub request: &'a str,
    pub script: &'a str,
    pub inputs: &'a Json,
    pub calls: Vec<String>,
    /// Set when this is a fix of that saved clam (same name, next version).
    pub replaces: Option<&'a str>,
}

/// The clam directories.
#[derive(Debug, Clone)]
pub struct ClamStore {
    save_dir: PathBuf,
    read_only: Vec<PathBuf>,
}

/// The longest clam name.
const MAX_NAME: usize = 60;

/// A file-system-safe clam name: lowercase ASCII letters, digits and single
/// dashes, at most 60 characters; `clam` if nothing is left.
pub fn clam_name(text: &str) -> String {
    let mut name = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
        if name.len() >= MAX_NAME {
            break;
        }
    }
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() { "clam".into() } else { name }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl ClamStore {
    pub fn new(save_dir: PathBuf, read_only: Vec<PathBuf>) -> Self {
        Self {
            save_dir,
            read_only,
        }
    }

    pub fn save_dir(&self) -> &Path {
        &self.save_dir
    }

    /// Every clam, saved ones first; a saved clam hides a read-only one of the
    /// same name. Clams that cannot be read are returned as errors, by path.
    pub fn list(&self) -> (Vec<Clam>, Vec<String>) {
        let mut clams: Vec<Clam> = Vec::new();
        let mut problems = Vec::new();
        let dirs = std::iter::once((&self.save_dir, true))
            .chain(self.read_only.iter().map(|d| (d, false)));
        for (dir, writable) in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("clam.toml").is_file())
                .collect();
            paths.sort();
            for path in paths {
                match read_clam(&path, writable) {
                    Ok(clam) if clams.iter().any(|c| c.meta.name == clam.meta.name) => {}
                    Ok(clam) => clams.push(clam),
                    Err(error) => problems.push(format!("{}: {error:#}", path.display())),
                }
            }
        }
        (clams, problems)
    }

    /// The clam called `name`.
    pub fn get(&self, name: &str) -> Result<Clam> {
        let (clams, problems) = self.list();
        if let Some(clam) = clams.into_iter().find(|c| c.meta.name == name) {
            return Ok(clam);
        }
        if let Some(problem) = problems.iter().find(|p| p.contains(&format!("/{name}:"))) {
            bail!("the clam {name:?} cannot be used: {problem}");
        }
        bail!("there is no clam named {name:?}")
    }

    /// The clam saved for a request equal to `request` after normalisation.
    pub fn find_by_request(&self, request: &str) -> Option<Clam> {
        let key = normalize_request(request);
        if key.is_empty() {
            return None;
        }
        self.list().0.into_iter().find(|clam| {
            clam.meta
                .source_requests
                .iter()
                .any(|r| normalize_request(r) == key)
        })
    }

    /// Saves an accepted script and returns it as stored.
    pub fn save(&self, new: &NewClam<'_>) -> Result<Clam> {
        crate::atomic::create_private_dir(&self.save_dir)?;
        let sha256 = sha256_hex(new.script.as_bytes());
        let existing = match new.replaces {
            Some(name) => Some(self.get(name)?).filter(|c| c.writable),
            None => None,
        };
        let mut meta = match existing {
            Some(clam) => {
                let mut meta = clam.meta;
                if meta.sha256.as_deref() != Some(&sha256) {
                    meta.version += 1;
                }
                meta.updated = Some(now_rfc3339());
                meta
            }
            None => ClamMeta {
                name: self.free_name(&clam_name(new.name)),
                version: 1,
                description: new.description.trim().to_owned(),
                source_requests: Vec::new(),
                sha256: None,
                calls: Vec::new(),
                args: BTreeMap::new(),
                inputs: None,
                created: now_rfc3339(),
                updated: None,
                runs: 0,
                failures: 0,
            },
        };
        let request = new.request.trim();
        if !request.is_empty()
            && !meta
                .source_requests
                .iter()
                .any(|r| normalize_request(r) == normalize_request(request))
        {
            meta.source_requests.push(request.to_owned());
        }
        meta.sha256 = Some(sha256);
        for call in &new.calls {
            if !meta.calls.contains(call) {
                meta.calls.push(call.clone());
            }
        }
        meta.calls.sort();
        if let Json::Object(args) = new.inputs {
            for key in args.keys() {
                meta.args
                    .entry(key.clone())
                    .or_insert_with(|| "see the script".into());
            }
        }
        meta.inputs = Some(new.inputs.to_string());
        meta.runs += 1;
        let dir = self.save_dir.join(&meta.name);
        write_clam(&dir, &meta, new.script)?;
        Ok(Clam {
            meta,
            script: new.script.to_owned(),
            dir,
            writable: true,
        })
    }

    /// Counts a run of a saved clam (read-only clams are not counted).
    pub fn record_run(&self, clam: &Clam, ok: bool) -> Result<()> {
        if !clam.writable {
            return Ok(());
        }
        let mut meta = read_meta(&clam.dir)?;
        if ok {
            meta.runs += 1;
        } else {
            meta.failures += 1;
        }
        crate::atomic::write(&clam.dir.join("clam.toml"), render(&meta)?.as_bytes())
    }

    /// Deletes a saved clam.
    pub fn remove(&self, name: &str) -> Result<()> {
        let clam = self.get(name)?;
        if !clam.writable {
            bail!(
                "the clam {name:?} is in {}, which clambot does not write to; remove it there",
                clam.dir.display()
            );
        }
        std::fs::remove_dir_all(&clam.dir)
            .with_context(|| format!("removing {}", clam.dir.display()))
    }

    /// `name`, or `name-2`, `name-3`, … — the first no clam has.
    fn free_name(&self, name: &str) -> String {
        let (clams, _) = self.list();
        let taken =
            |n: &str| clams.iter().any(|c| c.meta.name == n) || self.save_dir.join(n).exists();
        if !taken(name) {
            return name.to_owned();
        }
        (2..)
            .map(|i| format!("{name}-{i}"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| name.to_owned())
    }
}

fn render(meta: &ClamMeta) -> Result<String> {
    toml::to_string(meta).context("writing clam.toml")
}

fn read_meta(dir: &Path) -> Result<ClamMeta> {
    let path = dir.join("clam.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn read_clam(dir: &Path, writable: bool) -> Result<Clam> {
    let meta = read_meta(dir)?;
    let script_path = dir.join("clam.js");
    let script = std::fs::read_to_string(&script_path)
        .with_context(|| format!("reading {}", script_path.display()))?;
    if let Some(pinned) = &meta.sha256 {
        let actual = sha256_hex(script.as_bytes());
        if &actual != pinned {
            bail!(
                "clam.js does not match its pin (clam.toml sha256 {pinned}, clam.js {actual}); \
                 it changed since it was saved, so it will not run"
            );
        }
    }
    Ok(Clam {
        meta,
        script,
        dir: dir.to_owned(),
        writable,
    })
}

/// Writes the script first and the toml (with the pin) last: a crash between
/// the two leaves a pin that does not match, which is refused, never run.
fn write_clam(dir: &Path, meta: &ClamMeta, script: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::atomic::write(&dir.join("clam.js"), script.as_bytes())?;
    crate::atomic::write(&dir.join("clam.toml"), render(meta)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn new_clam<'a>(
        name: &'a str,
        request: &'a str,
        script: &'a str,
        inputs: &'a Json,
    ) -> NewClam<'a> {
        NewClam {
            name,
            description: "test clam",
            request,
            script,
            inputs,
            calls: vec!["http.fetch".into()],
            replaces: None,
        }
    }

    #[test]
    fn names_are_slugs() {
        assert_eq!(clam_name("BTC price, in EUR!"), "btc-price-in-eur");
        assert_eq!(clam_name("¿¿??"), "clam");
        assert!(clam_name(&"a".repeat(200)).len() <= 60);
    }

    #[test]
    fn save_find_version_and_collisions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ClamStore::new(dir.path().join("clams"), vec![]);
        let inputs = json!({"coin": "BTC"});
        let first = store
            .save(&new_clam(
                "price",
                "What's the BTC price?",
                "return 1",
                &inputs,
            ))
            .expect("save");
        assert_eq!((first.meta.name.as_str(), first.meta.version), ("price", 1));
        let found = store
            .find_by_request("what s the btc PRICE")
            .expect("found");
        assert_eq!(found.meta.inputs(), inputs);

        // Another clam wanting the same name gets its own.
        let other = store
            .save(&new_clam("price", "eth price", "return 2", &inputs))
            .expect("save");
        assert_eq!(other.meta.name, "price-2");

        // A fix of the first bumps its version and keeps its requests.
        let fixed = store
            .save(&NewClam {
                replaces: Some("price"),
                ..new_clam("price", "btc price now", "return 3", &inputs)
            })
            .expect("fix");
        assert_eq!((fixed.meta.name.as_str(), fixed.meta.version), ("price", 2));
        assert_eq!(fixed.meta.source_requests.len(), 2);
        assert_eq!(store.get("price").expect("get").script, "return 3");
    }

    #[test]
    fn a_tampered_script_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ClamStore::new(dir.path().to_owned(), vec![]);
        let clam = store
            .save(&new_clam("t", "tamper", "return 1", &json!({})))
            .expect("save");
        std::fs::write(clam.dir.join("clam.js"), "return 666").expect("tamper");
        let error = store.get("t").expect_err("refused").to_string();
        assert!(error.contains("does not match its pin"), "{error}");
        assert!(store.find_by_request("tamper").is_none());
    }

    #[test]
    fn read_only_clams_are_listed_not_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("hello")).expect("mkdir");
        std::fs::write(
            project.join("hello/clam.toml"),
            "name = \"hello\"\nversion = 1\ndescription = \"hi\"\nsource-requests = [\"say hello\"]\ncreated = \"2026-01-01T00:00:00Z\"\n",
        )
        .expect("toml");
        std::fs::write(project.join("hello/clam.js"), "return 'hi'").expect("js");
        let store = ClamStore::new(dir.path().join("saved"), vec![project]);
        let hello = store.find_by_request("Say hello!").expect("found");
        assert!(!hello.writable);
        assert!(store.remove("hello").is_err());
    }
}

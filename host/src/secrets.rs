//! The secrets store: named values a person sets from the host, kept in one
//! JSON file (0600, written atomically) under the data directory — outside the
//! workspace, so no fs call can name it.
//!
//! Scripts only ever see names. The http tool asks for a value after the gate
//! has allowed a call that names the secret (and the rule that allowed it lists
//! that secret), and the redactor is given every value so that an echo of one in
//! a response, an error, a log or an audit line is replaced. The file is read on
//! each use rather than cached, so `clambot secrets set` takes effect at once in
//! a running agent; it is refused if anyone but the owner can read it.
//! [`SecretStore::changes`] and [`SecretStore::stamp`] tell a live redactor
//! when to read it again, so a value set while a run is in progress is
//! redacted from then on.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Longest secret name.
pub const MAX_NAME_LEN: usize = 64;
/// Largest secret value.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

const FILE_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretFile {
    version: u32,
    secrets: BTreeMap<String, String>,
}

/// A secret value. Its `Debug` shows no value, so it cannot slip into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value, for the one place that needs it: the header sent on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

/// Where secret values live.
#[derive(Debug)]
pub struct SecretStore {
    backing: Backing,
    /// Bumped after every change made in this process: shared by every handle
    /// on the same file (and the in-memory store's stamp). A change by
    /// another process shows in the file's [`StoreStamp`] instead.
    generation: Arc<AtomicU64>,
}

/// The change counters of the files this process has opened, by path, so that
/// two handles on one file share theirs.
static GENERATIONS: LazyLock<Mutex<HashMap<PathBuf, Arc<AtomicU64>>>> =
    LazyLock::new(Default::default);

/// Makes each [`StoreStamp::Unreadable`] unlike every other.
static UNREADABLE: AtomicU64 = AtomicU64::new(0);

/// What a store looked like when it was read: if it still looks the same, its
/// values have not changed. For a file, its identity, size and times (a write
/// replaces it by rename, so the inode changes too); for memory, a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreStamp {
    Missing,
    File {
        dev: u64,
        ino: u64,
        len: u64,
        mtime_ns: i128,
        ctime_ns: i128,
    },
    /// The file could not be examined: never equal to a later look.
    Unreadable(u64),
    Memory(u64),
}

#[derive(Debug)]
enum Backing {
    File(PathBuf),
    Memory(Mutex<BTreeMap<String, String>>),
}

impl SecretStore {
    /// The store in `path` (which need not exist yet).
    pub fn open(path: &Path) -> Self {
        // Lexically absolute (no file system access), so `./x` and `/cwd/x` meet.
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let generation = Arc::clone(
            GENERATIONS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default(),
        );
        Self {
            backing: Backing::File(path.to_owned()),
            generation,
        }
    }

    /// A store that lives in memory only (tests).
    pub fn in_memory() -> Self {
        Self {
            backing: Backing::Memory(Mutex::new(BTreeMap::new())),
            generation: Arc::default(),
        }
    }

    /// How many changes this process has made to the store (no system call):
    /// a reader that saw the same count has seen every change made here.
    pub fn changes(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How the store looks now (one `stat`), so a reader can tell whether
    /// another process changed it.
    pub fn stamp(&self) -> StoreStamp {
        use std::os::unix::fs::MetadataExt;
        match &self.backing {
            Backing::Memory(_) => StoreStamp::Memory(self.generation.load(Ordering::SeqCst)),
            Backing::File(path) => match std::fs::metadata(path) {
                Ok(m) => StoreStamp::File {
                    dev: m.dev(),
                    ino: m.ino(),
                    len: m.len(),
                    mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                    ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoreStamp::Missing,
                Err(_) => StoreStamp::Unreadable(UNREADABLE.fetch_add(1, Ordering::Relaxed)),
            },
        }
    }

    /// The names of the secrets that are set, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self.load()?.into_keys().collect())
    }

    /// Whether `name` is set.
    pub fn has(&self, name: &str) -> Result<bool> {
        Ok(self.load()?.contains_key(name))
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Result<Option<SecretValue>> {
        Ok(self.load()?.remove(name).map(SecretValue))
    }

    /// Every value, for the redactor.
    pub fn values(&self) -> Result<Vec<String>> {
        Ok(self.load()?.into_values().collect())
    }

    /// Sets `name` to `value`.
    pub fn set(&self, name: &str, value: &str) -> Result<()> {
        check_name(name)?;
        check_value(value)?;
        let mut secrets = self.load()?;
        secrets.insert(name.to_owned(), value.to_owned());
        self.save(secrets)
    }

    /// Removes `name`; false if it was not set.
    pub fn remove(&self, name: &str) -> Result<bool> {
        let mut secrets = self.load()?;
        if secrets.remove(name).is_none() {
            return Ok(false);
        }
        self.save(secrets)?;
        Ok(true)
    }

    fn load(&self) -> Result<BTreeMap<String, String>> {
        let path = match &self.backing {
            Backing::Memory(map) => {
                return Ok(map.lock().unwrap_or_else(|p| p.into_inner()).clone());
            }
            Backing::File(path) => path,
        };
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "{} can be read by other users (mode {mode:o}); run `chmod 600 {}` and then change the secrets in it",
                path.display(),
                path.display()
            );
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // Not `with_context(e)`: a parse error quotes the text around it, which is a secret.
        let file: SecretFile = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is damaged at line {} column {}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        if file.version != FILE_VERSION {
            bail!(
                "{} has version {}; this clambot reads version {FILE_VERSION}",
                path.display(),
                file.version
            );
        }
        Ok(file.secrets)
    }

    fn save(&self, secrets: BTreeMap<String, String>) -> Result<()> {
        // Counted once written: a reader that sees the new count finds the new file.
        let saved = self.write(secrets);
        self.generation.fetch_add(1, Ordering::Release);
        saved
    }

    fn write(&self, secrets: BTreeMap<String, String>) -> Result<()> {
        match &self.backing {
            Backing::Memory(map) => {
                *map.lock().unwrap_or_else(|p| p.into_inner()) = secrets;
                Ok(())
            }
            Backing::File(path) => {
                if let Some(dir) = path.parent() {
                    crate::atomic::create_private_dir(dir)?;
                }
                let file = SecretFile {
                    version: FILE_VERSION,
                    secrets,
                };
                let text = serde_json::to_string_pretty(&file).context("encoding secrets")?;
                crate::atomic::write_private(path, text.as_bytes())
            }
        }
    }
}

/// Checks a secret name: letters, digits, `_` and `-`, as policy rules name them.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!(
            "`{}` is not a secret name: use 1 to {MAX_NAME_LEN} letters, digits, `_` or `-`",
            name.chars().take(80).collect::<String>()
        );
    }
    Ok(())
}

/// Checks a secret value: 4 bytes to 16 KiB, one line.
pub fn check_value(value: &str) -> Result<()> {
    if value.is_empty() {
        bail!("the secret value is empty");
    }
    // A shorter value could not be kept out of logs and results (see
    // `gate::redact`), so it is refused rather than silently unredactable.
    if value.len() < crate::gate::redact::MIN_SECRET_LEN {
        bail!(
            "the secret value is {} byte(s); a secret must be at least {} bytes, or clambot could not \
             keep it out of logs and results",
            value.len(),
            crate::gate::redact::MIN_SECRET_LEN
        );
    }
    if value.len() > MAX_VALUE_BYTES {
        bail!("the secret value is larger than {MAX_VALUE_BYTES} bytes");
    }
    // A value goes into an HTTP header: a line break there would let it add headers.
    if value.chars().any(|c| c.is_control()) {
        bail!("the secret value contains a control character (a line break?); it must be one line");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_in_a_private_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data/secrets.json");
        let store = SecretStore::open(&path);
        assert!(store.names().expect("names").is_empty());
        store.set("github_token", "ghp_canary_123456").expect("set");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let reopened = SecretStore::open(&path);
        assert_eq!(
            reopened
                .get("github_token")
                .expect("get")
                .map(|v| v.expose().to_owned()),
            Some("ghp_canary_123456".to_owned())
        );
        assert!(!format!("{:?}", reopened.get("github_token").expect("get")).contains("canary"));
        assert!(reopened.remove("github_token").expect("remove"));
        assert!(!reopened.has("github_token").expect("has"));
    }

    #[test]
    fn bad_names_values_and_modes_are_refused() {
        let store = SecretStore::in_memory();
        assert!(store.set("no spaces", "v").is_err());
        assert!(store.set("ok", "").is_err());
        assert!(store.set("ok", "a\r\nX-Evil: 1").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, r#"{"version":1,"secrets":{"a":"b"}}"#).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = SecretStore::open(&path)
            .names()
            .expect_err("world-readable");
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }

    #[test]
    fn a_damaged_file_is_reported_without_its_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, r#"{"version":1,"secrets":{"a":"sk-canary-value"#).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let error = format!(
            "{:#}",
            SecretStore::open(&path).names().expect_err("damaged")
        );
        assert!(!error.contains("canary"), "{error}");
    }
}

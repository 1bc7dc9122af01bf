//! Where per-user state lives: everything under `$CLAMBOT_HOME` (default
//! `~/.clambot`), so tests and several agents on one machine never share state
//! by accident.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The environment variable that moves all per-user state.
pub const HOME_VAR: &str = "CLAMBOT_HOME";
/// The environment variable that moves the workspace the fs tool is confined to.
pub const WORKSPACE_VAR: &str = "CLAMBOT_WORKSPACE";

/// The per-user directories.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$CLAMBOT_HOME`, or `~/.clambot`.
    pub fn from_env() -> Result<Self> {
        if let Some(root) = std::env::var_os(HOME_VAR).filter(|v| !v.is_empty()) {
            return Ok(Self::at(PathBuf::from(root)));
        }
        let user_home = home::home_dir()
            .context("cannot find the home directory; set CLAMBOT_HOME to choose where clambot keeps its state")?;
        Ok(Self::at(user_home.join(".clambot")))
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Databases, grants, audit logs.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The state database: memory, history, cron jobs, grants, audit index.
    pub fn database_file(&self) -> PathBuf {
        self.data_dir().join("clambot.db")
    }

    /// Opens (creating, migrating) the state database.
    pub fn open_store(&self) -> Result<crate::store::Store> {
        crate::store::Store::open(&self.database_file())
    }

    /// Secret values (0600), outside the workspace so no fs call can name them.
    pub fn secrets_file(&self) -> PathBuf {
        self.data_dir().join("secrets.json")
    }

    /// The directory the fs tool is confined to: `$CLAMBOT_WORKSPACE`, or
    /// `workspace/` under the home.
    pub fn workspace_dir(&self) -> PathBuf {
        match std::env::var_os(WORKSPACE_VAR).filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => self.root.join("workspace"),
        }
    }

    /// The audit log and its rotations.
    pub fn audit_dir(&self) -> PathBuf {
        self.data_dir().join("audit")
    }

    /// The user's tool components (`NAME/NAME.wasm`), beside the project's `tools/`.
    pub fn tools_dir(&self) -> PathBuf {
        self.root.join("tools")
    }

    /// Rebuildable things: precompiled components.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Everything of clambot's own the workspace must stay apart from: the
    /// home itself (the workspace may be a directory of its own inside it, as
    /// the default `workspace/` is, but never the home or above it), and each
    /// piece of state in it. A precompiled `.cwasm` in the cache is native
    /// code, the policy and config decide what scripts may do, and the data
    /// directory holds the secrets: a script able to write any of them would
    /// own the host.
    pub fn protected(&self) -> Vec<crate::workspace::Protected> {
        use crate::workspace::Protected;
        vec![
            Protected {
                may_contain_workspace: true,
                ..Protected::new("the clambot home", &self.root)
            },
            Protected::new("the secrets file", self.secrets_file()),
            Protected::new("the state database", self.database_file()),
            Protected::new("the data directory", self.data_dir()),
            Protected::new("the cache of precompiled components", self.cache_dir()),
            Protected::new("the config file", self.root.join("config.toml")),
            Protected::new("the default policy file", self.root.join("policy.toml")),
            Protected::new("the tools directory", self.tools_dir()),
            Protected::new("the saved clams", self.root.join("clams")),
        ]
    }

    /// Refuses a workspace that overlaps the home's state or any of `more`
    /// (e.g. the policy file in use).
    pub fn check_workspace(
        &self,
        workspace: &Path,
        more: &[crate::workspace::Protected],
    ) -> Result<(), crate::workspace::Overlap> {
        let mut protected = self.protected();
        protected.extend_from_slice(more);
        crate::workspace::check_clear_of(workspace, &protected)
    }
}

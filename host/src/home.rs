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
}

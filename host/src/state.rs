//! Everything a clambot process opens once and shares between runs: the home
//! directories, the state database, the secrets store and the workspace.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use crate::gate::approver::Approver;
use crate::gate::audit::AuditLog;
use crate::gate::grants::Grants;
use crate::gate::redact::Redactor;
use crate::gate::{GateSetup, Implementations};
use crate::home::Home;
use crate::policy::Policy;
use crate::secrets::SecretStore;
use crate::store::Store;
use crate::tools;

/// Opened state.
#[derive(Debug, Clone)]
pub struct HostState {
    pub home: Home,
    pub store: Arc<Store>,
    pub secrets: Arc<SecretStore>,
    pub workspace: PathBuf,
}

impl HostState {
    /// Opens the state under `home` (creating what is missing). Refuses (with
    /// [`crate::workspace::Overlap`]) a workspace that overlaps the home's
    /// state, before anything is opened or created.
    pub fn open(home: Home) -> Result<Self> {
        let workspace = home.workspace_dir();
        home.check_workspace(&workspace, &[])?;
        let store = Arc::new(home.open_store()?);
        let secrets = Arc::new(SecretStore::open(&home.secrets_file()));
        Ok(Self {
            home,
            store,
            secrets,
            workspace,
        })
    }

    /// Refuses (with [`crate::workspace::Overlap`]) a policy file in use that
    /// lies inside the workspace: a script could rewrite its own rules.
    pub fn check_policy_file(&self, policy: &std::path::Path) -> Result<()> {
        self.check_apart(&[crate::workspace::Protected::new("the policy file", policy)])
    }

    /// Refuses a workspace that overlaps any of `more` (or the home's state).
    pub fn check_apart(&self, more: &[crate::workspace::Protected]) -> Result<()> {
        self.home
            .check_workspace(&self.workspace, more)
            .map_err(anyhow::Error::from)
    }

    /// The host implementations, with the system resolver.
    pub fn implementations(&self) -> Result<Implementations> {
        tools::standard(
            &self.workspace,
            &self.store,
            &self.secrets,
            tools::http::Http::new(Arc::clone(&self.secrets)),
        )
    }

    /// The host implementations plus the tool components `policy` names (loaded
    /// from the project's `tools/` beside the policy file and the user's tools
    /// directory). The toolbox says which were refused and why.
    pub fn implementations_with_tools(
        &self,
        policy: &Policy,
    ) -> Result<(Implementations, crate::components::Toolbox)> {
        let mut implementations = self.implementations()?;
        let toolbox = crate::components::Toolbox::load(
            policy,
            &self.tool_dirs(policy),
            &implementations,
            Some(&self.home.cache_dir()),
        )?;
        toolbox.register(&mut implementations);
        if !policy.mcp_servers().is_empty() {
            implementations.set_mcp(Arc::new(crate::mcp::McpHub::new(
                policy,
                Arc::clone(&self.secrets),
            )));
        }
        Ok((implementations, toolbox))
    }

    /// Where tool components are looked for under `policy`.
    pub fn tool_dirs(&self, policy: &Policy) -> Vec<PathBuf> {
        crate::components::load::search_dirs(policy.base_dir(), &self.home.tools_dir())
    }

    /// A redactor that knows every secret value set now, and every value set
    /// later while it is in use (it re-reads the store when the file changes).
    pub fn redactor(&self) -> Result<Redactor> {
        Redactor::live(Arc::clone(&self.secrets))
    }

    /// The gate for runs under `policy`: stored grants, the audit log (indexed in
    /// the database), and a redactor for the current secrets.
    pub fn gate(&self, policy: Policy, approver: Arc<dyn Approver>) -> Result<GateSetup> {
        Ok(GateSetup {
            policy: Arc::new(policy),
            grants: Arc::new(Grants::open(Arc::clone(&self.store))),
            approver,
            audit: Some(Arc::new(
                AuditLog::open(&self.home.audit_dir())?.with_index(Arc::clone(&self.store)),
            )),
            redactor: Arc::new(self.redactor()?),
        })
    }
}

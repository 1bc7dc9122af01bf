//! A whole clambot world in a temporary directory: workspace, state database,
//! secrets, audit log, and a sandbox whose host tools are the real ones — with
//! a resolver the test controls, so names can point at loopback servers while
//! the address rules still judge what they resolve to.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clambot::gate::approver::NonInteractive;
use clambot::gate::audit::AuditLog;
use clambot::gate::grants::Grants;
use clambot::gate::redact::Redactor;
use clambot::gate::{BoxFuture, GateSetup};
use clambot::net::Resolver;
use clambot::policy::Policy;
use clambot::sandbox::{RunOutcome, RunRequest, Sandbox};
use clambot::secrets::SecretStore;
use clambot::store::Store;
use clambot::tools::http::{Http, HttpLimits};

/// Answers lookups from a table; each name's answers are used in turn (the
/// last one repeats), so a test can change what a name resolves to.
#[derive(Debug, Default)]
pub struct TableResolver {
    answers: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
    lookups: AtomicUsize,
}

impl TableResolver {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `name` resolves to `addresses` (after any answers set before).
    pub fn answer(&self, name: &str, addresses: &[&str]) {
        let parsed = addresses
            .iter()
            .map(|a| a.parse().expect("an IP address"))
            .collect();
        self.answers
            .lock()
            .expect("lock")
            .entry(name.to_owned())
            .or_default()
            .push(parsed);
    }

    /// Lookups made so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl Resolver for TableResolver {
    fn resolve<'a>(&'a self, host: &'a str, _port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().expect("lock");
        let result = match answers.get_mut(host) {
            Some(list) if list.len() > 1 => Ok(list.remove(0)),
            Some(list) => Ok(list[0].clone()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such name")),
        };
        Box::pin(async move { result })
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub store: Arc<Store>,
    pub secrets: Arc<SecretStore>,
    pub resolver: Arc<TableResolver>,
    pub sandbox: Sandbox,
}

impl World {
    pub fn new() -> Self {
        Self::with_limits(HttpLimits {
            max_response_bytes: 1024 * 1024,
            connect: Duration::from_secs(2),
            first_byte: Duration::from_millis(800),
            total: Duration::from_secs(5),
        })
    }

    pub fn with_limits(limits: HttpLimits) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = dir.path().join("workspace");
        let store = Arc::new(Store::open(&dir.path().join("data/clambot.db")).expect("database"));
        let secrets = Arc::new(SecretStore::open(&dir.path().join("data/secrets.json")));
        let resolver = TableResolver::new();
        let http = Http::with(
            Arc::clone(&resolver) as Arc<dyn Resolver>,
            limits,
            Arc::clone(&secrets),
        );
        let implementations =
            clambot::tools::standard(&workspace, &store, &secrets, http).expect("tools");
        let sandbox = super::sandbox_with(implementations, 4);
        Self {
            dir,
            workspace,
            store,
            secrets,
            resolver,
            sandbox,
        }
    }

    pub fn audit_dir(&self) -> PathBuf {
        self.dir.path().join("data/audit")
    }

    /// The gate for `policy` (TOML), with an indexed audit log and a redactor
    /// that knows the secrets set now.
    pub fn gate(&self, policy: &str) -> GateSetup {
        GateSetup {
            policy: Arc::new(Policy::parse("test-policy.toml", policy).expect("the policy parses")),
            grants: Arc::new(Grants::open(Arc::clone(&self.store))),
            approver: Arc::new(NonInteractive),
            audit: Some(Arc::new(
                AuditLog::open(&self.audit_dir())
                    .expect("audit")
                    .with_index(Arc::clone(&self.store)),
            )),
            redactor: Arc::new(Redactor::new(self.secrets.values().expect("secrets"))),
        }
    }

    /// Runs `source` under `policy`.
    pub fn run(&self, policy: &str, source: &str) -> RunOutcome {
        self.run_with_args(policy, source, "{}")
    }

    pub fn run_with_args(&self, policy: &str, source: &str, args_json: &str) -> RunOutcome {
        let mut request = RunRequest::new(source);
        request.args_json = args_json.to_owned();
        request.gate = self.gate(policy);
        super::runtime().block_on(self.sandbox.run(&request))
    }

    /// Runs `source` and returns its result as JSON, panicking with the error otherwise.
    pub fn ok(&self, policy: &str, source: &str) -> serde_json::Value {
        let outcome = self.run(policy, source);
        let text = match outcome.result {
            Ok(text) => text,
            Err(e) => panic!(
                "the script failed: {e}\nconsole: {}",
                outcome.console.text()
            ),
        };
        serde_json::from_str(&text).expect("the result is JSON")
    }
}

//! Opening the agent the way every front end does: the config, the provider,
//! the policy, the state, the sandbox, the clams.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::clams::ClamStore;
use super::config::{self, ConfigFile};
use super::{Agent, AgentParts, AgentSettings, provider};
use crate::home::Home;
use crate::policy::Policy;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::state::HostState;

/// Where things come from, as a person chose on the command line.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// `--policy`, over `[agent] policy` and `$CLAMBOT_HOME/policy.toml`.
    pub policy: Option<PathBuf>,
}

/// The config file under `home`.
pub fn config_file(home: &Home) -> PathBuf {
    home.root().join("config.toml")
}

/// The policy file agent runs use when nothing else is named.
pub fn default_policy_file(home: &Home) -> PathBuf {
    home.root().join("policy.toml")
}

/// Which policy file applies, and whether it exists.
pub fn policy_path(home: &Home, config: &ConfigFile, choices: &Choices) -> PathBuf {
    choices
        .policy
        .clone()
        .or_else(|| config.agent.policy.clone())
        .unwrap_or_else(|| default_policy_file(home))
}

/// Loads the policy; a missing file means every call is denied (and says so).
pub fn load_policy(path: &std::path::Path) -> Result<(Policy, Option<String>)> {
    if !path.exists() {
        return Ok((
            Policy::deny_all(),
            Some(format!(
                "no policy at {}: every host call will be denied (run `clambot onboard` for a starter policy)",
                path.display()
            )),
        ));
    }
    // Kept as a PolicyError, so every command exits 7 for a broken policy.
    let policy = Policy::load(path).map_err(anyhow::Error::from)?;
    Ok((policy, None))
}

/// The directory of saved clams.
pub fn clams_dir(home: &Home) -> PathBuf {
    home.root().join("clams")
}

/// The clam store the config describes.
pub fn clam_store(home: &Home, config: &ConfigFile) -> ClamStore {
    ClamStore::new(clams_dir(home), config.agent.clams.clone())
}

/// Opens everything and makes the agent. `js_api` is the JavaScript API text
/// for the prompt. Returns any notice the person should see (e.g. no policy).
pub fn open_agent(home: Home, choices: &Choices, js_api: String) -> Result<(Agent, Vec<String>)> {
    open(home, choices, js_api, true)
}

/// An agent for commands that never ask the model (`clambot clams run`): a
/// configured provider is used if there is one, and none is needed.
pub fn open_agent_without_model(home: Home, choices: &Choices) -> Result<(Agent, Vec<String>)> {
    open(home, choices, String::new(), false)
}

fn open(
    home: Home,
    choices: &Choices,
    js_api: String,
    needs_model: bool,
) -> Result<(Agent, Vec<String>)> {
    let config = ConfigFile::load(&config_file(&home))?;
    let state = HostState::open(home.clone())?;
    let provider: Box<dyn provider::Provider> =
        match config::provider_config(&config, &state.secrets, &|k| std::env::var(k).ok()) {
            Ok(provider_config) => {
                provider::build(provider_config).map_err(|e| anyhow::anyhow!("{e}"))?
            }
            Err(_) if !needs_model => Box::new(provider::Unconfigured),
            Err(error) => return Err(error),
        };
    let policy_file = policy_path(&home, &config, choices);
    // The policy decides what scripts may do, and a clam found in a clams
    // directory runs again without a model call: neither may be writable by one.
    let mut apart = vec![crate::workspace::Protected::new(
        "the policy file",
        &policy_file,
    )];
    for dir in &config.agent.clams {
        apart.push(crate::workspace::Protected::new("a clams directory", dir));
    }
    state.check_apart(&apart)?;
    let (policy, notice) = load_policy(&policy_file)?;
    let (implementations, toolbox) = state.implementations_with_tools(&policy)?;
    let mut notices: Vec<String> = notice.into_iter().collect();
    notices.extend(toolbox.named_refusals().map(ToString::to_string));
    let mut js_api = format!("{js_api}{}", tools_api_text(&toolbox));
    if needs_model && let Some(hub) = implementations.mcp() {
        // Read once at start, on a runtime of its own that stops the servers
        // again: a script's first call starts them under the agent's.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        js_api.push_str(&runtime.block_on(crate::mcp::api_text(hub, &policy)));
    }
    let sandbox = Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(home.cache_dir()),
            max_concurrent_runs: 16,
        },
        implementations,
    )
    .context("starting the sandbox")?;
    let agent = Agent::new(AgentParts {
        provider: Arc::from(provider),
        sandbox: Arc::new(sandbox),
        clams: clam_store(&home, &config),
        state,
        policy,
        settings: AgentSettings::from_section(&config.agent),
        js_api,
    })?;
    Ok((agent, notices))
}

/// The loaded tool components' signatures, for the prompt: the same text
/// `clambot tools inspect` prints.
pub fn tools_api_text(toolbox: &crate::components::Toolbox) -> String {
    if toolbox.tools.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### tools\nTool components loaded for this policy. Call them like the host \
         interfaces (`await tools.NAME.function(...)`); each call is gated as \
         `tools.NAME.function`. Independent calls overlap when awaited together with \
         `Promise.all`.\n```ts\n",
    );
    for tool in &toolbox.tools {
        out.push_str(&crate::components::signature::signatures(
            tool,
            &tool.docs(),
        ));
    }
    out.push_str("```\n");
    out
}

/// The host interfaces' WIT, doc comments included, as the model reads them.
const HOST_WIT: &[(&str, &str)] = &[
    ("types", include_str!("../../../wit/types.wit")),
    ("http", include_str!("../../../wit/http.wit")),
    ("fs", include_str!("../../../wit/fs.wit")),
    ("memory", include_str!("../../../wit/memory.wit")),
    ("cron", include_str!("../../../wit/cron.wit")),
    ("secrets", include_str!("../../../wit/secrets.wit")),
    ("log", include_str!("../../../wit/log.wit")),
];

/// The JavaScript API, from the WIT: each interface is a global object
/// (`http`, `fs`, …), each function a method taking the WIT parameters in order
/// (kebab-case names become camelCase, records are objects, `list<u8>` is a
/// `Uint8Array`, `option` may be omitted or `null`), returning a Promise of the
/// `ok` value; an `error` rejects with a `ToolError`.
pub fn wit_api_text() -> String {
    let mut out = String::from(
        "Each WIT interface below is a global object in JavaScript (`http`, `fs`, `memory`, `cron`, \
         `secrets`, `log`). Call a function as a method with its parameters in order, using \
         camelCase for kebab-case names (`fetch-text` is `http.fetchText`, `bearer-secret` is \
         `bearerSecret`), and `await` it. Records are objects; `option` fields may be omitted; \
         `list<u8>` is a Uint8Array; a `result` error throws a ToolError. Calls that do not \
         depend on each other run concurrently when made together: start them all and await \
         `Promise.all([...])` (e.g. `await Promise.all(urls.map((url) => http.fetchText(url)))`) \
         instead of awaiting one after another; `Promise.allSettled` keeps going past a failed \
         one.\n",
    );
    for (name, text) in HOST_WIT {
        let body: String = text
            .lines()
            .filter(|line| !line.starts_with("package "))
            .collect::<Vec<_>>()
            .join("\n");
        out.push_str(&format!("\n### {name}\n```wit\n{}\n```\n", body.trim()));
    }
    out
}

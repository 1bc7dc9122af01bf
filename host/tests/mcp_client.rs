//! Scripts calling MCP servers' tools through the real guest and gate, against
//! the MCP reference servers from npm (`@modelcontextprotocol/server-everything`
//! and `server-filesystem`, installed by scripts/install-test-deps.sh): allowed
//! calls, default deny (the server is never started), a `where` refusal,
//! arguments refused by the tool's schema, secrets given to the server but
//! kept from the script, and servers that crash or hang — each a `ToolError`,
//! with the host serving the next run.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use clambot::gate::approver::NonInteractive;
use clambot::gate::audit::Verdict;
use clambot::home::Home;
use clambot::policy::Policy;
use clambot::sandbox::{RunError, RunOutcome, RunRequest};
use clambot::state::HostState;
use serde_json::Value as Json;

fn package(name: &str, entry: &str) -> PathBuf {
    let path = common::repo_root()
        .join("tests/mcp-servers/node_modules/@modelcontextprotocol")
        .join(name)
        .join(entry);
    assert!(
        path.exists(),
        "{} is missing; run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

fn everything() -> String {
    format!(
        "[mcp.everything]\ncommand = \"node\"\nargs = [{:?}, \"stdio\"]\n",
        package("server-everything", "dist/index.js")
            .display()
            .to_string()
    )
}

/// A home, a policy file in its own directory, and a way to run scripts.
struct World {
    _dir: tempfile::TempDir,
    state: HostState,
    policy_dir: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = HostState::open(Home::at(dir.path().join("home"))).expect("state");
        let policy_dir = dir.path().join("project");
        std::fs::create_dir_all(&policy_dir).expect("mkdir");
        Self {
            _dir: dir,
            state,
            policy_dir,
        }
    }

    fn policy(&self, text: &str) -> Policy {
        let path = self.policy_dir.join("policy.toml");
        std::fs::write(&path, format!("version = 1\n{text}")).expect("write");
        Policy::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs each script in turn under `policy`, in one sandbox (as a gateway
    /// would), and returns the outcomes and whether each server is running
    /// before the sandbox is dropped.
    fn run(&self, policy: &str, sources: &[&str]) -> (Vec<RunOutcome>, Vec<(String, bool)>) {
        let policy = self.policy(policy);
        let (implementations, _) = self
            .state
            .implementations_with_tools(&policy)
            .expect("implementations");
        let hub = implementations.mcp().cloned();
        let sandbox = common::sandbox_with(implementations, 2);
        let gate = self
            .state
            .gate(policy, Arc::new(NonInteractive))
            .expect("gate");
        common::runtime().block_on(async {
            let mut outcomes = Vec::new();
            for source in sources {
                let mut request = RunRequest::new(*source);
                request.gate = gate.clone();
                outcomes.push(sandbox.run(&request).await);
            }
            let mut running = Vec::new();
            if let Some(hub) = &hub {
                for server in hub.servers() {
                    running.push((server.name().to_owned(), server.is_running().await));
                }
                hub.shutdown().await;
            }
            (outcomes, running)
        })
    }

    fn run_one(&self, policy: &str, source: &str) -> RunOutcome {
        self.run(policy, &[source]).0.remove(0)
    }
}

fn value(outcome: &RunOutcome) -> Json {
    match &outcome.result {
        Ok(text) => serde_json::from_str(text).expect("JSON"),
        Err(e) => panic!("the run failed: {e}\n{}", outcome.console.text()),
    }
}

/// What a script that catches the error sees: `{code, message, rule}`.
const CAUGHT: &str = "try { return await CALL; } catch (e) { return { name: e.name, code: e.code, message: e.message, rule: e.rule ?? null }; }";

fn caught(call: &str) -> String {
    CAUGHT.replace("CALL", call)
}

#[test]
fn an_allowed_tool_is_called_with_promise_and_sync_forms_and_camel_case_names() {
    let world = World::new();
    let policy = format!(
        "{}[[allow]]\ncall = \"mcp.everything.echo\"\n[[allow]]\ncall = \"mcp.everything.get-sum\"\n",
        everything()
    );
    let outcome = world.run_one(
        &policy,
        "const a = await mcp.everything.echo({ message: 'hello' });
         const b = mcp.everything.echoSync({ message: 'again' });
         const sum = await mcp.everything.getSum({ a: 2, b: 3 });
         return { a, b, sum };",
    );
    let got = value(&outcome);
    assert_eq!(got["a"], "Echo: hello", "{got}");
    assert_eq!(got["b"], "Echo: again", "{got}");
    assert!(got["sum"].to_string().contains('5'), "{got}");
    let functions: Vec<(&str, Verdict)> = outcome
        .calls
        .iter()
        .map(|c| (c.function.as_str(), c.verdict))
        .collect();
    // Judged as the server spells the tool, whatever the script wrote.
    assert_eq!(
        functions,
        [
            ("mcp.everything.echo", Verdict::Allow),
            ("mcp.everything.echo", Verdict::Allow),
            ("mcp.everything.get-sum", Verdict::Allow),
        ]
    );
}

#[test]
fn a_declared_server_without_rules_is_denied_by_default_and_never_started() {
    let world = World::new();
    let (outcomes, running) = world.run(
        &everything(),
        &[&caught("mcp.everything.echo({ message: 'hi' })")],
    );
    let got = value(&outcomes[0]);
    assert_eq!(got["name"], "ToolError", "{got}");
    assert_eq!(got["code"], "denied", "{got}");
    assert_eq!(got["rule"], "default-deny", "{got}");
    assert_eq!(running, [("everything".to_owned(), false)]);
    assert_eq!(outcomes[0].calls[0].verdict, Verdict::Deny);
}

#[test]
fn an_undeclared_server_is_not_found() {
    let world = World::new();
    let got = value(&world.run_one("", &caught("mcp.github.search({ q: 'x' })")));
    assert_eq!(got["code"], "not-found", "{got}");
    assert!(
        got["message"]
            .as_str()
            .unwrap_or_default()
            .contains("[mcp.github]"),
        "{got}"
    );
}

#[test]
fn a_where_condition_refuses_arguments_outside_it_naming_the_rule() {
    let world = World::new();
    let policy = format!(
        "{}[[allow]]\ncall = \"mcp.everything.echo\"\nwhere = {{ \"message\" = {{ prefix = \"hello\" }} }}\n",
        everything()
    );
    let (outcomes, _) = world.run(
        &policy,
        &[
            &caught("mcp.everything.echo({ message: 'rm -rf /' })"),
            "return await mcp.everything.echo({ message: 'hello there' });",
        ],
    );
    let refused = value(&outcomes[0]);
    assert_eq!(refused["code"], "denied", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("outside every rule"),
        "{refused}"
    );
    assert_eq!(value(&outcomes[1]), "Echo: hello there");
}

#[test]
fn a_deny_rule_wins_over_a_server_wildcard() {
    let world = World::new();
    let policy = format!(
        "{}[[allow]]\ncall = \"mcp.everything.*\"\n[[deny]]\ncall = \"mcp.everything.get-env\"\n",
        everything()
    );
    let got = value(&world.run_one(&policy, &caught("mcp.everything.getEnv({})")));
    assert_eq!(got["code"], "denied", "{got}");
    assert!(
        got["rule"]
            .as_str()
            .unwrap_or_default()
            .contains("[[deny]] mcp.everything.get-env"),
        "{got}"
    );
}

#[test]
fn arguments_outside_the_tools_schema_are_refused_before_the_call() {
    let world = World::new();
    let policy = format!(
        "{}[[allow]]\ncall = \"mcp.everything.get-sum\"\n",
        everything()
    );
    let got = value(&world.run_one(
        &policy,
        &caught("mcp.everything.getSum({ a: 'two', b: 3 })"),
    ));
    assert_eq!(got["code"], "invalid", "{got}");
    assert!(
        got["message"].as_str().unwrap_or_default().contains("`a`"),
        "{got}"
    );
}

#[test]
fn a_secret_reaches_the_server_environment_but_never_the_script() {
    let world = World::new();
    let secret = "s3cr3t-value-for-mcp";
    world
        .state
        .secrets
        .set("everything_key", secret)
        .expect("set");
    let policy = format!(
        "{}env = {{ EVERYTHING_KEY = {{ secret = \"everything_key\" }} }}\n[[allow]]\ncall = \"mcp.everything.get-env\"\n",
        everything()
    );
    let outcome = world.run_one(&policy, "return await mcp.everything.getEnv({});");
    let text = value(&outcome).to_string();
    assert!(text.contains("EVERYTHING_KEY"), "{text}");
    assert!(
        !text.contains(secret),
        "the secret reached the script: {text}"
    );
    // Only the named variables: nothing else of clambot's environment.
    assert!(!text.contains("CARGO_PKG_NAME"), "{text}");
}

#[test]
fn a_missing_secret_is_a_failure_naming_it() {
    let world = World::new();
    let policy = format!(
        "{}env = {{ K = {{ secret = \"not_set\" }} }}\n[[allow]]\ncall = \"mcp.everything.echo\"\n",
        everything()
    );
    let got = value(&world.run_one(&policy, &caught("mcp.everything.echo({ message: 'x' })")));
    assert_eq!(got["code"], "failed", "{got}");
    assert!(
        got["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`not_set`"),
        "{got}"
    );
}

#[test]
fn a_server_that_crashes_is_a_tool_error_and_the_host_keeps_serving() {
    let world = World::new();
    let policy = format!(
        "[mcp.broken]\ncommand = \"node\"\nargs = [\"-e\", \"process.stderr.write('boom: no config'); process.exit(3)\"]\n[[allow]]\ncall = \"mcp.broken.*\"\n{}[[allow]]\ncall = \"mcp.everything.echo\"\n",
        everything()
    );
    let (outcomes, _) = world.run(
        &policy,
        &[
            &caught("mcp.broken.anything({})"),
            "return await mcp.everything.echo({ message: 'still here' });",
            &caught("mcp.broken.anything({})"),
        ],
    );
    let crashed = value(&outcomes[0]);
    assert_eq!(crashed["code"], "failed", "{crashed}");
    let message = crashed["message"].as_str().unwrap_or_default();
    assert!(message.contains("the MCP server `broken`"), "{message}");
    assert!(message.contains("boom: no config"), "{message}");
    assert_eq!(value(&outcomes[1]), "Echo: still here");
    assert_eq!(value(&outcomes[2])["code"], "failed");
}

#[test]
fn a_server_that_answers_garbage_is_a_tool_error() {
    let world = World::new();
    let policy = "[mcp.noise]\ncommand = \"node\"\nargs = [\"-e\", \"process.stdin.on('data', () => process.stdout.write('this is not JSON-RPC\\\\n'))\"]\ntimeout = \"3s\"\n[[allow]]\ncall = \"mcp.noise.*\"\n";
    let got = value(&world.run_one(policy, &caught("mcp.noise.tool({})")));
    assert_eq!(got["code"], "failed", "{got}");
}

#[test]
fn a_server_that_hangs_is_stopped_at_its_timeout_and_restarted_for_the_next_call() {
    let world = World::new();
    let policy = format!(
        "{}timeout = \"3s\"\n[[allow]]\ncall = \"mcp.everything.*\"\n",
        everything()
    );
    let started = std::time::Instant::now();
    let (outcomes, _) = world.run(
        &policy,
        &[
            &caught("mcp.everything.triggerLongRunningOperation({ duration: 60, steps: 2 })"),
            "return await mcp.everything.echo({ message: 'after' });",
        ],
    );
    let hung = value(&outcomes[0]);
    assert_eq!(hung["code"], "failed", "{hung}");
    assert!(
        hung["message"]
            .as_str()
            .unwrap_or_default()
            .contains("did not answer"),
        "{hung}"
    );
    assert_eq!(value(&outcomes[1]), "Echo: after");
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
}

#[test]
fn a_result_over_the_cap_is_a_limit_error() {
    let world = World::new();
    let policy = format!(
        "{}max-result = \"100B\"\n[[allow]]\ncall = \"mcp.everything.echo\"\n",
        everything()
    );
    let got = value(&world.run_one(
        &policy,
        &caught(&format!(
            "mcp.everything.echo({{ message: '{}' }})",
            "x".repeat(300)
        )),
    ));
    assert_eq!(got["code"], "limit", "{got}");
}

#[test]
fn the_filesystem_server_reads_only_what_it_was_given_and_the_gate_allows() {
    let world = World::new();
    let shared = world.policy_dir.join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    std::fs::write(shared.join("note.txt"), "from the filesystem server").expect("write");
    let policy = format!(
        "[mcp.files]\ncommand = \"node\"\nargs = [{:?}, {:?}]\n[[allow]]\ncall = \"mcp.files.read_text_file\"\nwhere = {{ \"path\" = {{ prefix = {:?} }} }}\n",
        package("server-filesystem", "dist/index.js")
            .display()
            .to_string(),
        shared.display().to_string(),
        shared.display().to_string(),
    );
    let note = shared.join("note.txt").display().to_string();
    let (outcomes, _) = world.run(
        &policy,
        &[
            &format!("return await mcp.files.readTextFile({{ path: {note:?} }});"),
            &caught("mcp.files.writeFile({ path: '/tmp/x', content: 'y' })"),
        ],
    );
    assert!(
        value(&outcomes[0])
            .to_string()
            .contains("from the filesystem server"),
        "{}",
        value(&outcomes[0])
    );
    assert_eq!(value(&outcomes[1])["code"], "denied");
}

#[test]
fn an_uncaught_mcp_denial_fails_the_run_as_a_denial() {
    let world = World::new();
    let outcome = world.run_one(
        &everything(),
        "return await mcp.everything.echo({ message: 'x' });",
    );
    match &outcome.result {
        Err(error @ RunError::Script(_)) => assert!(error.is_denial(), "{error}"),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn the_prompt_shows_signatures_of_the_servers_rules_can_reach_only() {
    let world = World::new();
    let policy = world.policy(&format!(
        "{}[[allow]]\ncall = \"mcp.everything.echo\"\n[mcp.idle]\ncommand = \"false\"\n",
        everything()
    ));
    let hub = clambot::mcp::McpHub::new(&policy, Arc::clone(&world.state.secrets));
    let text = common::runtime().block_on(clambot::mcp::api_text(&hub, &policy));
    assert!(text.contains("### mcp"), "{text}");
    assert!(
        text.contains(
            "mcp.everything.echo(args: { message: string /* Message to echo */ }): Promise<unknown>"
        ),
        "{text}"
    );
    assert!(
        text.contains("mcp.everything.getSum(args: { a: number /* First number */; b: number /* Second number */ })"),
        "{text}"
    );
    // No rule names `idle`, so it is neither started nor shown.
    assert!(!text.contains("mcp.idle"), "{text}");
}

#[test]
fn mcp_list_and_inspect_show_servers_and_signatures() {
    let world = World::new();
    let home = world.policy_dir.join("clihome");
    let policy = world.policy_dir.join("cli-policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n{}[mcp.broken]\ncommand = \"node\"\nargs = [\"-e\", \"process.exit(3)\"]\n",
            everything()
        ),
    )
    .expect("write");
    let policy = policy.display().to_string();
    let list = common::cli::run(&home, &[], &["mcp", "list", "--policy", &policy]);
    let stdout = common::cli::text(&list.stdout);
    assert_eq!(
        list.status.code(),
        Some(1),
        "a failed server fails the list: {stdout}"
    );
    assert!(
        stdout.contains("everything") && stdout.contains("ready"),
        "{stdout}"
    );
    assert!(stdout.contains("get-sum"), "{stdout}");
    assert!(
        stdout.contains("broken") && stdout.contains("failed"),
        "{stdout}"
    );
    let json = common::cli::run(&home, &[], &["mcp", "list", "--policy", &policy, "--json"]);
    let listed: Json = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(listed[1]["name"], "everything", "{listed}");
    assert_eq!(listed[1]["status"], "ready", "{listed}");
    let inspect = common::cli::run(
        &home,
        &[],
        &["mcp", "inspect", "everything", "--policy", &policy],
    );
    let shown = common::cli::text(&inspect.stdout);
    assert!(inspect.status.success(), "{shown}");
    assert!(
        shown.contains("mcp.everything.echo(args: { message: string"),
        "{shown}"
    );
    let unknown = common::cli::run(&home, &[], &["mcp", "inspect", "nope", "--policy", &policy]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(common::cli::text(&unknown.stderr).contains("no MCP server `nope`"));
}

/// server-everything in Streamable HTTP mode on a free loopback port; killed on drop.
struct HttpServer {
    child: std::process::Child,
    port: u16,
}

impl HttpServer {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("node")
            .arg(package("server-everything", "dist/index.js"))
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the HTTP server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self { child, port }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_streamable_http_server_is_reached_only_at_an_address_the_policy_lists() {
    let world = World::new();
    let server = HttpServer::start();
    let table = format!(
        "[mcp.remote]\nurl = \"http://127.0.0.1:{}/mcp\"\n[[allow]]\ncall = \"mcp.remote.echo\"\n",
        server.port
    );
    let refused = value(&world.run_one(&table, &caught("mcp.remote.echo({ message: 'hi' })")));
    assert_eq!(refused["code"], "denied", "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("allow-private"), "{message}");
    let allowed = format!(
        "[net]\nallow-private = [\"127.0.0.1:{}\"]\n{table}",
        server.port
    );
    let outcome = world.run_one(
        &allowed,
        "return await mcp.remote.echo({ message: 'over http' });",
    );
    assert_eq!(value(&outcome), "Echo: over http");
}

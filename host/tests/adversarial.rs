//! Runs the data-driven adversarial corpus in `tests/adversarial/` (see its
//! README): every case is an attack with the typed outcome clambot must give.
//! Each category is one test that runs all its cases and reports every case that
//! does not hold, so one regression does not hide another.

mod common;

use std::path::{Path, PathBuf};

use clambot::policy::{Call, Decision, Policy, Usage};
use clambot::sandbox::{RunError, RunLimits, RunRequest};
use common::http_server::{Reply, Server};
use common::world::World;
use serde::Deserialize;
use serde_json::Value as Json;

fn corpus<T: for<'de> Deserialize<'de>>(file: &str) -> Vec<T> {
    #[derive(Deserialize)]
    struct File<T> {
        case: Vec<T>,
    }
    let path = common::repo_root().join("tests/adversarial").join(file);
    let text = std::fs::read_to_string(&path).expect("corpus file");
    toml::from_str::<File<T>>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .case
}

/// A tool error or success, as the corpus writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolExpect {
    code: Option<String>,
    rule: Option<String>,
    ok: Option<bool>,
    status: Option<u16>,
}

impl ToolExpect {
    /// Checks `{ok}` / `{code, rule}` as the probe scripts return them.
    fn check(&self, out: &Json) -> Result<(), String> {
        if self.ok == Some(true) {
            if out.get("ok").is_none() {
                return Err(format!("expected success, got {out}"));
            }
            if let Some(status) = self.status
                && out["ok"]["status"] != status
            {
                return Err(format!("expected status {status}, got {out}"));
            }
            return Ok(());
        }
        if let Some(code) = &self.code
            && out["code"] != code.as_str()
        {
            return Err(format!("expected code {code}, got {out}"));
        }
        if let Some(rule) = &self.rule
            && out["rule"] != rule.as_str()
        {
            return Err(format!("expected rule {rule}, got {out}"));
        }
        Ok(())
    }
}

fn report(category: &str, total: usize, failures: &[String]) {
    assert!(total > 0, "{category}: no cases");
    assert!(
        failures.is_empty(),
        "{category}: {} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- ssrf

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SsrfCase {
    name: String,
    url: String,
    #[serde(default)]
    answers: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    allowed: bool,
    expect: ToolExpect,
}

#[test]
fn ssrf_corpus() {
    let cases: Vec<SsrfCase> = corpus("ssrf.toml");
    let world = World::new();
    let server = Server::start("127.0.0.1", 0, |seen| {
        if seen.path == "/redirect" {
            return Reply::Respond {
                status: 302,
                headers: vec![(
                    "location".into(),
                    "http://169.254.169.254/latest/meta-data/".into(),
                )],
                body: Vec::new(),
            };
        }
        Reply::text(200, "text/plain", "ok")
    });
    let mut failures = Vec::new();
    for case in &cases {
        let before = server.connections();
        for (name, addresses) in &case.answers {
            let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
            world.resolver.answer(name, &addresses);
        }
        let allow_private = if case.allowed {
            format!("\"{}\"", server.addr)
        } else {
            String::new()
        };
        let policy = format!(
            "version = 1\n[[allow]]\ncall = \"http.*\"\nurl = [\"http://*:*/**\", \"https://*:*/**\"]\n[net]\nallow-private = [{allow_private}]\n"
        );
        let headers: Vec<Json> = case
            .headers
            .iter()
            .map(|(n, v)| serde_json::json!({ "name": n, "value": v }))
            .collect();
        let url = case.url.replace("{port}", &server.port().to_string());
        let source = format!(
            "try {{ return {{ ok: await http.fetch({{ method: 'GET', url: {}, headers: {}, body: null, bearerSecret: null }}) }} }} catch (e) {{ return {{ code: e.code ?? e.name, rule: e.rule ?? null, message: e.message }} }}",
            Json::String(url),
            Json::Array(headers)
        );
        let outcome = world.run(&policy, &source);
        let result = match outcome.result {
            Ok(text) => serde_json::from_str(&text).unwrap_or(Json::Null),
            Err(e) => {
                failures.push(format!("{}: the run failed: {e}", case.name));
                continue;
            }
        };
        if let Err(why) = case.expect.check(&result) {
            failures.push(format!("{}: {why}", case.name));
        }
        if case.expect.ok != Some(true) && server.connections() != before {
            failures.push(format!("{}: a connection was made", case.name));
        }
    }
    report("ssrf", cases.len(), &failures);
}

// ---------------------------------------------------------------- fs

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FsCase {
    name: String,
    #[serde(default)]
    setup: Vec<String>,
    call: String,
    expect: ToolExpect,
}

const FS_POLICY: &str = "version = 1\n[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n";

fn prepare(workspace: &Path, outside: &Path, line: &str) -> Result<(), String> {
    let fill = |s: &str| s.replace("{outside}", &outside.display().to_string());
    let parent = |p: &Path| std::fs::create_dir_all(p.parent().unwrap_or(p));
    let result = if let Some(rest) = line.strip_prefix("file ") {
        let (path, text) = rest.split_once(" = ").ok_or("file PATH = TEXT")?;
        let path = workspace.join(path);
        parent(&path).and_then(|()| std::fs::write(&path, text))
    } else if let Some(path) = line.strip_prefix("dir ") {
        std::fs::create_dir_all(workspace.join(path))
    } else if let Some(rest) = line.strip_prefix("symlink ") {
        let (path, target) = rest.split_once(" -> ").ok_or("symlink PATH -> TARGET")?;
        let path = workspace.join(path);
        parent(&path).and_then(|()| std::os::unix::fs::symlink(fill(target), &path))
    } else if let Some(rest) = line.strip_prefix("hardlink ") {
        let (path, target) = rest.split_once(" -> ").ok_or("hardlink PATH -> TARGET")?;
        std::fs::hard_link(fill(target), workspace.join(path))
    } else if let Some(path) = line.strip_prefix("fifo ") {
        std::process::Command::new("mkfifo")
            .arg(workspace.join(path))
            .status()
            .map(drop)
    } else {
        return Err(format!("unknown set-up line `{line}`"));
    };
    result.map_err(|e| format!("set-up `{line}`: {e}"))
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        if meta.is_dir() {
            out.extend(snapshot(&path));
        }
        let content = if meta.is_file() {
            std::fs::read(&path).unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push((path, content));
    }
    out.sort();
    out
}

#[test]
fn fs_corpus() {
    let cases: Vec<FsCase> = corpus("fs.toml");
    let mut failures = Vec::new();
    for case in &cases {
        let world = World::new();
        let outside = world.dir.path().join("outside");
        std::fs::create_dir_all(&outside).expect("outside");
        std::fs::create_dir_all(&world.workspace).expect("workspace");
        std::fs::write(outside.join("secret.txt"), "outside secret").expect("outside file");
        if let Some(error) = case
            .setup
            .iter()
            .find_map(|line| prepare(&world.workspace, &outside, line).err())
        {
            failures.push(format!("{}: {error}", case.name));
            continue;
        }
        let before = snapshot(&outside);
        let source = format!(
            "try {{ return {{ ok: (await {}) ?? null }} }} catch (e) {{ return {{ code: e.code ?? e.name, rule: e.rule ?? null, message: e.message }} }}",
            case.call
        );
        let outcome = world.run(FS_POLICY, &source);
        match outcome.result {
            Ok(text) => {
                let result: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
                if let Err(why) = case.expect.check(&result) {
                    failures.push(format!("{}: {why}", case.name));
                }
            }
            Err(e) => failures.push(format!("{}: the run failed: {e}", case.name)),
        }
        if snapshot(&outside) != before {
            failures.push(format!(
                "{}: something outside the workspace changed",
                case.name
            ));
        }
    }
    report("fs", cases.len(), &failures);
}

// ---------------------------------------------------------------- js

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsCase {
    name: String,
    source: String,
    timeout: Option<String>,
    memory: Option<String>,
    expect: Option<JsExpect>,
    /// Any of these outcomes: "ok" or an error kind.
    expect_any: Option<Vec<String>>,
    console_lacks: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsExpect {
    error: Option<String>,
    result: Option<Json>,
}

fn outcome_kind(result: &Result<String, RunError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(RunError::Timeout(_)) => "timeout",
        Err(RunError::OutOfMemory(_)) => "memory",
        Err(RunError::StackOverflow) => "stack-overflow",
        Err(RunError::OutputLimit(_)) => "output",
        Err(RunError::ResultTooLarge { .. }) => "result",
        Err(RunError::Script(_)) => "exception",
        Err(RunError::Trap(_)) => "trap",
        Err(RunError::Cancelled) => "cancelled",
    }
}

#[test]
fn js_corpus() {
    let cases: Vec<JsCase> = corpus("js.toml");
    let world = World::new();
    world
        .secrets
        .set("api_token", "tok-canary-2718281828")
        .expect("secret");
    let policy = "version = 1\n[[allow]]\ncall = \"log.write\"\nwhere = { message = { in = [\"safe\"] } }\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://allowed.example/\"]\nmethod = [\"GET\"]\n[[allow]]\ncall = \"memory.recall\"\n";
    let mut failures = Vec::new();
    for case in &cases {
        let limits = RunLimits {
            timeout: case
                .timeout
                .as_deref()
                .map_or(std::time::Duration::from_secs(2), |t| {
                    clambot::size::parse_duration(t).expect("timeout")
                }),
            memory: case
                .memory
                .as_deref()
                .map_or(32 << 20, |m| clambot::size::parse_size(m).expect("memory")),
            max_output: 64 * 1024,
            ..RunLimits::default()
        };
        let mut request = RunRequest::new(case.source.clone());
        request.limits = limits;
        request.gate = world.gate(policy);
        let outcome = common::runtime().block_on(world.sandbox.run(&request));
        let kind = outcome_kind(&outcome.result);
        let fail = |why: String| {
            format!(
                "{}: {why} (outcome {kind}: {:?})",
                case.name, outcome.result
            )
        };
        if let Some(any) = &case.expect_any
            && !any.iter().any(|k| k == kind)
        {
            failures.push(fail(format!("expected one of {any:?}")));
        }
        if let Some(expect) = &case.expect {
            if let Some(error) = &expect.error
                && error != kind
            {
                failures.push(fail(format!("expected {error}")));
            }
            if let Some(result) = &expect.result {
                let got: Option<Json> = outcome
                    .result
                    .as_ref()
                    .ok()
                    .and_then(|t| serde_json::from_str(t).ok());
                if got.as_ref() != Some(result) {
                    failures.push(fail(format!("expected the result {result}")));
                }
            }
        }
        if let Some(lacks) = &case.console_lacks
            && outcome.console.text().contains(lacks.as_str())
        {
            failures.push(fail(format!("the console contains `{lacks}`")));
        }
        // Whatever happened, the host keeps serving.
        let after = common::runtime().block_on(world.sandbox.run(&RunRequest::new("return 1")));
        if after.result.as_deref() != Ok("1") {
            failures.push(format!(
                "{}: the host stopped serving: {:?}",
                case.name, after.result
            ));
        }
    }
    report("js", cases.len(), &failures);
}

// ---------------------------------------------------------------- policy

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyCase {
    name: String,
    text: String,
    expect: Option<PolicyExpect>,
    expect_any: Option<Vec<String>>,
    deny_call: Option<(String, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PolicyExpect {
    Accept(String),
    Error { error: String, line: Option<usize> },
}

#[test]
fn policy_corpus() {
    let cases: Vec<PolicyCase> = corpus("policy.toml");
    let mut failures = Vec::new();
    for case in &cases {
        let parsed = Policy::parse("adversarial.toml", &case.text);
        let kind = if parsed.is_ok() { "accept" } else { "error" };
        if let Some(any) = &case.expect_any
            && !any.iter().any(|k| k == kind)
        {
            failures.push(format!(
                "{}: expected one of {any:?}, got {kind}",
                case.name
            ));
        }
        match (&case.expect, &parsed) {
            (Some(PolicyExpect::Accept(word)), Err(e)) if word == "accept" => {
                failures.push(format!("{}: expected accept, got {e:?}", case.name));
            }
            (Some(PolicyExpect::Error { .. }), Ok(_)) => {
                failures.push(format!("{}: expected an error, it was accepted", case.name));
            }
            (Some(PolicyExpect::Error { error, line }), Err(e)) => {
                let found = e.diagnostics.iter().any(|d| {
                    d.message.contains(error.as_str()) && line.is_none_or(|l| d.line == l)
                });
                if !found {
                    failures.push(format!(
                        "{}: expected an error containing `{error}` at line {line:?}, got {:?}",
                        case.name, e.diagnostics
                    ));
                }
            }
            _ => {}
        }
        if let (Some((function, args)), Ok(policy)) = (&case.deny_call, &parsed) {
            let args: Json = serde_json::from_str(args).expect("deny_call args are JSON");
            let (interface, function) = function.split_once('.').expect("interface.function");
            let decision = policy.decide(
                &Call {
                    interface,
                    function,
                    args: &args,
                },
                &mut Usage::default(),
            );
            if !matches!(decision, Decision::Deny { .. } | Decision::Invalid { .. }) {
                failures.push(format!(
                    "{}: expected a denial, got {decision:?}",
                    case.name
                ));
            }
        }
    }
    report("policy", cases.len(), &failures);
}

// ---------------------------------------------------------------- secrets

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretCase {
    name: String,
    source: String,
}

const CANARY: &str = "sk-canary-d34db33f-5ec2e7";

#[test]
fn secret_leak_corpus() {
    let cases: Vec<SecretCase> = corpus("secrets.toml");
    let world = World::new();
    world
        .secrets
        .set("api_token", CANARY)
        .expect("plant the canary");
    let server = Server::start("127.0.0.1", 0, |seen| {
        let auth = seen.header("authorization").unwrap_or("").to_owned();
        match seen.path.as_str() {
            "/echo-auth" => Reply::text(200, "text/plain", auth),
            "/echo-header" => Reply::Respond {
                status: 200,
                headers: vec![("x-echo".into(), auth)],
                body: Vec::new(),
            },
            _ => Reply::text(200, "text/plain", format!("{seen:?}")),
        }
    });
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\nsecrets = [\"api_token\"]\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://elsewhere.example/**\"]\n[[allow]]\ncall = \"memory.*\"\n[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n[[allow]]\ncall = \"secrets.*\"\n[[allow]]\ncall = \"cron.*\"\n[net]\nallow-private = [\"{addr}\"]\n",
        port = server.port(),
        addr = server.addr
    );
    let mut failures = Vec::new();
    for case in &cases {
        let source = format!(
            "const URL = 'http://127.0.0.1:{}';\n{}",
            server.port(),
            case.source
        );
        let outcome = world.run(&policy, &source);
        let shown = format!("{:?}\n{}", outcome.result, outcome.console.text());
        if shown.contains(CANARY) {
            failures.push(format!(
                "{}: the canary reached the script: {shown}",
                case.name
            ));
        }
        if let Err(RunError::Trap(trap)) = &outcome.result {
            failures.push(format!("{}: trapped: {trap}", case.name));
        }
        // Cron jobs from one case would collide by name with the next.
        world.run(
            &policy,
            "for (const j of await cron.list()) await cron.remove(j.id)",
        );
    }
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.header("authorization") == Some(&format!("Bearer {CANARY}"))),
        "the secret was injected on the wire (the cases exercised the real path)"
    );
    for file in files(world.dir.path()) {
        if file.ends_with("secrets.json") {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap_or_default();
        if bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()) {
            failures.push(format!("{} holds the canary", file.display()));
        }
    }
    report("secrets", cases.len(), &failures);
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

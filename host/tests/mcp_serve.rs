//! `clambot mcp serve` driven by the official MCP Python SDK (`mcp` from PyPI,
//! installed by scripts/install-test-deps.sh into tests/mcp-client/.venv) as a
//! desktop client would: the tools it offers, a script's result, logs and calls,
//! a denial named by its rule, an `[[ask]]` answered through elicitation (yes
//! and no) and refused for a client that cannot ask, and the saved clams.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as Json, json};

fn python() -> PathBuf {
    let python = common::repo_root().join("tests/mcp-client/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing; run scripts/install-test-deps.sh",
        python.display()
    );
    python
}

/// Runs the plan against `clambot mcp serve --policy POLICY` with `home`.
fn drive(home: &Path, policy: &Path, plan: &Json) -> Json {
    std::fs::create_dir_all(home).expect("home");
    let _ = std::os::unix::fs::symlink(common::cache_dir(), home.join("cache"));
    let output = Command::new(python())
        .arg(common::repo_root().join("tests/mcp-client/drive.py"))
        .arg(plan.to_string())
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_clambot"))
        .args(["mcp", "serve", "--policy"])
        .arg(policy)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CLAMBOT_HOME", home)
        .env("HOME", home)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the client failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn policy(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("policy.toml");
        std::fs::write(&path, format!("version = 1\n{text}")).expect("write");
        path
    }

    fn drive(&self, policy: &str, elicitation: &str, calls: Json) -> Json {
        let policy = self.policy(policy);
        drive(
            &self.home(),
            &policy,
            &json!({ "calls": calls, "elicitation": elicitation }),
        )
    }
}

fn run_script(source: &str) -> Json {
    json!({ "tool": "run_script", "args": { "source": source, "args": { "n": 41 } } })
}

#[test]
fn a_client_sees_the_three_tools_and_gets_a_scripts_result_logs_and_calls() {
    let world = World::new();
    let got = world.drive(
        "[[allow]]\ncall = \"log.write\"\n",
        "none",
        json!([run_script(
            "console.log('thinking'); await log.write('info', 'noted'); return { answer: args.n + 1 };"
        )]),
    );
    assert_eq!(got["server"], "clambot", "{got}");
    assert_eq!(
        got["tools"],
        json!(["run_script", "list_clams", "run_clam"])
    );
    let call = &got["calls"][0];
    assert_eq!(call["is_error"], false, "{call}");
    let report = &call["structured"];
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["result"], json!({ "answer": 42 }));
    assert!(
        report["console"]
            .as_str()
            .unwrap_or_default()
            .contains("thinking"),
        "{report}"
    );
    assert_eq!(report["calls"][0]["function"], "log.write", "{report}");
    assert_eq!(report["calls"][0]["verdict"], "allow", "{report}");
}

#[test]
fn a_denied_call_is_reported_with_its_rule_under_the_owners_policy() {
    let world = World::new();
    let got = world.drive(
        "",
        "none",
        json!([run_script("return await fs.readText('notes.txt');")]),
    );
    let call = &got["calls"][0];
    assert_eq!(call["is_error"], true, "{call}");
    let report = &call["structured"];
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["error"]["kind"], "denied", "{report}");
    assert_eq!(report["calls"][0]["rule"], "default-deny", "{report}");
    assert_eq!(report["calls"][0]["verdict"], "deny", "{report}");
}

const ASK: &str = "[[ask]]\ncall = \"log.write\"\n";
const ASKED: &str = "await log.write('info', 'may I?'); return 'done';";

#[test]
fn an_ask_is_answered_by_elicitation_when_the_client_can_ask() {
    let world = World::new();
    let got = world.drive(ASK, "accept", json!([run_script(ASKED)]));
    let report = &got["calls"][0]["structured"];
    assert_eq!(report["ok"], true, "{got}");
    assert_eq!(report["calls"][0]["verdict"], "approved", "{report}");
    let asked = got["asked"][0].as_str().unwrap_or_default();
    assert!(asked.contains("log.write"), "{asked}");
    assert!(asked.contains("[[ask]] log.write"), "{asked}");
}

#[test]
fn an_ask_the_person_declines_is_refused() {
    let world = World::new();
    let got = world.drive(ASK, "decline", json!([run_script(ASKED)]));
    let report = &got["calls"][0]["structured"];
    assert_eq!(report["ok"], false, "{got}");
    assert_eq!(report["calls"][0]["verdict"], "rejected", "{report}");
    assert_eq!(got["asked"].as_array().map(Vec::len), Some(1));
}

#[test]
fn an_ask_is_refused_naming_the_rule_when_the_client_cannot_ask() {
    let world = World::new();
    let got = world.drive(ASK, "none", json!([run_script(ASKED)]));
    let report = &got["calls"][0]["structured"];
    assert_eq!(report["ok"], false, "{got}");
    let reason = report["calls"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("[[ask]] log.write"), "{reason}");
    assert!(reason.contains("cannot ask"), "{reason}");
}

#[test]
fn saved_clams_are_listed_and_run() {
    let world = World::new();
    let store = clambot::agent::clams::ClamStore::new(world.home().join("clams"), Vec::new());
    store
        .save(&clambot::agent::clams::NewClam {
            name: "greet",
            description: "greets someone",
            request: "greet Ada",
            script: "return { greeting: `Hello, ${args.name}!` };",
            inputs: &json!({ "name": "Ada" }),
            calls: Vec::new(),
            replaces: None,
        })
        .expect("saved");
    let got = world.drive(
        "",
        "none",
        json!([
            { "tool": "list_clams", "args": {} },
            { "tool": "run_clam", "args": { "name": "greet", "args": { "name": "Grace" } } },
            { "tool": "run_clam", "args": { "name": "greet" } },
            { "tool": "run_clam", "args": { "name": "nope" } },
        ]),
    );
    let list = &got["calls"][0]["structured"]["clams"];
    assert_eq!(list[0]["name"], "greet", "{got}");
    assert_eq!(
        got["calls"][1]["structured"]["result"],
        json!({ "greeting": "Hello, Grace!" })
    );
    assert_eq!(
        got["calls"][2]["structured"]["result"],
        json!({ "greeting": "Hello, Ada!" })
    );
    assert_eq!(got["calls"][3]["is_error"], true, "{got}");
}

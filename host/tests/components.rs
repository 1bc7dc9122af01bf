//! Tool components through the real guest and gate: the Rust example tool
//! (`tools/textkit`) loaded from disk, pinned, called from JavaScript, and making
//! its own http calls, which the gate judges under the tool's identity.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clambot::components::{Refusal, Toolbox};
use clambot::gate::approver::NonInteractive;
use clambot::gate::audit::Verdict;
use clambot::gate::grants::Grants;
use clambot::gate::redact::Redactor;
use clambot::gate::{GateSetup, Implementations};
use clambot::net::Resolver;
use clambot::policy::Policy;
use clambot::sandbox::{RunOutcome, RunRequest, Sandbox, SandboxConfig};
use clambot::secrets::SecretStore;
use clambot::store::Store;
use clambot::tools::http::{Http, HttpLimits};
use common::http_server::{Reply, Server};
use common::world::TableResolver;
use serde_json::{Value as Json, json};

fn textkit_component() -> PathBuf {
    common::repo_root().join("tools/textkit/textkit.wasm")
}

fn textkit_sha256() -> String {
    clambot::sha256_hex(&std::fs::read(textkit_component()).expect("the committed component"))
}

/// A temporary tools directory holding `textkit/textkit.wasm` (optionally altered).
fn tools_dir(alter: impl FnOnce(&mut Vec<u8>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = std::fs::read(textkit_component()).expect("the committed component");
    alter(&mut bytes);
    std::fs::create_dir_all(dir.path().join("textkit")).expect("mkdir");
    std::fs::write(dir.path().join("textkit/textkit.wasm"), bytes).expect("write");
    dir
}

struct Setup {
    _state: tempfile::TempDir,
    store: Arc<Store>,
    resolver: Arc<TableResolver>,
    host: Implementations,
}

fn setup() -> Setup {
    let state = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(&state.path().join("data/clambot.db")).expect("database"));
    let secrets = Arc::new(SecretStore::open(&state.path().join("data/secrets.json")));
    let resolver = TableResolver::new();
    let http = Http::with(
        Arc::clone(&resolver) as Arc<dyn Resolver>,
        HttpLimits::default(),
        Arc::clone(&secrets),
    );
    let host = clambot::tools::standard(&state.path().join("workspace"), &store, &secrets, http)
        .expect("host tools");
    Setup {
        _state: state,
        store,
        resolver,
        host,
    }
}

impl Setup {
    fn toolbox(&self, policy: &Policy, dir: &Path) -> Toolbox {
        Toolbox::load(policy, &[dir.to_path_buf()], &self.host).expect("toolbox")
    }

    /// Runs `source` with the tools `policy` loads from `dir`.
    fn run(&self, policy_text: &str, dir: &Path, source: &str) -> (RunOutcome, Toolbox) {
        let policy = Policy::parse("policy.toml", policy_text).expect("the policy parses");
        let toolbox = self.toolbox(&policy, dir);
        let mut implementations = self.host.clone();
        toolbox.register(&mut implementations);
        let sandbox = Sandbox::with_implementations(
            &SandboxConfig {
                cache_dir: Some(common::cache_dir()),
                max_concurrent_runs: 2,
            },
            implementations,
        )
        .expect("sandbox");
        let mut request = RunRequest::new(source);
        request.gate = GateSetup {
            policy: Arc::new(policy),
            grants: Arc::new(Grants::open(Arc::clone(&self.store))),
            approver: Arc::new(NonInteractive),
            audit: None,
            redactor: Arc::new(Redactor::default()),
        };
        (common::runtime().block_on(sandbox.run(&request)), toolbox)
    }

    fn ok(&self, policy: &str, dir: &Path, source: &str) -> (Json, RunOutcome) {
        let (outcome, toolbox) = self.run(policy, dir, source);
        assert!(
            toolbox.named_refusals().next().is_none(),
            "{:?}",
            toolbox.refused
        );
        let text = match &outcome.result {
            Ok(text) => text.clone(),
            Err(e) => panic!(
                "the script failed: {e}\nconsole: {}",
                outcome.console.text()
            ),
        };
        (serde_json::from_str(&text).expect("JSON"), outcome)
    }
}

fn textkit_table(imports: &str) -> String {
    format!(
        "[tools.textkit]\nsha256 = \"{}\"\nimports = [{imports}]\ntimeout = \"5s\"\n",
        textkit_sha256()
    )
}

#[test]
fn allowed_tool_calls_run_and_are_recorded_under_their_tool_name() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.textkit.count-words\"\n[[allow]]\ncall = \"tools.textkit.slugify\"\n",
        textkit_table("\"http\"")
    );
    let (out, outcome) = setup.ok(
        &policy,
        dir.path(),
        r#"const stats = await tools.textkit.countWords("the cat and the hat\nthe end", 2);
           const slug = tools.textkit.slugifySync("Hello, Wörld -- 2026!", null);
           const short = await tools.textkit["slugify"]("Hello, World", 5);
           return { stats, slug, short };"#,
    );
    assert_eq!(
        out,
        json!({
            "stats": { "words": 7, "lines": 2, "chars": 27, "top": [["the", 3], ["and", 1]] },
            "slug": "hello-w-rld-2026",
            "short": "hello",
        })
    );
    let calls: Vec<(&str, &Verdict)> = outcome
        .calls
        .iter()
        .map(|c| (c.function.as_str(), &c.verdict))
        .collect();
    assert_eq!(
        calls,
        [
            ("tools.textkit.count-words", &Verdict::Allow),
            ("tools.textkit.slugify", &Verdict::Allow),
            ("tools.textkit.slugify", &Verdict::Allow),
        ]
    );
}

#[test]
fn a_tool_call_no_rule_allows_is_a_denial_naming_the_rule() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.textkit.slugify\"\n",
        textkit_table("\"http\"")
    );
    let (out, _) = setup.ok(
        &policy,
        dir.path(),
        r#"try { await tools.textkit.countWords("a", 1); return "ran"; }
           catch (e) { return { code: e.code, rule: e.rule, message: e.message }; }"#,
    );
    assert_eq!(out["code"], "denied", "{out}");
    assert_eq!(out["rule"], "default-deny");
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("tools.textkit.count-words"),
        "{out}"
    );
}

#[test]
fn a_tool_error_and_bad_arguments_reach_the_script_as_tool_errors() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.textkit.*\"\n",
        textkit_table("\"http\"")
    );
    let (out, _) = setup.ok(
        &policy,
        dir.path(),
        r#"const attempt = async (f) => { try { return { ok: await f() }; } catch (e) { return { code: e.code, message: e.message }; } };
           return [
             await attempt(() => tools.textkit.slugify("!!!", null)),
             await attempt(() => tools.textkit.countWords("a", 300)),
             await attempt(() => tools.textkit.countWords(42, 1)),
             await attempt(() => tools.textkit.nope()),
             await attempt(() => tools.missing.anything()),
           ];"#,
    );
    let codes: Vec<&str> = out
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["code"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes,
        ["failed", "invalid", "invalid", "invalid", "not-found"],
        "{out}"
    );
    let message = |i: usize| out[i]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message(0).contains("no letters or digits"), "{out}");
    assert!(message(1).contains("300 is out of range for u8"), "{out}");
    assert!(
        message(2).contains("expected a string, got a number"),
        "{out}"
    );
    assert!(
        message(3).contains("has no function `nope`") && message(3).contains("countWords"),
        "{out}"
    );
    assert!(message(4).contains("no tool `missing` is loaded"), "{out}");
}

fn title_server() -> Server {
    Server::start("127.0.0.1", 0, |_| {
        Reply::text(
            200,
            "text/html",
            "<html><head><title> Tide  tables </title></head></html>",
        )
    })
}

#[test]
fn a_tools_own_http_call_is_judged_under_the_tools_identity() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let server = title_server();
    setup.resolver.answer("tides.example", &["127.0.0.1"]);
    let url = format!("http://tides.example:{}/today", server.port());
    let base = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.textkit.page-title\"\n[net]\nallow-private = [\"{}\"]\n",
        textkit_table("\"http\""),
        server.addr
    );
    let script = format!(
        r#"try {{ return {{ ok: await tools.textkit.pageTitle({url:?}) }}; }}
           catch (e) {{ return {{ code: e.code, message: e.message }}; }}"#
    );

    // A rule for the script's own fetches grants the tool nothing.
    let script_rule =
        format!("{base}[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://tides.example:*/**\"]\n");
    let (out, outcome) = setup.ok(&script_rule, dir.path(), &script);
    assert_eq!(out["code"], "failed", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("denied by default-deny"),
        "{out}"
    );
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("caller = \"tools.textkit\""),
        "{out}"
    );
    assert!(server.seen().is_empty(), "nothing reached the server");
    assert_eq!(
        outcome.calls.len(),
        1,
        "the tool's denied call is its own record, not the script's"
    );

    // A rule for the tool's calls lets it through.
    let tool_rule = format!(
        "{base}[[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.textkit\"\nurl = [\"http://tides.example:*/**\"]\n"
    );
    let (out, _) = setup.ok(&tool_rule, dir.path(), &script);
    assert_eq!(out, json!({ "ok": "Tide tables" }));
    assert_eq!(server.seen().len(), 1);

    // ...and does not let the script fetch.
    let (out, _) = setup.ok(
        &tool_rule,
        dir.path(),
        &format!(
            r#"try {{ await http.fetch({{ method: 'GET', url: {url:?}, headers: [], body: null, bearerSecret: null }}); return "fetched"; }}
               catch (e) {{ return e.code; }}"#
        ),
    );
    assert_eq!(out, "denied");
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_tampered_component_is_refused_with_both_hashes() {
    let setup = setup();
    let dir = tools_dir(|bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
    });
    let policy = Policy::parse(
        "policy.toml",
        &format!("version = 1\n{}", textkit_table("\"http\"")),
    )
    .expect("policy");
    let toolbox = setup.toolbox(&policy, dir.path());
    assert!(toolbox.tools.is_empty());
    let [Refusal::HashMismatch { pinned, actual, .. }] = toolbox.refused.as_slice() else {
        panic!("{:?}", toolbox.refused);
    };
    assert_eq!(*pinned, textkit_sha256());
    let message = toolbox.refused[0].to_string();
    assert!(
        message.contains(pinned.as_str()) && message.contains(actual.as_str()),
        "{message}"
    );
}

#[test]
fn a_component_importing_an_ungranted_interface_is_refused_naming_it() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let policy = Policy::parse(
        "policy.toml",
        &format!("version = 1\n{}", textkit_table("")),
    )
    .expect("policy");
    let toolbox = setup.toolbox(&policy, dir.path());
    assert!(toolbox.tools.is_empty());
    let message = toolbox
        .refused
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        message.contains("imports `clambot:host/http@0.1.0`")
            && message.contains("add \"http\" to `imports`"),
        "{message}"
    );
}

#[test]
fn components_policy_does_not_name_are_found_but_not_loaded() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let policy = Policy::parse("policy.toml", "version = 1\n").expect("policy");
    let toolbox = setup.toolbox(&policy, dir.path());
    assert!(toolbox.tools.is_empty());
    assert_eq!(toolbox.found.len(), 1);
    let message = toolbox.refused[0].to_string();
    assert!(
        message.contains(&format!("sha256 = \"{}\"", textkit_sha256())),
        "{message}"
    );
    assert_eq!(toolbox.named_refusals().count(), 0);
}

#[test]
fn signatures_come_from_the_component_with_the_wit_docs() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    // The WIT beside the component supplies the doc comments.
    std::fs::create_dir_all(dir.path().join("textkit/wit")).expect("mkdir");
    std::fs::copy(
        common::repo_root().join("tools/textkit/wit/textkit.wit"),
        dir.path().join("textkit/wit/textkit.wit"),
    )
    .expect("copy");
    let policy = Policy::parse(
        "policy.toml",
        &format!("version = 1\n{}", textkit_table("\"http\"")),
    )
    .expect("policy");
    let toolbox = setup.toolbox(&policy, dir.path());
    let tool = toolbox.get("textkit").expect("loaded");
    let text = clambot::components::signature::signatures(tool, &tool.docs());
    assert!(
        text.contains("tools.textkit.countWords(text: string, top: number /* u8 */): Promise<{ \"words\": number /* u32 */;"),
        "{text}"
    );
    assert!(
        text.contains("/** Counts words, lines and characters"),
        "{text}"
    );
    assert!(
        text.contains("tools.textkit.slugify(text: string, maxLength: number /* u32 */ | null): Promise<string>; // throws ToolError"),
        "{text}"
    );
}

#[test]
fn a_component_importing_wasi_filesystem_is_refused_naming_the_import() {
    let setup = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = common::repo_root().join("host/tests/fixtures/fs-reader/fs-reader.wasm");
    let bytes = std::fs::read(&fixture).expect("the fixture component");
    std::fs::create_dir_all(dir.path().join("fs-reader")).expect("mkdir");
    std::fs::write(dir.path().join("fs-reader/fs-reader.wasm"), &bytes).expect("write");
    let policy = Policy::parse(
        "policy.toml",
        &format!(
            "version = 1\n[tools.fs-reader]\nsha256 = \"{}\"\n",
            clambot::sha256_hex(&bytes)
        ),
    )
    .expect("policy");
    let toolbox = setup.toolbox(&policy, dir.path());
    assert!(toolbox.tools.is_empty());
    let message = toolbox
        .refused
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(message.contains("imports `wasi:filesystem/"), "{message}");
    assert!(
        message.contains("tools get no files, sockets or outbound HTTP"),
        "{message}"
    );
}

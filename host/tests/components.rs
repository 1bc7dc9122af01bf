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
use clambot::sandbox::{RunOutcome, RunRequest};
use clambot::secrets::SecretStore;
use clambot::store::Store;
use clambot::tools::http::{Http, HttpLimits};
use common::http_server::{Reply, Server};
use common::world::TableResolver;
use proptest::prelude::*;
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
        Toolbox::load(
            policy,
            &[dir.to_path_buf()],
            &self.host,
            Some(&common::cache_dir()),
        )
        .expect("toolbox")
    }

    /// Runs `source` with the tools `policy` loads from `dir`.
    fn run(&self, policy_text: &str, dir: &Path, source: &str) -> (RunOutcome, Toolbox) {
        let policy = Policy::parse("policy.toml", policy_text).expect("the policy parses");
        let toolbox = self.toolbox(&policy, dir);
        let mut implementations = self.host.clone();
        toolbox.register(&mut implementations);
        let sandbox = common::sandbox_with(implementations, 2);
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

/// Runs `script`, which catches one call and returns its `{code, rule,
/// message}` (with whatever else it found), and checks that the call was
/// denied by default with `function` named. Returns what the script returned.
fn denied_by_default(
    setup: &Setup,
    policy: &str,
    dir: &Path,
    script: &str,
    function: &str,
) -> Json {
    let (out, _) = setup.ok(policy, dir, script);
    assert_eq!(out["code"], "denied", "{out}");
    assert_eq!(out["rule"], "default-deny");
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains(function),
        "{out}"
    );
    out
}

#[test]
fn a_tool_call_no_rule_allows_is_a_denial_naming_the_rule() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.textkit.slugify\"\n",
        textkit_table("\"http\"")
    );
    denied_by_default(
        &setup,
        &policy,
        dir.path(),
        r#"try { await tools.textkit.countWords("a", 1); return "ran"; }
           catch (e) { return { code: e.code, rule: e.rule, message: e.message }; }"#,
        "tools.textkit.count-words",
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
fn concurrent_tool_calls_overlap_each_in_its_own_instance_with_its_own_limits() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let setup = setup();
    let dir = tools_dir(|_| {});
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (now_in, peak_in) = (Arc::clone(&now), Arc::clone(&peak));
    let server = Server::start("127.0.0.1", 0, move |seen| {
        peak_in.fetch_max(now_in.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(400));
        now_in.fetch_sub(1, Ordering::SeqCst);
        Reply::text(200, "text/html", format!("<title>{}</title>", seen.path))
    });
    setup.resolver.answer("tides.example", &["127.0.0.1"]);
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.textkit.page-title\"\n[[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.textkit\"\nurl = [\"http://tides.example:*/**\"]\n[net]\nallow-private = [\"{}\"]\n",
        textkit_table("\"http\""),
        server.addr
    );
    let base = format!("http://tides.example:{}", server.port());
    let started = std::time::Instant::now();
    let (out, outcome) = setup.ok(
        &policy,
        dir.path(),
        &format!(
            r#"return await Promise.all(["/a", "/b", "/c", "/d"].map((p) => tools.textkit.pageTitle({base:?} + p)));"#
        ),
    );
    assert_eq!(out, json!(["/a", "/b", "/c", "/d"]));
    assert_eq!(
        peak.load(Ordering::SeqCst),
        4,
        "the four tool calls overlapped"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1600),
        "{:?}",
        started.elapsed()
    );
    // Each tool call and the fetch it made are on record.
    assert_eq!(outcome.calls.len(), 8, "{:?}", outcome.calls);
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
    // The tool's denied call is in the run's record, under the tool's name, so
    // a front end can suggest the `caller` rule; the script's call follows it.
    let calls: Vec<(&str, String, &Verdict)> = outcome
        .calls
        .iter()
        .map(|c| (c.function.as_str(), c.caller.to_string(), &c.verdict))
        .collect();
    assert_eq!(
        calls,
        [
            ("http.fetch", "tools.textkit".to_owned(), &Verdict::Deny),
            (
                "tools.textkit.page-title",
                "script".to_owned(),
                &Verdict::Allow
            ),
        ]
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
fn a_tools_own_calls_draw_on_the_runs_call_budget() {
    let setup = setup();
    let dir = tools_dir(|_| {});
    let server = title_server();
    setup.resolver.answer("tides.example", &["127.0.0.1"]);
    let url = format!("http://tides.example:{}/today", server.port());
    // Three calls in all: the script's first tool call, the tool's fetch, the
    // script's second tool call. The tool's second fetch is the fourth.
    let policy = format!(
        "version = 1\n[run]\nmax-calls = 3\n{}[[allow]]\ncall = \"tools.textkit.page-title\"\n[[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.textkit\"\nurl = [\"http://tides.example:*/**\"]\n[net]\nallow-private = [\"{}\"]\n",
        textkit_table("\"http\""),
        server.addr
    );
    let (out, outcome) = setup.ok(
        &policy,
        dir.path(),
        &format!(
            r#"const first = await tools.textkit.pageTitle({url:?});
               try {{ await tools.textkit.pageTitle({url:?}); return "fetched twice"; }}
               catch (e) {{ return {{ first, code: e.code, message: e.message }}; }}"#
        ),
    );
    assert_eq!(out["first"], "Tide tables", "{out}");
    assert_eq!(out["code"], "failed", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 3 host calls"),
        "{out}"
    );
    assert_eq!(server.seen().len(), 1, "the fourth call never left");
    assert_eq!(
        outcome
            .calls
            .iter()
            .filter(|c| c.verdict == Verdict::Limit)
            .map(|c| (c.function.as_str(), c.caller.to_string()))
            .collect::<Vec<_>>(),
        [("http.fetch", "tools.textkit".to_owned())]
    );
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

// ---- The JSON ⇄ WIT mapping, every type, through a real component ----

fn echo_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(common::repo_root().join("host/tests/fixtures/echo/echo.wasm"))
        .expect("the fixture component");
    std::fs::create_dir_all(dir.path().join("echo")).expect("mkdir");
    std::fs::write(dir.path().join("echo/echo.wasm"), &bytes).expect("write");
    let policy = format!(
        "version = 1\n[tools.echo]\nsha256 = \"{}\"\n[[allow]]\ncall = \"tools.echo.echo\"\n",
        clambot::sha256_hex(&bytes)
    );
    (dir, policy)
}

/// Calls the echo tool with `value` (JSON) and returns what came back, or the
/// `ToolError`'s `{code, message}`.
fn echo(setup: &Setup, dir: &Path, policy: &str, value: &Json) -> Json {
    let (out, _) = setup.ok(
        policy,
        dir,
        &format!(
            "try {{ return {{ ok: await tools.echo.echo({value}) }}; }} catch (e) {{ return {{ code: e.code, message: e.message }}; }}"
        ),
    );
    out
}

fn sample() -> Json {
    json!({
        "flag": true, "tiny": -128, "byte": 255, "short": -32768, "port": 65535,
        "int": -2147483648i64, "count": 4294967295u64, "big": -9007199254740991i64,
        "huge": 9007199254740991u64, "single": 1.5, "double": -0.1, "letter": "🦀",
        "text": "tab\there \"quoted\"", "bytes": [0, 1, 255], "color": "green",
        "perms": ["read", "exec"], "shape": { "circle": 2.5 }, "maybe": null,
        "outcome": { "err": "nope" }, "pair": ["x", -7], "names": ["a", "b"],
    })
}

#[test]
fn every_wit_type_round_trips_and_bad_json_is_named_precisely() {
    let setup = setup();
    let (dir, policy) = echo_dir();
    let value = sample();
    let out = echo(&setup, dir.path(), &policy, &value);
    assert!(same(&out, &json!({ "ok": value })), "{out}");

    let with = |field: &str, bad: Json| {
        let mut value = sample();
        value[field] = bad;
        echo(&setup, dir.path(), &policy, &value)
    };
    for (field, bad, expected) in [
        ("byte", json!(256), "value.byte: 256 is out of range for u8"),
        (
            "tiny",
            json!(-129),
            "value.tiny: -129 is out of range for i8",
        ),
        (
            "count",
            json!(-1),
            "value.count: -1 is out of range for u32",
        ),
        (
            "port",
            json!(1.5),
            "value.port: expected an integer (u16), got a number",
        ),
        (
            "text",
            json!(5),
            "value.text: expected a string, got a number",
        ),
        (
            "letter",
            json!("ab"),
            "value.letter: expected a one-character string",
        ),
        (
            "color",
            json!("purple"),
            "value.color: `purple` is not one of: red, green, blue",
        ),
        (
            "perms",
            json!(["read", "fly"]),
            "value.perms: \"fly\" is not one of: read, write, exec",
        ),
        (
            "shape",
            json!({ "triangle": 3 }),
            "value.shape: unknown case `triangle`",
        ),
        (
            "shape",
            json!({ "empty": 1 }),
            "value.shape: case `empty` takes no payload",
        ),
        (
            "outcome",
            json!({ "maybe": 1 }),
            "value.outcome: expected {\"ok\": …} or {\"err\": …}",
        ),
        (
            "pair",
            json!(["x"]),
            "value.pair: expected an array of 2 items",
        ),
        (
            "bytes",
            json!([1, 300]),
            "value.bytes[1]: 300 is out of range for u8",
        ),
        ("flag", Json::Null, "value.flag: missing"),
    ] {
        let out = with(field, bad);
        assert_eq!(out["code"], "invalid", "{field}: {out}");
        let message = out["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("tools.echo.echo: {expected}")),
            "{field}: {message}"
        );
    }
    let mut unknown = sample();
    unknown["extra"] = json!(1);
    let out = echo(&setup, dir.path(), &policy, &unknown);
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field `extra`"),
        "{out}"
    );
}

/// Equal as JavaScript sees JSON: numbers by value (`0` is `0.0`). Integers
/// are exact; a non-integer may come back one unit in the last place off,
/// because QuickJS's number printing is not always the shortest round trip
/// (found by this test: -4.013629943373825e-59 came back ...8255e-59).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_f64(), y.as_f64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(f), Some(g)) => {
                    f == g || (f - g).abs() <= f.abs().max(g.abs()) * 4.0 * f64::EPSILON
                }
                _ => x == y,
            }
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// JavaScript numbers are doubles: 64-bit integers round-trip up to 2^53.
const JS_SAFE: i64 = (1 << 53) - 1;

fn arbitrary_everything() -> impl Strategy<Value = Json> {
    let ints = (
        any::<bool>(),
        any::<i8>(),
        any::<u8>(),
        any::<i16>(),
        any::<u16>(),
        any::<i32>(),
        any::<u32>(),
        -JS_SAFE..=JS_SAFE,
        0..=JS_SAFE,
    );
    let rest = (
        any::<f32>().prop_filter("finite", |f| f.is_finite()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        any::<char>(),
        ".{0,24}",
        proptest::collection::vec(any::<u8>(), 0..16),
        prop_oneof![Just("red"), Just("green"), Just("blue")],
        proptest::sample::subsequence(vec!["read", "write", "exec"], 0..=3),
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|r| json!({ "circle": r })),
            any::<u32>().prop_map(|s| json!({ "square": s })),
            Just(json!("empty")),
        ],
        proptest::option::of(".{0,8}"),
        prop_oneof![
            any::<u32>().prop_map(|n| json!({ "ok": n })),
            ".{0,8}".prop_map(|e| json!({ "err": e }))
        ],
        (".{0,8}", any::<i32>()),
        proptest::collection::vec(".{0,6}", 0..4),
    );
    (ints, rest).prop_map(|(i, r)| {
        json!({
            "flag": i.0, "tiny": i.1, "byte": i.2, "short": i.3, "port": i.4, "int": i.5,
            "count": i.6, "big": i.7, "huge": i.8, "single": f64::from(r.0), "double": r.1,
            "letter": r.2.to_string(), "text": r.3, "bytes": r.4, "color": r.5, "perms": r.6,
            "shape": r.7, "maybe": r.8, "outcome": r.9, "pair": [r.10.0, r.10.1], "names": r.11,
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_value_of_every_type_round_trips(value in arbitrary_everything()) {
        let setup = setup();
        let (dir, policy) = echo_dir();
        let out = echo(&setup, dir.path(), &policy, &value);
        prop_assert!(same(&out, &json!({ "ok": value })), "{} != {}", out, value);
    }

    #[test]
    fn any_out_of_range_u8_is_refused_with_its_value(n in prop_oneof![256i64..=1 << 40, -(1i64 << 40)..0]) {
        let setup = setup();
        let (dir, policy) = echo_dir();
        let mut value = sample();
        value["byte"] = json!(n);
        let out = echo(&setup, dir.path(), &policy, &value);
        prop_assert_eq!(&out["code"], "invalid");
        let expected = format!("{n} is out of range for u8");
        prop_assert!(out["message"].as_str().unwrap_or_default().contains(&expected), "{}", out);
    }
}

/// A temporary tools directory holding the committed example `tools/NAME/NAME.wasm`.
fn example_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = common::repo_root().join(format!("tools/{name}/{name}.wasm"));
    std::fs::create_dir_all(dir.path().join(name)).expect("mkdir");
    std::fs::copy(&from, dir.path().join(format!("{name}/{name}.wasm"))).expect("copy");
    dir
}

/// `[tools.NAME]` pinning the committed example, with no imports.
fn example_table(name: &str) -> String {
    let bytes = std::fs::read(common::repo_root().join(format!("tools/{name}/{name}.wasm")))
        .expect("the committed component");
    format!(
        "[tools.{name}]\nsha256 = \"{}\"\n",
        clambot::sha256_hex(&bytes)
    )
}

const MARKDOWN: &str = "# Intro\n\nSee [docs](https://example.org/d \"Docs\") and ![logo](l.png).\n\n## Intro\n\n```\n# not a heading [x](y)\n```\n### Deep *one*\n";

#[test]
fn the_javascript_tool_answers_through_the_gate() {
    let setup = setup();
    let dir = example_dir("mdkit");
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.mdkit.*\"\n",
        example_table("mdkit")
    );
    let (out, outcome) = setup.ok(
        &policy,
        dir.path(),
        &format!(
            r#"const md = {MARKDOWN:?};
               let error;
               try {{ await tools.mdkit.tableOfContents(md, 9); }} catch (e) {{ error = {{ code: e.code, message: e.message }}; }}
               return {{
                 headings: await tools.mdkit.headings(md),
                 links: await tools.mdkit.links(md),
                 toc: await tools.mdkit.tableOfContents(md, 2),
                 text: await tools.mdkit.toText(md),
                 error,
               }};"#
        ),
    );
    assert_eq!(
        out["headings"],
        json!([
            {"level": 1, "text": "Intro", "slug": "intro"},
            {"level": 2, "text": "Intro", "slug": "intro-1"},
            {"level": 3, "text": "Deep one", "slug": "deep-one"},
        ])
    );
    assert_eq!(
        out["links"],
        json!([
            {"text": "docs", "url": "https://example.org/d", "title": "Docs", "image": false},
            {"text": "logo", "url": "l.png", "title": null, "image": true},
        ])
    );
    assert_eq!(out["toc"], "- [Intro](#intro)\n  - [Intro](#intro-1)");
    assert_eq!(
        out["text"],
        "Intro\n\nSee docs and logo.\n\nIntro\n\n# not a heading [x](y)\nDeep one"
    );
    // A JS `throw` in a function with a `result` is the tool's error.
    assert_eq!(out["error"]["code"], "failed", "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("max-level must be between 1 and 6, not 9"),
        "{out}"
    );
    assert_eq!(outcome.calls.len(), 5);
    assert!(
        outcome
            .calls
            .iter()
            .all(|c| c.function.starts_with("tools.mdkit.") && c.verdict == Verdict::Allow)
    );
}

#[test]
fn the_javascript_tool_is_denied_without_a_rule() {
    let setup = setup();
    let dir = example_dir("mdkit");
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.mdkit.headings\"\n",
        example_table("mdkit")
    );
    let out = denied_by_default(
        &setup,
        &policy,
        dir.path(),
        r##"const h = await tools.mdkit.headings("# A");
           try { await tools.mdkit.toText("# A"); return "ran"; }
           catch (e) { return { h, code: e.code, rule: e.rule, message: e.message }; }"##,
        "tools.mdkit.to-text",
    );
    assert_eq!(out["h"], json!([{"level": 1, "text": "A", "slug": "a"}]));
}

const CSV: &str = "city,amount,note\nOslo,700,a\nBergen,285,\nOslo,5,b\nTromsø,10.5,c\n";

#[test]
fn the_python_tool_answers_through_the_gate() {
    let setup = setup();
    let dir = example_dir("csvstats");
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.csvstats.*\"\n",
        example_table("csvstats")
    );
    let (out, outcome) = setup.ok(
        &policy,
        dir.path(),
        &format!(
            r#"const csv = {CSV:?};
               const fails = async (f) => {{ try {{ await f(); return null; }} catch (e) {{ return {{ code: e.code, message: e.message }}; }} }};
               return {{
                 summary: await tools.csvstats.summarize(csv, null),
                 groups: await tools.csvstats.groupSum(csv, "city", "amount"),
                 missingColumn: await fails(() => tools.csvstats.groupSum(csv, "town", "amount")),
                 notNumbers: await fails(() => tools.csvstats.groupSum(csv, "amount", "city")),
                 badDelimiter: await fails(() => tools.csvstats.summarize(csv, ";;")),
               }};"#
        ),
    );
    assert_eq!(
        out["summary"],
        json!([
            {"name": "city", "count": 4, "missing": 0, "distinct": 3, "numbers": null},
            {"name": "amount", "count": 4, "missing": 0, "distinct": 4, "numbers":
                {"min": 5, "max": 700, "mean": 250.125, "median": 147.75,
                 "stdev": 327.1646820282817, "sum": 1000.5}},
            {"name": "note", "count": 3, "missing": 1, "distinct": 3, "numbers": null},
        ]),
        "{out}"
    );
    assert_eq!(
        out["groups"],
        json!([["Oslo", 705], ["Bergen", 285], ["Tromsø", 10.5]])
    );
    let message = |key: &str| {
        assert_eq!(out[key]["code"], "failed", "{out}");
        out[key]["message"].as_str().unwrap_or_default().to_owned()
    };
    assert!(
        message("missingColumn").contains("no column 'town' (the columns are city, amount, note)"),
        "{out}"
    );
    assert!(
        message("notNumbers").contains("row 2: city is 'Oslo', not a number"),
        "{out}"
    );
    assert!(
        message("badDelimiter").contains("one character, not ';;'"),
        "{out}"
    );
    assert!(
        outcome
            .calls
            .iter()
            .all(|c| c.function.starts_with("tools.csvstats.") && c.verdict == Verdict::Allow)
    );
}

#[test]
fn the_python_tool_is_denied_without_a_rule() {
    let setup = setup();
    let dir = example_dir("csvstats");
    let policy = format!(
        "version = 1\n{}[[allow]]\ncall = \"tools.csvstats.summarize\"\n",
        example_table("csvstats")
    );
    let out = denied_by_default(
        &setup,
        &policy,
        dir.path(),
        r#"const columns = await tools.csvstats.summarize("a\n1\n", null);
           try { await tools.csvstats.groupSum("a,b\n1,2\n", "a", "b"); return "ran"; }
           catch (e) { return { count: columns.length, code: e.code, rule: e.rule, message: e.message }; }"#,
        "tools.csvstats.group-sum",
    );
    assert_eq!(out["count"], 1, "{out}");
}

//! `[mcp.NAME]` in policy.toml: what a reviewer sees is what the gate judges.
//! Each server tool is the call `mcp.NAME.TOOL`, denied unless a rule allows
//! it, with `where` conditions on its arguments; `policy diff` reports every
//! change to what runs (or is reached, with which secrets) as a widening; and
//! `policy explain` says what each server is.

use clambot::policy::diff::{self, Area, Direction, Verdict};
use clambot::policy::{Call, Decision, McpTransport, Policy, Usage};
use serde_json::{Value as Json, json};

const SERVER: &str = r#"
[mcp.everything]
command = "node"
args = ["server.js", "stdio"]
env = { API_KEY = { secret = "everything_key" } }
"#;

fn parse(text: &str) -> Policy {
    Policy::parse("policy.toml", &format!("version = 1\n{text}"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn decide(policy: &Policy, server: &str, tool: &str, args: Json) -> Decision {
    let interface = format!("mcp.{server}");
    policy.decide(
        &Call {
            interface: &interface,
            function: tool,
            args: &args,
        },
        &mut Usage::default(),
    )
}

fn diff_of(old: &str, new: &str) -> Vec<diff::Change> {
    diff::diff(&parse(old), &parse(new))
}

#[test]
fn a_declared_server_is_parsed_into_its_transport() {
    let policy = parse(&format!(
        "{SERVER}\n[mcp.remote]\nurl = \"https://mcp.example.com/mcp\"\nbearer-secret = \"tok\"\ntimeout = \"5s\"\nmax-result = \"64KiB\"\n"
    ));
    let servers = policy.mcp_servers();
    let everything = &servers["everything"];
    let McpTransport::Stdio { command, args, env } = &everything.transport else {
        panic!("stdio expected: {everything:?}");
    };
    assert_eq!(command, "node");
    assert_eq!(args, &["server.js", "stdio"]);
    assert_eq!(
        env.get("API_KEY").map(String::as_str),
        Some("everything_key")
    );
    assert_eq!(everything.secrets(), ["everything_key"]);
    assert_eq!(everything.line, 3);
    let remote = &servers["remote"];
    let McpTransport::Http { url, bearer_secret } = &remote.transport else {
        panic!("http expected: {remote:?}");
    };
    assert_eq!(url.as_str(), "https://mcp.example.com/mcp");
    assert_eq!(bearer_secret.as_deref(), Some("tok"));
    assert_eq!(remote.timeout, Some(std::time::Duration::from_secs(5)));
    assert_eq!(remote.max_result, Some(64 * 1024));
}

#[test]
fn a_declared_server_grants_no_tool_by_itself() {
    let policy = parse(SERVER);
    let decision = decide(&policy, "everything", "echo", json!({ "message": "hi" }));
    assert!(
        matches!(&decision, Decision::Deny { rule, .. } if rule == "default-deny"),
        "{decision:?}"
    );
}

#[test]
fn where_conditions_judge_the_tool_arguments() {
    let policy = parse(&format!(
        "{SERVER}[[allow]]\ncall = \"mcp.everything.echo\"\nwhere = {{ \"message\" = {{ prefix = \"hello\" }} }}\n"
    ));
    assert!(matches!(
        decide(
            &policy,
            "everything",
            "echo",
            json!({ "message": "hello world" })
        ),
        Decision::Allow { .. }
    ));
    let refused = decide(
        &policy,
        "everything",
        "echo",
        json!({ "message": "rm -rf" }),
    );
    assert!(
        matches!(&refused, Decision::Deny { reason, .. } if reason.contains("outside every rule")),
        "{refused:?}"
    );
    // Another tool of the same server is not covered by the rule.
    assert!(matches!(
        decide(&policy, "everything", "get-env", json!({})),
        Decision::Deny { .. }
    ));
}

#[test]
fn a_server_wildcard_covers_its_tools_and_a_deny_wins() {
    let policy = parse(&format!(
        "{SERVER}[[allow]]\ncall = \"mcp.everything.*\"\n[[deny]]\ncall = \"mcp.everything.get-env\"\nnote = \"prints the environment\"\n"
    ));
    assert!(matches!(
        decide(&policy, "everything", "get-sum", json!({ "a": 1, "b": 2 })),
        Decision::Allow { .. }
    ));
    let denied = decide(&policy, "everything", "get-env", json!({}));
    assert!(
        matches!(&denied, Decision::Deny { rule, reason } if rule.contains(":10 [[deny]] mcp.everything.get-env") && reason.contains("prints the environment")),
        "{denied:?}"
    );
}

#[test]
fn tool_names_with_dots_are_judged_whole() {
    let policy = parse(&format!(
        "{SERVER}[[allow]]\ncall = \"mcp.everything.files.read\"\n"
    ));
    assert!(matches!(
        decide(&policy, "everything", "files.read", json!({})),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        decide(&policy, "everything", "read", json!({})),
        Decision::Deny { .. }
    ));
}

#[test]
fn mcp_arguments_count_against_the_egress_budget() {
    let policy = parse(&format!(
        "[run]\nmax-egress = \"40B\"\n{SERVER}[[allow]]\ncall = \"mcp.everything.echo\"\n"
    ));
    let mut usage = Usage::default();
    let big = json!({ "message": "x".repeat(64) });
    let decision = policy.decide(
        &Call {
            interface: "mcp.everything",
            function: "echo",
            args: &big,
        },
        &mut usage,
    );
    assert!(matches!(decision, Decision::Limit { .. }), "{decision:?}");
}

#[test]
fn a_tool_component_cannot_be_given_mcp_calls() {
    let error = Policy::parse(
        "policy.toml",
        &format!(
            "version = 1\n{SERVER}[tools.kit]\nsha256 = \"{}\"\n[[allow]]\ncall = \"mcp.everything.echo\"\ncaller = \"tools.kit\"\n",
            "0".repeat(64)
        ),
    )
    .expect_err("refused");
    assert!(
        error.to_string().contains("only scripts call MCP servers"),
        "{error}"
    );
}

#[test]
fn every_change_to_what_runs_is_a_widening() {
    let url = "[mcp.remote]\nurl = \"https://mcp.example.com/mcp\"\n";
    for (old, new, why) in [
        ("", SERVER.to_owned(), "an added server"),
        (
            SERVER,
            SERVER.replace("command = \"node\"", "command = \"bash\""),
            "a changed command",
        ),
        (
            SERVER,
            SERVER.replace("\"stdio\"]", "\"stdio\", \"--all\"]"),
            "changed args",
        ),
        (
            SERVER,
            SERVER.replace("secret = \"everything_key\"", "secret = \"github_token\""),
            "another secret in the environment",
        ),
        (
            SERVER,
            SERVER.replace(
                "env = { API_KEY = { secret = \"everything_key\" } }",
                "env = { API_KEY = { secret = \"everything_key\" }, GH = { secret = \"gh\" } }",
            ),
            "an added environment variable",
        ),
        (
            url,
            url.replace("mcp.example.com", "evil.example"),
            "a changed url",
        ),
        (
            url,
            format!("{url}bearer-secret = \"tok\"\n"),
            "a bearer secret added",
        ),
        (
            SERVER,
            format!("{SERVER}timeout = \"5m\"\n"),
            "a longer call timeout",
        ),
        (
            SERVER,
            format!("{SERVER}max-result = \"100MiB\"\n"),
            "a larger result cap",
        ),
    ] {
        let changes = diff_of(old, &new);
        assert_eq!(
            Verdict::of(&changes),
            Verdict::Widened,
            "{why}: {changes:#?}"
        );
        assert!(
            changes
                .iter()
                .any(|c| c.area == Area::Mcp && c.direction == Direction::Widened),
            "{why}: {changes:#?}"
        );
    }
}

#[test]
fn a_widening_names_the_server_and_its_line() {
    let changes = diff_of(
        SERVER,
        &SERVER.replace("command = \"node\"", "command = \"bash\""),
    );
    let change = changes
        .iter()
        .find(|c| c.area == Area::Mcp)
        .expect("a change");
    assert!(
        change
            .what
            .contains("[mcp.everything] command changed from `node` to `bash`"),
        "{}",
        change.what
    );
    assert_eq!((change.file.as_str(), change.line), ("policy.toml", 3));
}

#[test]
fn removing_a_server_or_a_secret_narrows() {
    for (old, new) in [
        (SERVER.to_owned(), String::new()),
        (
            SERVER.to_owned(),
            SERVER.replace("env = { API_KEY = { secret = \"everything_key\" } }\n", ""),
        ),
    ] {
        let changes = diff_of(&old, &new);
        assert_eq!(Verdict::of(&changes), Verdict::OnlyNarrowed, "{changes:#?}");
    }
    // A note is not a capability.
    let changes = diff_of(SERVER, &format!("{SERVER}note = \"why\"\n"));
    assert_eq!(Verdict::of(&changes), Verdict::Unchanged, "{changes:#?}");
}

#[test]
fn a_new_rule_for_a_server_tool_is_a_widening_of_the_rules() {
    let changes = diff_of(
        SERVER,
        &format!("{SERVER}[[allow]]\ncall = \"mcp.everything.echo\"\n"),
    );
    assert_eq!(Verdict::of(&changes), Verdict::Widened, "{changes:#?}");
    assert!(
        changes
            .iter()
            .any(|c| c.area == Area::Rules && c.what.contains("mcp.everything.echo")),
        "{changes:#?}"
    );
}

#[test]
fn explain_says_what_each_server_runs_and_with_which_secrets() {
    let text = parse(&format!(
        "{SERVER}note = \"reference server\"\n[[allow]]\ncall = \"mcp.everything.echo\"\n"
    ))
    .explain();
    let line = text
        .lines()
        .find(|l| l.starts_with("MCP"))
        .unwrap_or_else(|| panic!("no MCP line:\n{text}"));
    for part in [
        "mcp.everything",
        "runs `node` server.js stdio",
        "API_KEY from the secret `everything_key`",
        "started only for a call a rule allows",
        "reference server",
        "policy.toml:3",
    ] {
        assert!(line.contains(part), "{part:?} missing from: {line}");
    }
    assert!(text.contains("mcp.everything.echo"), "{text}");
}

#[test]
fn a_call_name_splits_back_with_dotted_mcp_tools_whole() {
    use clambot::policy::split_call_name;
    assert_eq!(
        split_call_name("mcp.files.read.text"),
        ("mcp.files", "read.text")
    );
    assert_eq!(
        split_call_name("tools.kit.count-words"),
        ("tools.kit", "count-words")
    );
    assert_eq!(split_call_name("http.fetch"), ("http", "fetch"));
}

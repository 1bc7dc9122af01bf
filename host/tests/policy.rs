//! The policy language: a corpus of accepted and rejected files, every matcher's
//! decisions, budgets, fingerprints, `diff` and `explain`. No sandbox needed.

use std::path::PathBuf;

use clambot::policy::diff::{self, Direction};
use clambot::policy::{Call, DEFAULT_DENY_RULE, Decision, Policy, Usage};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/policy")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The value of a `# key: value` header line.
fn header(bytes: &[u8], key: &str) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let prefix = format!("# {key}: ");
    text.lines()
        .map(|l| l.trim_start_matches('\u{feff}'))
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
}

#[test]
fn accepted_and_rejected_policy_files_behave_as_their_headers_say() {
    let (accept, reject) = (corpus("accept"), corpus("reject"));
    assert!(
        accept.len() >= 15 && reject.len() >= 30,
        "{} accepted, {} rejected",
        accept.len(),
        reject.len()
    );
    let mut failures = Vec::new();
    for path in &accept {
        let bytes = std::fs::read(path).expect("read");
        match Policy::load(path) {
            Ok(policy) => {
                if let Some(n) = header(&bytes, "expect-rules")
                    && policy.rules().len().to_string() != n
                {
                    failures.push(format!(
                        "{}: {} rules, expected {n}",
                        path.display(),
                        policy.rules().len()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: rejected: {e}", path.display())),
        }
    }
    for path in &reject {
        let bytes = std::fs::read(path).expect("read");
        let expected = header(&bytes, "expect-error")
            .unwrap_or_else(|| panic!("{}: no expect-error header", path.display()));
        let (position, message) = expected.split_once(": ").unwrap_or((expected.as_str(), ""));
        match Policy::load(path) {
            Ok(_) => failures.push(format!("{}: accepted, expected {expected}", path.display())),
            Err(e) => {
                let first = &e.diagnostics[0];
                let actual = format!("{}:{}", first.line, first.column);
                if actual != position || !first.message.contains(message.trim()) {
                    failures.push(format!(
                        "{}: got {actual}: {}; expected {expected}",
                        path.display(),
                        first.message
                    ));
                }
                assert!(
                    e.to_string().starts_with(&path.display().to_string()),
                    "diagnostics name the file"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} file(s) misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_problem_in_a_file_is_reported_in_file_order() {
    let text = "version = 1\n[[allow]]\ncall = \"fs.read-text\"\npath = [\"/abs\"]\n[[allow]]\ncall = \"http.fecth\"\n";
    let error = Policy::parse("p.toml", text).expect_err("two problems");
    let positions: Vec<(usize, usize)> = error
        .diagnostics
        .iter()
        .map(|d| (d.line, d.column))
        .collect();
    assert_eq!(positions, [(4, 9), (6, 8)]);
}

// ---- decisions -------------------------------------------------------------

fn policy(text: &str) -> Policy {
    Policy::parse("p.toml", &format!("version = 1\n{text}")).unwrap_or_else(|e| panic!("{e}"))
}

fn decide(policy: &Policy, call: &str, args: Json) -> Decision {
    decide_with(policy, call, args, &mut Usage::default())
}

fn decide_with(policy: &Policy, call: &str, args: Json, usage: &mut Usage) -> Decision {
    let (interface, function) = call.rsplit_once('.').expect("interface.function");
    policy.decide(
        &Call {
            interface,
            function,
            args: &args,
        },
        usage,
    )
}

fn allowed(decision: &Decision) -> bool {
    matches!(decision, Decision::Allow { .. })
}

fn get(url: &str) -> Json {
    json!({ "req": { "method": "GET", "url": url, "headers": [], "body": null, "bearer-secret": null } })
}

fn fetch(method: &str, url: &str) -> Json {
    json!({ "req": { "method": method, "url": url, "headers": [], "body": null, "bearer-secret": null } })
}

fn http_allows(pattern: &str, url: &str) -> bool {
    let p = policy(&format!(
        "[[allow]]\ncall = \"http.fetch\"\nurl = [\"{pattern}\"]\n"
    ));
    allowed(&decide(&p, "http.fetch", get(url)))
}

#[test]
fn subdomain_pattern_covers_subdomains_not_the_apex() {
    assert!(http_allows(
        "https://*.example.org/**",
        "https://api.example.org/x"
    ));
    assert!(http_allows(
        "https://*.example.org/**",
        "https://a.b.example.org/x"
    ));
    assert!(!http_allows(
        "https://*.example.org/**",
        "https://example.org/x"
    ));
    assert!(!http_allows(
        "https://*.example.org/**",
        "https://badexample.org/x"
    ));
    assert!(!http_allows(
        "https://*.example.org/**",
        "https://example.org.evil.com/x"
    ));
}

#[test]
fn exact_host_is_exact() {
    assert!(http_allows(
        "https://api.example.org/**",
        "https://api.example.org/"
    ));
    assert!(!http_allows(
        "https://api.example.org/**",
        "https://x.api.example.org/"
    ));
    assert!(!http_allows(
        "https://api.example.org/**",
        "https://api.example.org.evil.com/"
    ));
}

#[test]
fn host_matching_is_case_insensitive() {
    assert!(http_allows(
        "https://api.example.org/**",
        "https://API.Example.ORG/v1"
    ));
    assert!(http_allows(
        "https://API.example.org/**",
        "https://api.example.org/v1"
    ));
}

#[test]
fn numeric_ipv4_spellings_are_judged_as_the_address_they_mean() {
    for url in [
        "http://0x7f.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.1/",
    ] {
        assert!(
            http_allows("http://127.0.0.1/**", url),
            "{url} is 127.0.0.1"
        );
    }
    assert!(!http_allows("http://127.0.0.2/**", "http://0x7f.1/"));
}

#[test]
fn pattern_without_port_means_the_default_port() {
    assert!(http_allows(
        "https://api.example.org/**",
        "https://api.example.org:443/x"
    ));
    assert!(!http_allows(
        "https://api.example.org/**",
        "https://api.example.org:8443/x"
    ));
    assert!(http_allows(
        "https://api.example.org:*/**",
        "https://api.example.org:8443/x"
    ));
    assert!(http_allows(
        "http://127.0.0.1:8080/**",
        "http://127.0.0.1:8080/x"
    ));
    assert!(!http_allows(
        "http://127.0.0.1:8080/**",
        "http://127.0.0.1:8081/x"
    ));
}

#[test]
fn scheme_must_match() {
    assert!(!http_allows(
        "https://api.example.org/**",
        "http://api.example.org/x"
    ));
    assert!(!http_allows(
        "https://api.example.org/**",
        "ftp://api.example.org/x"
    ));
}

#[test]
fn path_glob_star_does_not_cross_segments() {
    assert!(http_allows("https://x.org/v2/*", "https://x.org/v2/prices"));
    assert!(!http_allows(
        "https://x.org/v2/*",
        "https://x.org/v2/prices/btc"
    ));
    assert!(http_allows(
        "https://x.org/v2/**",
        "https://x.org/v2/prices/btc"
    ));
    assert!(!http_allows(
        "https://x.org/v2/**",
        "https://x.org/v3/prices"
    ));
}

#[test]
fn url_paths_are_normalised_before_matching() {
    assert!(!http_allows(
        "https://x.org/public/**",
        "https://x.org/public/../admin"
    ));
    assert!(!http_allows(
        "https://x.org/public/**",
        "https://x.org/public/%2e%2e/admin"
    ));
}

#[test]
fn invalid_urls_match_nothing() {
    for url in ["not a url", "https://", "javascript:alert(1)", ""] {
        let p = policy("[[allow]]\ncall = \"http.fetch\"\n");
        assert!(!allowed(&decide(&p, "http.fetch", get(url))), "{url}");
    }
}

#[test]
fn method_must_be_listed() {
    let p = policy("[[allow]]\ncall = \"http.fetch\"\nmethod = [\"GET\"]\n");
    assert!(allowed(&decide(
        &p,
        "http.fetch",
        fetch("GET", "https://x.org/")
    )));
    assert!(allowed(&decide(
        &p,
        "http.fetch",
        fetch("get", "https://x.org/")
    )));
    assert!(
        allowed(&decide(&p, "http.fetch", fetch("", "https://x.org/"))),
        "empty means GET"
    );
    assert!(!allowed(&decide(
        &p,
        "http.fetch",
        fetch("POST", "https://x.org/")
    )));
    assert!(!allowed(&decide(
        &p,
        "http.fetch",
        fetch("TRACE", "https://x.org/")
    )));
}

#[test]
fn fetch_text_is_matched_by_its_url() {
    let p = policy(
        "[[allow]]\ncall = \"http.fetch-text\"\nurl = [\"https://docs.rs/**\"]\nmethod = [\"GET\"]\n",
    );
    assert!(allowed(&decide(
        &p,
        "http.fetch-text",
        json!({ "url": "https://docs.rs/x" })
    )));
    assert!(!allowed(&decide(
        &p,
        "http.fetch-text",
        json!({ "url": "https://evil.rs/x" })
    )));
}

#[test]
fn bearer_secret_must_be_listed_on_the_rule() {
    let p = policy("[[allow]]\ncall = \"http.fetch\"\nsecrets = [\"gh\"]\n");
    let with = |secret: &str| json!({ "req": { "method": "GET", "url": "https://x.org/", "headers": [], "bearer-secret": secret } });
    assert!(allowed(&decide(&p, "http.fetch", with("gh"))));
    assert!(!allowed(&decide(&p, "http.fetch", with("aws"))));
    assert!(
        allowed(&decide(&p, "http.fetch", get("https://x.org/"))),
        "no secret asked for"
    );
}

fn fs_allows(rule: &str, function: &str, args: Json) -> bool {
    allowed(&decide(&policy(rule), &format!("fs.{function}"), args))
}

#[test]
fn fs_paths_are_normalised_before_matching() {
    let rule = "[[allow]]\ncall = \"fs.read-text\"\npath = [\"notes/*.md\"]\n";
    assert!(fs_allows(
        rule,
        "read-text",
        json!({ "path": "notes/./a/../b.md" })
    ));
    assert!(fs_allows(
        rule,
        "read-text",
        json!({ "path": "notes//b.md" })
    ));
    assert!(!fs_allows(
        rule,
        "read-text",
        json!({ "path": "notes/sub/b.md" })
    ));
    assert!(!fs_allows(
        rule,
        "read-text",
        json!({ "path": "notes/b.txt" })
    ));
}

#[test]
fn fs_escape_attempts_match_no_rule() {
    let rule = "[[allow]]\ncall = \"fs.read-text\"\npath = [\"**\"]\n";
    for path in ["../x", "a/../../x", "/etc/passwd", "a\\b", "a\0b", "C:/x"] {
        let decision = decide(&policy(rule), "fs.read-text", json!({ "path": path }));
        let Decision::Deny { rule, reason } = decision else {
            panic!("{path:?} was not denied")
        };
        assert_eq!(rule, DEFAULT_DENY_RULE);
        assert!(!reason.is_empty());
    }
}

#[test]
fn move_needs_both_paths_allowed() {
    let rule = "[[allow]]\ncall = \"fs.move\"\npath = [\"notes/**\"]\n";
    assert!(fs_allows(
        rule,
        "move",
        json!({ "from": "notes/a", "to": "notes/b" })
    ));
    assert!(!fs_allows(
        rule,
        "move",
        json!({ "from": "notes/a", "to": "secrets/b" })
    ));
    assert!(!fs_allows(
        rule,
        "move",
        json!({ "from": "secrets/a", "to": "notes/b" })
    ));
}

#[test]
fn deny_beats_allow() {
    let p = policy(
        "[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.read-text\"\npath = [\"secrets/**\"]\n",
    );
    assert!(allowed(&decide(
        &p,
        "fs.read-text",
        json!({ "path": "notes/a" })
    )));
    let Decision::Deny { rule, reason } =
        decide(&p, "fs.read-text", json!({ "path": "secrets/key" }))
    else {
        panic!("denied")
    };
    assert_eq!(rule, "p.toml:5 [[deny]] fs.read-text");
    assert!(reason.contains("denied by p.toml:5"));
}

#[test]
fn deny_beats_allow_regardless_of_order() {
    let p = policy("[[deny]]\ncall = \"log.*\"\n[[allow]]\ncall = \"log.write\"\n");
    assert!(!allowed(&decide(
        &p,
        "log.write",
        json!({ "level": "info", "message": "x" })
    )));
}

#[test]
fn ask_beats_allow() {
    let p = policy(
        "[[allow]]\ncall = \"fs.*\"\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\n",
    );
    let decision = decide(
        &p,
        "fs.write-text",
        json!({ "path": "notes/a", "content": "x" }),
    );
    let Decision::Ask { rule, scope } = decision else {
        panic!("asked, got {decision:?}")
    };
    assert_eq!(rule, "p.toml:5 [[ask]] fs.write-text");
    assert_eq!(scope.summary, "fs.write-text notes/a");
    assert!(allowed(&decide(
        &p,
        "fs.write-text",
        json!({ "path": "other/a", "content": "x" })
    )));
}

#[test]
fn where_conditions_compare_typed_values() {
    let p = policy(
        "[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 10 }, \"query\" = { prefix = \"pro\" } }\n",
    );
    assert!(allowed(&decide(
        &p,
        "memory.recall",
        json!({ "query": "project", "limit": 10 })
    )));
    assert!(!allowed(&decide(
        &p,
        "memory.recall",
        json!({ "query": "project", "limit": 11 })
    )));
    assert!(
        !allowed(&decide(
            &p,
            "memory.recall",
            json!({ "query": "project", "limit": "5" })
        )),
        "a string is not a number"
    );
    assert!(!allowed(&decide(
        &p,
        "memory.recall",
        json!({ "query": "xproject", "limit": 1 })
    )));
    assert!(
        !allowed(&decide(&p, "memory.recall", json!({ "limit": 1 }))),
        "missing values fail"
    );
}

#[test]
fn where_eq_and_in_compare_numbers_by_value() {
    let p = policy(
        "[[allow]]\ncall = \"tools.units.convert\"\nwhere = { \"to\" = { in = [\"km\", \"mi\"] }, \"value\" = { eq = 5 } }\n",
    );
    assert!(allowed(&decide(
        &p,
        "tools.units.convert",
        json!({ "to": "km", "value": 5.0 })
    )));
    assert!(!allowed(&decide(
        &p,
        "tools.units.convert",
        json!({ "to": "ly", "value": 5 })
    )));
    assert!(!allowed(&decide(
        &p,
        "tools.units.convert",
        json!({ "to": "km", "value": "5" })
    )));
}

#[test]
fn rule_budget_exhausted_is_a_limit() {
    let p = policy("[[allow]]\ncall = \"log.write\"\nmax-calls = 2\n");
    let mut usage = Usage::default();
    let args = json!({ "level": "info", "message": "x" });
    assert!(allowed(&decide_with(
        &p,
        "log.write",
        args.clone(),
        &mut usage
    )));
    assert!(allowed(&decide_with(
        &p,
        "log.write",
        args.clone(),
        &mut usage
    )));
    let Decision::Limit { rule, reason } = decide_with(&p, "log.write", args, &mut usage) else {
        panic!("limit")
    };
    assert_eq!(rule, "p.toml:3 [[allow]] log.write");
    assert!(reason.contains("at most 2"));
}

#[test]
fn a_second_allow_rule_takes_over_when_the_first_is_used_up() {
    let p = policy(
        "[[allow]]\ncall = \"log.write\"\nmax-calls = 1\n[[allow]]\ncall = \"log.*\"\nmax-calls = 1\n",
    );
    let mut usage = Usage::default();
    let args = json!({ "level": "info", "message": "x" });
    let rules: Vec<Decision> = (0..3)
        .map(|_| decide_with(&p, "log.write", args.clone(), &mut usage))
        .collect();
    assert_eq!(
        rules[0],
        Decision::Allow {
            rule: "p.toml:3 [[allow]] log.write".into()
        }
    );
    assert_eq!(
        rules[1],
        Decision::Allow {
            rule: "p.toml:6 [[allow]] log.*".into()
        }
    );
    assert!(matches!(rules[2], Decision::Limit { .. }));
}

#[test]
fn run_max_calls_is_a_limit_and_counts_denied_calls_too() {
    let p = policy("[run]\nmax-calls = 2\n[[allow]]\ncall = \"log.write\"\n");
    let mut usage = Usage::default();
    assert!(!allowed(&decide_with(
        &p,
        "fs.read-text",
        json!({ "path": "a" }),
        &mut usage
    )));
    assert!(allowed(&decide_with(
        &p,
        "log.write",
        json!({}),
        &mut usage
    )));
    let Decision::Limit { rule, .. } = decide_with(&p, "log.write", json!({}), &mut usage) else {
        panic!("limit")
    };
    assert_eq!(rule, "p.toml [run] max-calls");
}

#[test]
fn run_max_egress_counts_url_headers_and_body() {
    let p = policy("[run]\nmax-egress = \"100B\"\n[[allow]]\ncall = \"http.fetch\"\n");
    let mut usage = Usage::default();
    let request = |body: &str| json!({ "req": { "method": "POST", "url": "https://x.org/", "headers": [{ "name": "ab", "value": "cd" }], "body": body } });
    // 14 (URL) + 4 (header) + 40 (body) = 58 bytes.
    assert!(allowed(&decide_with(
        &p,
        "http.fetch",
        request(&"x".repeat(40)),
        &mut usage
    )));
    assert_eq!(usage.egress(), 58);
    let Decision::Limit { reason, .. } =
        decide_with(&p, "http.fetch", request(&"x".repeat(40)), &mut usage)
    else {
        panic!("over 100 bytes")
    };
    assert!(reason.contains("at most 100 bytes"));
}

#[test]
fn no_policy_denies_everything_with_default_deny() {
    let p = Policy::deny_all();
    for (call, args) in [
        ("log.write", json!({})),
        ("http.fetch", get("https://x.org/")),
        ("fs.read-text", json!({ "path": "a" })),
    ] {
        let Decision::Deny { rule, reason } = decide(&p, call, args) else {
            panic!("{call} denied")
        };
        assert_eq!(rule, DEFAULT_DENY_RULE);
        assert!(reason.contains("no policy is in force"), "{reason}");
    }
}

#[test]
fn default_deny_names_the_near_miss_rule() {
    let p = policy("[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://api.example.org/**\"]\n");
    let Decision::Deny { reason, .. } = decide(&p, "http.fetch", get("https://other.org/")) else {
        panic!("denied")
    };
    assert!(
        reason.contains("outside every rule for it")
            && reason.contains("p.toml:3 [[allow]] http.fetch"),
        "{reason}"
    );
    let Decision::Deny { reason, .. } = decide(&p, "fs.read-text", json!({ "path": "a" })) else {
        panic!("denied")
    };
    assert!(
        reason.contains("no rule in p.toml allows fs.read-text"),
        "{reason}"
    );
}

// ---- fingerprints ----------------------------------------------------------

fn scope_of(p: &Policy, call: &str, args: &Json) -> clambot::policy::Scope {
    let (interface, function) = call.rsplit_once('.').expect("call");
    p.scope(&Call {
        interface,
        function,
        args,
    })
}

#[test]
fn fingerprint_is_stable_across_object_key_order() {
    let p = Policy::deny_all();
    let a: Json = serde_json::from_str(
        r#"{"spec": {"name": "j", "once": false, "schedule": {"every": 60}}}"#,
    )
    .expect("json");
    let b: Json = serde_json::from_str(
        r#"{"spec": {"schedule": {"every": 60}, "once": false, "name": "j"}}"#,
    )
    .expect("json");
    assert_eq!(
        scope_of(&p, "cron.add", &a).fingerprint(),
        scope_of(&p, "cron.add", &b).fingerprint()
    );
    let c = json!({ "spec": { "name": "k", "once": false, "schedule": { "every": 60 } } });
    assert_ne!(
        scope_of(&p, "cron.add", &a).fingerprint(),
        scope_of(&p, "cron.add", &c).fingerprint()
    );
}

#[test]
fn http_fingerprint_depends_on_method_and_origin_only() {
    let p = Policy::deny_all();
    let fp =
        |method: &str, url: &str| scope_of(&p, "http.fetch", &fetch(method, url)).fingerprint();
    assert_eq!(
        fp("GET", "https://x.org/a?q=1"),
        fp("GET", "https://x.org/b")
    );
    assert_eq!(
        fp("GET", "https://X.org:443/a"),
        fp("get", "https://x.org/b")
    );
    assert_ne!(fp("GET", "https://x.org/a"), fp("POST", "https://x.org/a"));
    assert_ne!(fp("GET", "https://x.org/a"), fp("GET", "https://y.org/a"));
    assert_ne!(
        fp("GET", "https://x.org/a"),
        fp("GET", "https://x.org:8443/a")
    );
    assert_ne!(
        scope_of(&p, "http.fetch", &get("https://x.org/")).fingerprint(),
        scope_of(&p, "http.fetch-text", &json!({ "url": "https://x.org/" })).fingerprint(),
        "the function is part of the fingerprint"
    );
}

#[test]
fn fs_fingerprint_uses_the_normalised_path() {
    let p = Policy::deny_all();
    let fp = |path: &str| {
        scope_of(
            &p,
            "fs.write-text",
            &json!({ "path": path, "content": "x" }),
        )
        .fingerprint()
    };
    assert_eq!(fp("notes/a.md"), fp("notes/./x/../a.md"));
    assert_ne!(fp("notes/a.md"), fp("notes/b.md"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decide_never_panics_and_unlisted_interfaces_are_denied(
        url in ".{0,40}",
        path in "[a-z./\\\\\0]{0,20}",
        method in "[A-Za-z]{0,8}",
        number in any::<f64>(),
    ) {
        let p = policy("[[allow]]\ncall = \"log.write\"\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://*.x.org/**\"]\n[[ask]]\ncall = \"fs.*\"\npath = [\"a/**\"]\n[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { lt = 10 } }\n");
        let _ = decide(&p, "http.fetch", fetch(&method, &url));
        let _ = decide(&p, "fs.move", json!({ "from": path, "to": url }));
        let _ = decide(&p, "memory.recall", json!({ "query": url, "limit": number }));
        for call in ["cron.add", "secrets.list", "tools.x.y"] {
            let is_deny = matches!(decide(&p, call, json!({ "a": url, "b": number })), Decision::Deny { .. });
            prop_assert!(is_deny);
        }
    }
}

// ---- diff and explain ------------------------------------------------------

fn changes(old: &str, new: &str) -> Vec<(Direction, String)> {
    diff::diff(&policy(old), &policy(new))
        .into_iter()
        .map(|c| (c.direction, c.what))
        .collect()
}

#[test]
fn policy_diff_classifies_widening_and_narrowing() {
    let base = "[run]\ntimeout = \"30s\"\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/**\"]\nmethod = [\"GET\", \"POST\"]\nmax-calls = 5\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 10 } }\n";
    assert!(
        changes(base, base).is_empty(),
        "identical policies have no changes"
    );

    let widened = |new: &str| {
        let c = changes(base, new);
        assert!(
            !c.is_empty() && c.iter().all(|(d, _)| *d == Direction::Widened),
            "{c:?}"
        );
        assert!(diff::widens(&diff::diff(&policy(base), &policy(new))));
    };
    let narrowed = |new: &str| {
        let c = changes(base, new);
        assert!(
            !c.is_empty() && c.iter().all(|(d, _)| *d == Direction::Narrowed),
            "{c:?}"
        );
        assert!(!diff::widens(&diff::diff(&policy(base), &policy(new))));
    };
    widened(&format!("{base}[[allow]]\ncall = \"log.write\"\n"));
    widened(&base.replace("[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n", ""));
    widened(&base.replace(
        "url = [\"https://a.org/**\"]",
        "url = [\"https://a.org/**\", \"https://b.org/**\"]",
    ));
    widened(&base.replace("max-calls = 5", "max-calls = 50"));
    widened(&base.replace("timeout = \"30s\"", "timeout = \"60s\""));
    widened(&base.replace("where = { \"limit\" = { le = 10 } }\n", ""));
    // A reworded deny glob is both: the comparison does not prove containment.
    let reworded = base.replace("path = [\"secrets/**\"]", "path = [\"secrets/*\"]");
    assert!(diff::widens(&diff::diff(&policy(base), &policy(&reworded))));
    narrowed(&base.replace("method = [\"GET\", \"POST\"]", "method = [\"GET\"]"));
    narrowed(&base.replace("max-calls = 5", "max-calls = 1"));
    narrowed(&base.replace(
        "where = { \"limit\" = { le = 10 } }",
        "where = { \"limit\" = { le = 10 }, \"query\" = { prefix = \"a\" } }",
    ));
    narrowed(&format!("{base}[[deny]]\ncall = \"http.*\"\n"));
    narrowed(&base.replace(
        "[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 10 } }\n",
        "",
    ));
}

#[test]
fn an_ask_rule_becoming_an_allow_rule_is_a_widening() {
    let c = diff::diff(
        &policy("[[ask]]\ncall = \"fs.write-text\"\n"),
        &policy("[[allow]]\ncall = \"fs.write-text\"\n"),
    );
    assert!(diff::widens(&c), "{c:?}");
}

#[test]
fn explain_has_one_line_per_rule() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy.toml");
    let p = Policy::load(&path).expect("the repository policy loads");
    let text = p.explain();
    let rule_lines = text
        .lines()
        .filter(|l| l.starts_with("ALLOW") || l.starts_with("ASK") || l.starts_with("DENY"))
        .count();
    assert_eq!(rule_lines, p.rules().len());
    assert!(text.contains("everything not listed below is denied"));
    assert!(text.contains("DENY   fs.*: paths .git/**"), "{text}");
}

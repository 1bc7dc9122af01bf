//! The policy language: a corpus of accepted and rejected files, every matcher's
//! decisions, budgets, fingerprints, `diff` and `explain`. No sandbox needed.

use std::path::{Path, PathBuf};

use clambot::policy::diff::{self, Direction};
use clambot::policy::{Call, DEFAULT_DENY_RULE, Decision, Policy, Scope, Usage};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

// ---- the corpus ------------------------------------------------------------

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/policy")
}

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = corpus_dir().join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The value of a `# key: value` header line (read through a BOM or bad bytes).
fn header(bytes: &[u8], key: &str) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let prefix = format!("# {key}: ");
    text.lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim_end_matches('\r'))
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
}

/// Loads a corpus file and, when it is UTF-8 text, checks that parsing the text
/// says exactly what loading the file says.
fn load_both_ways(path: &Path, bytes: &[u8]) -> Result<Policy, clambot::policy::PolicyError> {
    let loaded = Policy::load(path);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let parsed = Policy::parse(&path.display().to_string(), text);
        match (&loaded, &parsed) {
            (Ok(a), Ok(b)) => assert_eq!(a.rules().len(), b.rules().len(), "{path:?}"),
            (Err(a), Err(b)) => assert_eq!(a, b, "{path:?}"),
            _ => panic!("{}: load and parse disagree", path.display()),
        }
    }
    loaded
}

#[test]
fn accepted_and_rejected_policy_files_behave_as_their_headers_say() {
    let (accept, reject) = (corpus("accept"), corpus("reject"));
    assert!(
        accept.len() >= 15 && reject.len() >= 20 && accept.len() + reject.len() >= 35,
        "{} accepted, {} rejected",
        accept.len(),
        reject.len()
    );

    // The byte-level cases must stay byte-level: an editor "fixing" them would
    // turn them into ordinary files that no longer test anything.
    let raw = |name: &str| std::fs::read(corpus_dir().join("reject").join(name)).expect(name);
    assert!(
        raw("bom.toml").starts_with(b"\xEF\xBB\xBF"),
        "bom.toml has a BOM"
    );
    assert!(raw("nul_byte.toml").contains(&0), "nul_byte.toml has a NUL");
    assert!(
        std::str::from_utf8(&raw("invalid_utf8.toml")).is_err(),
        "invalid_utf8.toml is not UTF-8"
    );

    let mut failures = Vec::new();
    for path in &accept {
        let bytes = std::fs::read(path).expect("read");
        match load_both_ways(path, &bytes) {
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
        let (position, message) = expected
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}: header is not LINE:COL: TEXT", path.display()));
        match load_both_ways(path, &bytes) {
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
                let shown = e.to_string();
                if !shown.starts_with(&format!("{}:{actual}: ", path.display())) {
                    failures.push(format!(
                        "{}: not `file:line:col: `: {shown}",
                        path.display()
                    ));
                }
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

#[test]
fn an_unreadable_file_is_a_diagnostic_not_a_panic() {
    let error = Policy::load(Path::new("/nonexistent/policy.toml")).expect_err("missing file");
    assert!(
        error.to_string().contains("cannot read the policy"),
        "{error}"
    );
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

/// The kind of decision and the rule that made it.
fn verdict(decision: &Decision) -> (&'static str, &str) {
    match decision {
        Decision::Allow { rule } => ("allow", rule),
        Decision::Ask { rule, .. } => ("ask", rule),
        Decision::Deny { rule, .. } => ("deny", rule),
        Decision::Limit { rule, .. } => ("limit", rule),
        Decision::Invalid { .. } => ("invalid", "invalid-arguments"),
    }
}

fn denied_by(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::Deny { rule, .. } => Some(rule),
        _ => None,
    }
}

fn get(url: &str) -> Json {
    fetch("GET", url)
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

/// Whether a deny rule for `pattern` refuses `url` when everything else is allowed.
fn http_deny_catches(pattern: &str, url: &str) -> bool {
    let p = policy(&format!(
        "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://*:*/**\", \"http://*:*/**\"]\n[[deny]]\ncall = \"http.*\"\nurl = [\"{pattern}\"]\n"
    ));
    let decision = decide(&p, "http.fetch", get(url));
    assert!(
        matches!(decision, Decision::Allow { .. } | Decision::Deny { .. }),
        "{decision:?}"
    );
    denied_by(&decision) == Some("p.toml:6 [[deny]] http.*")
}

#[test]
fn subdomain_pattern_covers_subdomains_not_the_apex() {
    let pattern = "https://*.example.org/**";
    assert!(http_allows(pattern, "https://api.example.org/x"));
    assert!(http_allows(pattern, "https://a.b.example.org/x"));
    assert!(!http_allows(pattern, "https://example.org/x"));
    assert!(!http_allows(pattern, "https://badexample.org/x"));
    assert!(!http_allows(pattern, "https://example.org.evil.com/x"));
    assert!(!http_allows(pattern, "https://api.example.org@evil.com/x"));
}

#[test]
fn exact_host_is_exact() {
    let pattern = "https://api.example.org/**";
    assert!(http_allows(pattern, "https://api.example.org/"));
    assert!(!http_allows(pattern, "https://x.api.example.org/"));
    assert!(!http_allows(pattern, "https://api.example.org.evil.com/"));
    assert!(
        !http_allows(pattern, "https://evil.com/?https://api.example.org/"),
        "the query is not the host"
    );
}

#[test]
fn any_host_pattern_still_checks_scheme_and_port() {
    assert!(http_allows("https://*/**", "https://anything.example/"));
    assert!(!http_allows("https://*/**", "http://anything.example/"));
    assert!(!http_allows(
        "https://*/**",
        "https://anything.example:8443/"
    ));
    assert!(http_allows(
        "https://*:*/**",
        "https://anything.example:8443/"
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
    assert!(http_allows(
        "HTTPS://*.Example.org/**",
        "https://WWW.EXAMPLE.ORG/v1"
    ));
}

#[test]
fn numeric_ipv4_spellings_are_judged_as_the_address_they_mean() {
    for url in [
        "http://0x7f.1/",
        "http://0x7f.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://127.0.0.1./",
    ] {
        assert!(
            http_allows("http://127.0.0.1/**", url),
            "{url} is 127.0.0.1"
        );
        assert!(http_deny_catches("http://127.0.0.1/**", url), "{url}");
    }
    assert!(!http_allows("http://127.0.0.2/**", "http://0x7f.1/"));
}

#[test]
fn ipv6_hosts_match_in_canonical_form() {
    let pattern = "http://[::1]:8080/**";
    assert!(http_allows(pattern, "http://[::1]:8080/x"));
    assert!(http_allows(pattern, "http://[0:0:0:0:0:0:0:1]:8080/x"));
    assert!(!http_allows(pattern, "http://[::2]:8080/x"));
    assert!(!http_allows(pattern, "http://[::1]:8081/x"));
}

#[test]
fn a_trailing_dot_does_not_change_the_host() {
    // `example.org.` is the fully qualified spelling of `example.org`: DNS sends
    // both to the same place, so a deny rule must see through it.
    assert!(http_deny_catches(
        "https://evil.example/**",
        "https://evil.example./x"
    ));
    assert!(http_deny_catches(
        "https://*.evil.example/**",
        "https://a.evil.example./x"
    ));
    assert!(http_allows(
        "https://api.example.org./**",
        "https://api.example.org/x"
    ));
    assert!(http_allows(
        "https://api.example.org/**",
        "https://api.example.org./x"
    ));
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
    assert!(!http_allows(
        "http://api.example.org/**",
        "http://api.example.org:443/x"
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
    assert!(
        !http_allows("http://127.0.0.1:8080/**", "http://127.0.0.1/x"),
        "a pattern with a port does not cover the default port"
    );
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
    assert!(!http_allows(
        "https://api.example.org/**",
        "wss://api.example.org/x"
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
        "https://x.org/v2/*/spot",
        "https://x.org/v2/btc/spot"
    ));
    assert!(!http_allows(
        "https://x.org/v2/*/spot",
        "https://x.org/v2/btc/usd/spot"
    ));
    assert!(http_allows(
        "https://x.org/v2/**",
        "https://x.org/v2/prices/btc"
    ));
    assert!(!http_allows(
        "https://x.org/v2/**",
        "https://x.org/v3/prices"
    ));
    assert!(!http_allows(
        "https://x.org/v2/**",
        "https://x.org/v2x/prices"
    ));
    // An escaped slash is a separator to servers that decode it, so a
    // one-segment allow does not cover it (`/v2/..%2F..%2Fadmin` is `/admin`).
    assert!(!http_allows("https://x.org/v2/*", "https://x.org/v2/a%2Fb"));
    assert!(http_allows("https://x.org/v2/**", "https://x.org/v2/a%2Fb"));
}

#[test]
fn pattern_without_path_covers_every_path() {
    for url in [
        "https://x.org",
        "https://x.org/",
        "https://x.org/a/b/c?q=1#f",
    ] {
        assert!(http_allows("https://x.org", url), "{url}");
    }
}

#[test]
fn a_directory_glob_covers_the_directory_itself() {
    // `/admin/**` is "the admin area": `/admin` is in it, `/administrator` is not.
    assert!(http_deny_catches(
        "https://x.org/admin/**",
        "https://x.org/admin"
    ));
    assert!(http_deny_catches(
        "https://x.org/admin/**",
        "https://x.org/admin/"
    ));
    assert!(!http_deny_catches(
        "https://x.org/admin/**",
        "https://x.org/administrator"
    ));
    let rule = "[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n";
    let p = policy(rule);
    for (function, args) in [
        ("list", json!({ "path": "secrets" })),
        ("stat", json!({ "path": "secrets/" })),
        ("move", json!({ "from": "secrets", "to": "public" })),
        ("remove", json!({ "path": "./secrets" })),
    ] {
        assert_eq!(
            denied_by(&decide(&p, &format!("fs.{function}"), args.clone())),
            Some("p.toml:5 [[deny]] fs.*"),
            "fs.{function} {args}"
        );
    }
    assert!(allowed(&decide(
        &p,
        "fs.list",
        json!({ "path": "secrets-not" })
    )));
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
    assert!(http_allows(
        "https://x.org/public/**",
        "https://x.org/admin/../public/a"
    ));
}

#[test]
fn escaped_letters_and_doubled_slashes_do_not_dodge_a_deny_rule() {
    for url in [
        "https://x.org/admin/users",
        "https://x.org/%61dmin/users",
        "https://x.org/ADMIN/../admin/users",
        "https://x.org/adm%69n/users",
        "https://x.org//admin/users",
        "https://x.org/admin//users",
        "https://x.org/./admin/users",
        "https://x.org/%2e/admin/users",
        "https://x.org/x/%2E%2e/admin/users",
    ] {
        assert!(http_deny_catches("https://x.org/admin/**", url), "{url}");
    }
    assert!(http_allows(
        "https://x.org/v2/prices/**",
        "https://x.org/v2/%70rices/btc"
    ));
}

#[test]
fn invalid_urls_match_nothing() {
    let p = policy("[[allow]]\ncall = \"http.fetch\"\n");
    for url in [
        "not a url",
        "https://",
        "javascript:alert(1)",
        "",
        "file:///etc/passwd",
        "data:text/plain,x",
    ] {
        let decision = decide(&p, "http.fetch", get(url));
        assert_eq!(verdict(&decision).0, "invalid", "{url}: {decision:?}");
    }
    let decision = decide(&p, "http.fetch", json!({ "req": { "method": "GET" } }));
    assert_eq!(verdict(&decision).0, "invalid", "no URL");
}

#[test]
fn method_must_be_listed() {
    let p = policy("[[allow]]\ncall = \"http.fetch\"\nmethod = [\"GET\"]\n");
    let allows = |method: &str| allowed(&decide(&p, "http.fetch", fetch(method, "https://x.org/")));
    assert!(allows("GET"));
    assert!(allows("get"), "methods compare case-insensitively");
    assert!(allows(""), "empty means GET");
    for method in ["POST", "HEAD", "DELETE", "TRACE", "CONNECT", "G ET"] {
        assert!(!allows(method), "{method}");
    }
    let any = policy("[[allow]]\ncall = \"http.fetch\"\n");
    assert!(
        !allowed(&decide(
            &any,
            "http.fetch",
            fetch("TRACE", "https://x.org/")
        )),
        "an unknown method matches no rule, even one without `method`"
    );
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
    assert!(
        !allowed(&decide(&p, "http.fetch", get("https://docs.rs/x"))),
        "a rule for fetch-text does not cover fetch"
    );
}

#[test]
fn bearer_secret_must_be_listed_on_the_rule() {
    let p = policy("[[allow]]\ncall = \"http.fetch\"\nsecrets = [\"gh\"]\n");
    let with = |secret: &str| json!({ "req": { "method": "GET", "url": "https://x.org/", "headers": [], "bearer-secret": secret } });
    assert!(allowed(&decide(&p, "http.fetch", with("gh"))));
    assert!(!allowed(&decide(&p, "http.fetch", with("aws"))));
    assert!(!allowed(&decide(&p, "http.fetch", with("GH"))));
    assert!(!allowed(&decide(&p, "http.fetch", with(""))));
    assert!(
        allowed(&decide(&p, "http.fetch", get("https://x.org/"))),
        "no secret asked for"
    );
    let none = policy("[[allow]]\ncall = \"http.fetch\"\n");
    assert!(
        !allowed(&decide(&none, "http.fetch", with("gh"))),
        "a rule without `secrets` injects none"
    );
}

#[test]
fn a_deny_rule_matches_whatever_secret_is_named() {
    let p = policy(
        "[[allow]]\ncall = \"http.fetch\"\nsecrets = [\"gh\"]\n[[deny]]\ncall = \"http.fetch\"\nurl = [\"https://evil.org/**\"]\n",
    );
    let call = json!({ "req": { "method": "GET", "url": "https://evil.org/", "headers": [], "bearer-secret": "gh" } });
    assert_eq!(
        denied_by(&decide(&p, "http.fetch", call)),
        Some("p.toml:6 [[deny]] http.fetch")
    );
}

fn fs_allows(rule: &str, function: &str, args: Json) -> bool {
    allowed(&decide(&policy(rule), &format!("fs.{function}"), args))
}

#[test]
fn fs_paths_are_normalised_before_matching() {
    let rule = "[[allow]]\ncall = \"fs.read-text\"\npath = [\"notes/*.md\"]\n";
    for path in [
        "notes/b.md",
        "notes/./a/../b.md",
        "notes//b.md",
        "./notes/b.md",
        "x/../notes/b.md",
    ] {
        assert!(
            fs_allows(rule, "read-text", json!({ "path": path })),
            "{path}"
        );
    }
    for path in ["notes/sub/b.md", "notes/b.txt", "notes/b.md/../../x.md"] {
        assert!(
            !fs_allows(rule, "read-text", json!({ "path": path })),
            "{path}"
        );
    }
}

#[test]
fn fs_escape_attempts_are_invalid_before_any_rule() {
    let rule =
        "[[allow]]\ncall = \"fs.read-text\"\npath = [\"**\"]\n[[allow]]\ncall = \"fs.stat\"\n";
    for path in [
        "..",
        "../x",
        "a/../../x",
        "/etc/passwd",
        "//etc/passwd",
        "a\\b",
        "..\\x",
        "a\0b",
        "C:/x",
        "a\nb",
        "notes/CON",
        "nul.txt",
        "com1.log",
        &"n".repeat(256),
        &"a/".repeat(2049),
    ] {
        for function in ["read-text", "stat"] {
            let decision = decide(
                &policy(rule),
                &format!("fs.{function}"),
                json!({ "path": path }),
            );
            let Decision::Invalid { reason } = decision else {
                panic!("fs.{function} {path:?} was not refused as invalid: {decision:?}")
            };
            assert!(reason.starts_with(&format!("fs.{function}: ")), "{reason}");
        }
    }
}

#[test]
fn an_fs_call_without_a_path_matches_no_rule() {
    let rule = "[[allow]]\ncall = \"fs.read-text\"\npath = [\"notes/**\"]\n[[allow]]\ncall = \"fs.stat\"\n";
    for args in [
        json!({}),
        json!({ "path": 5 }),
        json!({ "path": null }),
        json!([]),
    ] {
        assert!(!fs_allows(rule, "read-text", args.clone()), "{args}");
        assert!(!fs_allows(rule, "stat", args.clone()), "{args}");
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
    assert!(!fs_allows(
        rule,
        "move",
        json!({ "from": "notes/a", "to": "../b" })
    ));
    let two = "[[allow]]\ncall = \"fs.move\"\npath = [\"inbox/**\"]\n[[allow]]\ncall = \"fs.move\"\npath = [\"archive/**\"]\n";
    assert!(
        !fs_allows(two, "move", json!({ "from": "inbox/a", "to": "archive/a" })),
        "one rule must cover both ends; two rules covering one end each do not"
    );
}

#[test]
fn a_deny_rule_covers_either_end_of_a_move() {
    // Moving a secret out to a readable place is as bad as moving a file in.
    let p = policy(
        "[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n",
    );
    for (from, to) in [
        ("secrets/key", "notes/key"),
        ("notes/key", "secrets/key"),
        ("secrets/a", "secrets/b"),
    ] {
        assert_eq!(
            denied_by(&decide(&p, "fs.move", json!({ "from": from, "to": to }))),
            Some("p.toml:6 [[deny]] fs.*"),
            "{from} -> {to}"
        );
    }
    assert!(allowed(&decide(
        &p,
        "fs.move",
        json!({ "from": "notes/a", "to": "notes/b" })
    )));
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
    let Decision::Deny { rule, reason } = decide(
        &p,
        "fs.read-text",
        json!({ "path": "notes/../secrets/key" }),
    ) else {
        panic!("denied")
    };
    assert_eq!(rule, "p.toml:5 [[deny]] fs.read-text");
    assert!(reason.contains("denied by p.toml:5"));
}

#[test]
fn deny_beats_allow_and_ask_regardless_of_order() {
    let p = policy(
        "[[deny]]\ncall = \"log.*\"\n[[allow]]\ncall = \"log.write\"\n[[ask]]\ncall = \"log.write\"\n",
    );
    assert_eq!(
        denied_by(&decide(
            &p,
            "log.write",
            json!({ "level": "info", "message": "x" })
        )),
        Some("p.toml:3 [[deny]] log.*")
    );
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
fn ask_scope_for_http_is_method_and_origin() {
    let p = policy("[[ask]]\ncall = \"http.fetch\"\n");
    let Decision::Ask { scope, .. } = decide(
        &p,
        "http.fetch",
        fetch("post", "https://API.example.org/v1/x?q=1"),
    ) else {
        panic!("asked")
    };
    assert_eq!(scope.summary, "http.fetch POST https://api.example.org");
    assert_eq!(
        scope.value,
        json!({ "method": "POST", "origin": "https://api.example.org" })
    );
}

#[test]
fn where_conditions_compare_typed_values() {
    let p = policy(
        "[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 10 }, \"query\" = { prefix = \"pro\" } }\n",
    );
    let allows = |args: Json| allowed(&decide(&p, "memory.recall", args));
    assert!(allows(json!({ "query": "project", "limit": 10 })));
    assert!(allows(json!({ "query": "pro", "limit": 0 })));
    assert!(!allows(json!({ "query": "project", "limit": 11 })));
    assert!(
        !allows(json!({ "query": "project", "limit": "5" })),
        "a string is not a number"
    );
    assert!(
        !allows(json!({ "query": "project", "limit": null })),
        "null is not a number"
    );
    assert!(!allows(json!({ "query": "xproject", "limit": 1 })));
    assert!(
        !allows(json!({ "query": ["project"], "limit": 1 })),
        "a list is not a string"
    );
    assert!(!allows(json!({ "limit": 1 })), "missing values fail");
}

#[test]
fn where_eq_and_in_compare_numbers_by_value() {
    let p = policy(
        "[tools.units]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n[[allow]]\ncall = \"tools.units.convert\"\nwhere = { \"to\" = { in = [\"km\", \"mi\"] }, \"value\" = { eq = 5 } }\n",
    );
    let allows = |args: Json| allowed(&decide(&p, "tools.units.convert", args));
    assert!(allows(json!({ "to": "km", "value": 5.0 })));
    assert!(allows(json!({ "to": "mi", "value": 5 })));
    assert!(!allows(json!({ "to": "ly", "value": 5 })));
    assert!(!allows(json!({ "to": "km", "value": "5" })));
    assert!(!allows(json!({ "to": "KM", "value": 5 })));
    assert!(!allows(json!({ "to": "km", "value": 5.000_001 })));
}

#[test]
fn where_eq_compares_large_integers_exactly() {
    // 2^53 + 1 rounds to 2^53 as an f64; an id one off must not pass for it.
    let p = policy(
        "[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { eq = 9007199254740993 } }\n",
    );
    let allows = |limit: u64| {
        allowed(&decide(
            &p,
            "memory.recall",
            json!({ "query": "", "limit": limit }),
        ))
    };
    assert!(allows(9_007_199_254_740_993));
    assert!(!allows(9_007_199_254_740_992));
    assert!(!allows(9_007_199_254_740_994));
}

#[test]
fn where_paths_reach_into_records_and_lists() {
    let p = policy(
        "[[allow]]\ncall = \"http.fetch\"\nwhere = { \"req.headers[0].name\" = { eq = \"accept\" } }\n",
    );
    let with = |headers: Json| json!({ "req": { "method": "GET", "url": "https://x.org/", "headers": headers } });
    assert!(allowed(&decide(
        &p,
        "http.fetch",
        with(json!([{ "name": "accept", "value": "*/*" }]))
    )));
    assert!(!allowed(&decide(&p, "http.fetch", with(json!([])))));
    assert!(!allowed(&decide(
        &p,
        "http.fetch",
        with(json!([{ "name": "cookie", "value": "x" }]))
    )));
}

#[test]
fn where_conditions_narrow_deny_rules_too() {
    let p = policy(
        "[[allow]]\ncall = \"log.write\"\n[[deny]]\ncall = \"log.write\"\nwhere = { \"level\" = { eq = \"debug\" } }\n",
    );
    assert!(allowed(&decide(
        &p,
        "log.write",
        json!({ "level": "info", "message": "x" })
    )));
    assert_eq!(
        denied_by(&decide(
            &p,
            "log.write",
            json!({ "level": "debug", "message": "x" })
        )),
        Some("p.toml:5 [[deny]] log.write")
    );
}

#[test]
fn rule_budget_exhausted_is_a_limit() {
    let p = policy("[[allow]]\ncall = \"log.write\"\nmax-calls = 2\n");
    let mut usage = Usage::default();
    let args = json!({ "level": "info", "message": "x" });
    for _ in 0..2 {
        assert!(allowed(&decide_with(
            &p,
            "log.write",
            args.clone(),
            &mut usage
        )));
    }
    let Decision::Limit { rule, reason } = decide_with(&p, "log.write", args, &mut usage) else {
        panic!("limit")
    };
    assert_eq!(rule, "p.toml:3 [[allow]] log.write");
    assert!(reason.contains("at most 2"));
    assert!(
        allowed(&decide(
            &p,
            "log.write",
            json!({ "level": "info", "message": "x" })
        )),
        "a new run starts with a fresh budget"
    );
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
    assert!(
        matches!(&rules[2], Decision::Limit { rule, .. } if rule == "p.toml:3 [[allow]] log.write"),
        "{:?}",
        rules[2]
    );
}

#[test]
fn run_max_calls_is_a_limit() {
    let p = policy(
        "[run]\nmax-calls = 2\n[[allow]]\ncall = \"log.write\"\n[[deny]]\ncall = \"fs.*\"\n",
    );
    let mut usage = Usage::default();
    // Denied calls count too: a script cannot probe the policy for free.
    assert!(
        denied_by(&decide_with(
            &p,
            "fs.read-text",
            json!({ "path": "a" }),
            &mut usage
        ))
        .is_some()
    );
    assert!(allowed(&decide_with(
        &p,
        "log.write",
        json!({}),
        &mut usage
    )));
    let Decision::Limit { rule, reason } = decide_with(&p, "log.write", json!({}), &mut usage)
    else {
        panic!("limit")
    };
    assert_eq!(rule, "p.toml [run] max-calls");
    assert!(reason.contains("at most 2 host calls"), "{reason}");
    // The run budget comes before everything, deny rules included.
    assert!(matches!(
        decide_with(&p, "fs.read-text", json!({ "path": "a" }), &mut usage),
        Decision::Limit { .. }
    ));
    assert_eq!(usage.total_calls(), 4);
}

#[test]
fn run_max_egress_counts_url_headers_and_body() {
    let p = policy(
        "[run]\nmax-egress = \"100B\"\n[[allow]]\ncall = \"http.fetch\"\n[[deny]]\ncall = \"http.fetch\"\nurl = [\"https://no.org/**\"]\n",
    );
    let mut usage = Usage::default();
    let request = |url: &str, body: &str| json!({ "req": { "method": "POST", "url": url, "headers": [{ "name": "ab", "value": "cd" }], "body": body } });
    // 14 (URL) + 4 (header) + 40 (body) = 58 bytes.
    assert!(allowed(&decide_with(
        &p,
        "http.fetch",
        request("https://x.org/", &"x".repeat(40)),
        &mut usage
    )));
    assert_eq!(usage.egress(), 58);
    // A denied call sends nothing, so it costs nothing.
    assert!(
        denied_by(&decide_with(
            &p,
            "http.fetch",
            request("https://no.org/", &"x".repeat(40)),
            &mut usage
        ))
        .is_some()
    );
    assert_eq!(usage.egress(), 58);
    let Decision::Limit { reason, .. } = decide_with(
        &p,
        "http.fetch",
        request("https://x.org/", &"x".repeat(40)),
        &mut usage,
    ) else {
        panic!("over 100 bytes")
    };
    assert!(reason.contains("at most 100 B;"), "{reason}");
    assert_eq!(usage.egress(), 58, "a refused call is not charged");
    // Exactly up to the limit is fine: 58 + 14 + 4 + 24 = 100.
    assert!(allowed(&decide_with(
        &p,
        "http.fetch",
        request("https://x.org/", &"x".repeat(24)),
        &mut usage
    )));
    assert_eq!(usage.egress(), 100);
}

#[test]
fn no_policy_denies_everything_with_default_deny() {
    let p = Policy::deny_all();
    assert!(p.rules().is_empty());
    for (call, args) in [
        ("log.write", json!({ "level": "info", "message": "x" })),
        ("http.fetch", get("https://x.org/")),
        ("http.fetch-text", json!({ "url": "https://x.org/" })),
        ("fs.read-text", json!({ "path": "a" })),
        ("secrets.list", json!({})),
        ("tools.units.convert", json!({ "value": 1 })),
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
    let p = policy(
        "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://api.example.org/**\"]\n[[deny]]\ncall = \"http.fetch\"\nurl = [\"https://evil.org/**\"]\n",
    );
    let Decision::Deny { rule, reason } = decide(&p, "http.fetch", get("https://other.org/"))
    else {
        panic!("denied")
    };
    assert_eq!(rule, DEFAULT_DENY_RULE);
    assert!(
        reason.contains("outside every rule for it")
            && reason.contains("p.toml:3 [[allow]] http.fetch"),
        "{reason}"
    );
    assert!(
        !reason.contains("p.toml:6"),
        "deny rules are not near misses: {reason}"
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

fn scope_of(p: &Policy, call: &str, args: &Json) -> Scope {
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
        r#"{"spec": {"name": "j", "once": false, "schedule": {"every": 60}, "action": {"clam": {"clam": "x", "args": {"a": 1, "b": 2}}}}}"#,
    )
    .expect("json");
    let b: Json = serde_json::from_str(
        r#"{"spec": {"action": {"clam": {"args": {"b": 2, "a": 1}, "clam": "x"}}, "schedule": {"every": 60}, "once": false, "name": "j"}}"#,
    )
    .expect("json");
    let fa = scope_of(&p, "cron.add", &a).fingerprint();
    assert_eq!(fa, scope_of(&p, "cron.add", &b).fingerprint());
    assert_eq!(fa.len(), 64, "hex SHA-256");
    assert!(fa.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn fingerprint_differs_when_the_scope_differs() {
    let p = Policy::deny_all();
    let fp = |call: &str, args: Json| scope_of(&p, call, &args).fingerprint();
    let base = fp(
        "cron.add",
        json!({ "spec": { "name": "j", "schedule": { "every": 60 } } }),
    );
    for (call, args) in [
        (
            "cron.add",
            json!({ "spec": { "name": "k", "schedule": { "every": 60 } } }),
        ),
        (
            "cron.add",
            json!({ "spec": { "name": "j", "schedule": { "every": 61 } } }),
        ),
        (
            "cron.add",
            json!({ "spec": { "name": "j", "schedule": { "every": "60" } } }),
        ),
        (
            "cron.remove",
            json!({ "spec": { "name": "j", "schedule": { "every": 60 } } }),
        ),
    ] {
        assert_ne!(base, fp(call, args.clone()), "{call} {args}");
    }
    assert_ne!(
        fp("fs.write-text", json!({ "path": "a", "content": "" })),
        fp("fs.append-text", json!({ "path": "a", "content": "" })),
        "the function is part of the fingerprint"
    );
}

#[test]
fn http_fingerprint_depends_on_method_and_origin_only() {
    let p = Policy::deny_all();
    let fp =
        |method: &str, url: &str| scope_of(&p, "http.fetch", &fetch(method, url)).fingerprint();
    assert_eq!(
        fp("GET", "https://x.org/a?q=1"),
        fp("GET", "https://x.org/b/c#frag")
    );
    assert_eq!(
        fp("GET", "https://X.org:443/a"),
        fp("get", "https://x.org/b")
    );
    assert_eq!(fp("", "https://x.org/a"), fp("GET", "https://x.org/b"));
    let with_body = json!({ "req": { "method": "GET", "url": "https://x.org/a", "headers": [{ "name": "x", "value": "y" }], "body": "zzz", "bearer-secret": null } });
    assert_eq!(
        scope_of(&p, "http.fetch", &with_body).fingerprint(),
        fp("GET", "https://x.org/")
    );
    assert_ne!(fp("GET", "https://x.org/a"), fp("POST", "https://x.org/a"));
    assert_ne!(fp("GET", "https://x.org/a"), fp("GET", "https://y.org/a"));
    assert_ne!(fp("GET", "https://x.org/a"), fp("GET", "http://x.org/a"));
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
    assert_eq!(fp("notes/a.md"), fp("notes//a.md"));
    assert_ne!(fp("notes/a.md"), fp("notes/b.md"));
    let content = |c: &str| {
        scope_of(&p, "fs.write-text", &json!({ "path": "a", "content": c })).fingerprint()
    };
    assert_eq!(content("one"), content("two"), "content is not scope");
}

// ---- properties ------------------------------------------------------------

/// Any JSON value, with keys and strings biased toward what matchers read.
fn any_json() -> impl Strategy<Value = Json> {
    let text = prop_oneof![
        "\\PC{0,16}",
        Just("https://x.org/a".to_owned()),
        Just("a/b".to_owned()),
        Just("GET".to_owned()),
        Just("../x".to_owned()),
    ];
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        text.prop_map(Json::String),
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "req",
            "url",
            "method",
            "headers",
            "body",
            "bearer-secret",
            "name",
            "value",
            "path",
            "from",
            "to",
            "limit",
            "query",
            "level",
            "message",
            "spec",
        ])
        .prop_map(str::to_owned),
        "[a-z-]{1,6}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Every host function, and a tool call.
const FUNCTIONS: &[&str] = &[
    "http.fetch",
    "http.fetch-text",
    "fs.read-text",
    "fs.write-text",
    "fs.list",
    "fs.move",
    "fs.remove",
    "cron.add",
    "cron.remove",
    "memory.recall",
    "memory.remember",
    "secrets.list",
    "secrets.has",
    "log.write",
    "tools.units.convert",
];

/// A policy with rules for http, fs, memory and log, and none for cron, secrets
/// or tools.
const BUSY_POLICY: &str = "[run]\nmax-egress = \"1KiB\"\n\
[[allow]]\ncall = \"log.write\"\nmax-calls = 3\n\
[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://*.x.org/**\", \"http://[::1]:*/a/*\"]\nmethod = [\"GET\", \"POST\"]\nsecrets = [\"gh\"]\n\
[[allow]]\ncall = \"http.fetch-text\"\n\
[[deny]]\ncall = \"http.*\"\nurl = [\"https://*.x.org/admin/**\"]\n\
[[ask]]\ncall = \"fs.*\"\npath = [\"a/**\", \"*.md\"]\n\
[[deny]]\ncall = \"fs.*\"\npath = [\"a/secret/**\"]\n\
[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { lt = 10 }, \"query\" = { prefix = \"p\" } }\n";

const UNRULED: &[&str] = &["cron", "secrets", "tools.units"];

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn decide_never_panics_on_arbitrary_arguments(
        args in any_json(),
        function in prop::sample::select(FUNCTIONS),
    ) {
        let busy = policy(BUSY_POLICY);
        let (interface, name) = function.rsplit_once('.').expect("function");
        let call = Call { interface, function: name, args: &args };
        let mut usage = Usage::default();
        for _ in 0..3 {
            let decision = busy.decide(&call, &mut usage);
            if UNRULED.contains(&interface) {
                prop_assert!(
                    denied_by(&decision) == Some(DEFAULT_DENY_RULE),
                    "{function} {args}: {decision:?}"
                );
            }
            let Decision::Deny { rule, .. } = Policy::deny_all().decide(&call, &mut Usage::default())
            else {
                return Err(TestCaseError::fail("the empty policy allowed a call"));
            };
            prop_assert_eq!(rule, DEFAULT_DENY_RULE);
        }
        prop_assert!(usage.egress() <= 1024);
        let scope = busy.scope(&call);
        prop_assert_eq!(scope.fingerprint().len(), 64);
    }

    #[test]
    fn arbitrary_urls_and_paths_never_panic_and_unruled_interfaces_are_denied(
        url in prop_oneof![
            "\\PC{0,40}",
            "(https?|HTTP|ftp|file)://[a-zA-Z0-9.:@%/*\\[\\]-]{0,30}",
            "https://[a-z]{0,3}\\.x\\.org[./%a-z0-9]{0,20}",
        ],
        path in prop_oneof!["\\PC{0,24}", "[a./\\\\\0:%]{0,20}"],
        method in "[A-Za-z ]{0,8}",
        number in any::<f64>(),
    ) {
        let busy = policy(BUSY_POLICY);
        let _ = decide(&busy, "http.fetch", fetch(&method, &url));
        let _ = decide(&busy, "http.fetch-text", json!({ "url": url }));
        let _ = decide(&busy, "fs.move", json!({ "from": path, "to": url }));
        let _ = decide(&busy, "memory.recall", json!({ "query": url, "limit": number }));
        let fs = decide(&busy, "fs.read-text", json!({ "path": path }));
        if matches!(fs, Decision::Ask { .. }) {
            // Only a path that normalises into the workspace can be asked about.
            prop_assert!(!path.starts_with('/') && !path.contains('\\') && !path.contains('\0'));
        }
        for call in ["cron.add", "secrets.has", "tools.units.convert"] {
            let decision = decide(&busy, call, json!({ "name": path, "url": url, "n": number }));
            prop_assert!(denied_by(&decision) == Some(DEFAULT_DENY_RULE), "{call}: {decision:?}");
        }
    }

    #[test]
    fn equivalent_fs_spellings_get_the_same_decision(
        segments in prop::collection::vec(prop::sample::select(vec!["a", "b", "secret", "x.md", "c"]), 1..5),
        noise in prop::collection::vec(0u8..4, 5),
    ) {
        let busy = policy(BUSY_POLICY);
        let plain = segments.join("/");
        let mut spelled = String::new();
        for (i, segment) in segments.iter().enumerate() {
            match noise[i % noise.len()] {
                1 => spelled.push_str("./"),
                2 => spelled.push_str("zz/../"),
                3 if i > 0 => spelled.push('/'),
                _ => {}
            }
            spelled.push_str(segment);
            spelled.push('/');
        }
        let (a, b) = (
            decide(&busy, "fs.write-text", json!({ "path": plain, "content": "" })),
            decide(&busy, "fs.write-text", json!({ "path": spelled, "content": "" })),
        );
        // Same verdict and rule; an ask's scope is the normalised path, so equal too.
        prop_assert_eq!(&a, &b, "{} vs {}", plain, spelled);
    }

    #[test]
    fn equivalent_url_spellings_get_the_same_decision(
        sub in prop::sample::select(vec!["api", "www", "a.b"]),
        segments in prop::collection::vec(prop::sample::select(vec!["admin", "v1", "a", "x y", "~u"]), 0..4),
        upper in any::<bool>(),
        dot in any::<bool>(),
        port in any::<bool>(),
        escape in any::<bool>(),
    ) {
        let busy = policy(BUSY_POLICY);
        let path = segments.join("/");
        let plain = format!("https://{sub}.x.org/{path}");
        let mut host = format!("{sub}.x.org");
        if upper {
            host = host.to_uppercase();
        }
        if dot {
            host.push('.');
        }
        if port {
            host.push_str(":443");
        }
        let path = if escape { path.replace('a', "%61").replace('~', "%7E") } else { path };
        let spelled = format!("https://{host}/{path}");
        let (a, b) = (
            decide(&busy, "http.fetch", get(&plain)),
            decide(&busy, "http.fetch", get(&spelled)),
        );
        prop_assert_eq!(verdict(&a), verdict(&b), "{} vs {}", plain, spelled);
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
    let base = "[run]\ntimeout = \"30s\"\n[net]\nallow-private = [\"127.0.0.1:8080\"]\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/**\"]\nmethod = [\"GET\", \"POST\"]\nmax-calls = 5\nsecrets = [\"gh\"]\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 10 } }\n[[allow]]\ncall = \"fs.read-text\"\n";
    assert!(
        changes(base, base).is_empty(),
        "identical policies have no changes"
    );
    assert!(!diff::widens(&[]));

    let widened = |new: &str| {
        let c = changes(base, new);
        assert!(
            !c.is_empty() && c.iter().all(|(d, _)| *d == Direction::Widened),
            "{new}\n{c:?}"
        );
        assert!(diff::widens(&diff::diff(&policy(base), &policy(new))));
    };
    let narrowed = |new: &str| {
        let c = changes(base, new);
        assert!(
            !c.is_empty() && c.iter().all(|(d, _)| *d == Direction::Narrowed),
            "{new}\n{c:?}"
        );
        assert!(!diff::widens(&diff::diff(&policy(base), &policy(new))));
    };
    let swap = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        base.replace(from, to)
    };

    // Widenings.
    widened(&format!("{base}[[allow]]\ncall = \"log.write\"\n"));
    widened(&format!("{base}[[ask]]\ncall = \"fs.write-text\"\n"));
    widened(&swap(
        "[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n",
        "",
    ));
    widened(&swap(
        "url = [\"https://a.org/**\"]",
        "url = [\"https://a.org/**\", \"https://b.org/**\"]",
    ));
    widened(&swap("url = [\"https://a.org/**\"]\n", ""));
    widened(&swap(
        "method = [\"GET\", \"POST\"]",
        "method = [\"GET\", \"POST\", \"PUT\"]",
    ));
    widened(&swap("max-calls = 5", "max-calls = 50"));
    widened(&swap("max-calls = 5\n", ""));
    widened(&swap("timeout = \"30s\"", "timeout = \"60s\""));
    // An absent timeout is the default, 30 s: no change at all.
    assert!(changes(base, &swap("timeout = \"30s\"\n", "")).is_empty());
    widened(&swap("timeout = \"30s\"", "timeout = \"10m\""));
    widened(&swap("where = { \"limit\" = { le = 10 } }\n", ""));
    widened(&swap("secrets = [\"gh\"]", "secrets = [\"gh\", \"aws\"]"));
    widened(&swap(
        "allow-private = [\"127.0.0.1:8080\"]",
        "allow-private = [\"127.0.0.1:8080\", \"[::1]:9000\"]",
    ));
    widened(&swap(
        "[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]",
        "[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\nwhere = { \"path\" = { prefix = \"s\" } }",
    ));

    // Narrowings.
    narrowed(&swap("method = [\"GET\", \"POST\"]", "method = [\"GET\"]"));
    narrowed(&swap("max-calls = 5", "max-calls = 1"));
    narrowed(&swap("timeout = \"30s\"", "timeout = \"10s\""));
    narrowed(&swap("[run]\n", "[run]\nmax-calls = 20\n"));
    narrowed(&swap(
        "where = { \"limit\" = { le = 10 } }",
        "where = { \"limit\" = { le = 10 }, \"query\" = { prefix = \"a\" } }",
    ));
    narrowed(&swap(
        "call = \"http.fetch\"\n",
        "call = \"http.fetch\"\nwhere = { \"req.method\" = { eq = \"GET\" } }\n",
    ));
    narrowed(&format!("{base}[[deny]]\ncall = \"http.*\"\n"));
    narrowed(&swap(
        "path = [\"secrets/**\"]",
        "path = [\"secrets/**\", \".git/**\"]",
    ));
    narrowed(&swap("secrets = [\"gh\"]\n", ""));
    narrowed(&swap(
        "allow-private = [\"127.0.0.1:8080\"]",
        "allow-private = []",
    ));
    narrowed(&swap(
        "[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 10 } }\n",
        "",
    ));

    // A deny glob reworded to cover less is a widening, and only that: the
    // comparison is of what the globs match, not of their text.
    let reworded = swap("path = [\"secrets/**\"]", "path = [\"secrets/*\"]");
    let c = changes(base, &reworded);
    assert!(c.iter().any(|(d, _)| *d == Direction::Widened), "{c:?}");
    assert!(!c.iter().any(|(d, _)| *d == Direction::Narrowed), "{c:?}");
}

#[test]
fn an_ask_rule_becoming_an_allow_rule_is_a_widening() {
    let c = diff::diff(
        &policy("[[ask]]\ncall = \"fs.write-text\"\n"),
        &policy("[[allow]]\ncall = \"fs.write-text\"\n"),
    );
    assert!(diff::widens(&c), "{c:?}");
    let back = diff::diff(
        &policy("[[allow]]\ncall = \"fs.write-text\"\n"),
        &policy("[[ask]]\ncall = \"fs.write-text\"\n"),
    );
    // The other way round every call still gets through, but only after a
    // person says yes: a narrowing, and nothing else.
    assert!(!diff::widens(&back), "{back:?}");
    assert!(back.iter().any(|c| c.direction == Direction::Narrowed));
}

#[test]
fn moving_and_commenting_rules_is_no_change() {
    let a = "[[allow]]\ncall = \"log.write\"\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n";
    let b = "# reordered\n[[deny]]\ncall = \"fs.*\" # still here\npath = [\"secrets/**\"]\n\n[[allow]]\ncall = \"log.write\"\nnote = \"a note is not a capability\"\n";
    assert!(changes(a, b).is_empty(), "{:?}", changes(a, b));
}

#[test]
fn explain_has_one_line_per_rule() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy.toml");
    let p = Policy::load(&path).expect("the repository policy loads");
    let text = p.explain();
    let rule_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ALLOW") || l.starts_with("ASK") || l.starts_with("DENY"))
        .collect();
    assert_eq!(rule_lines.len(), p.rules().len(), "{text}");
    for (line, rule) in rule_lines.iter().zip(p.rules()) {
        assert!(
            line.ends_with(&format!(":{})", rule.line)),
            "{line} names its line {}",
            rule.line
        );
    }
    assert!(text.contains("everything not listed below is denied"));
    assert!(text.contains("Each run is limited to:"), "{text}");
    assert!(text.contains("DENY   fs.*: paths .git/**"), "{text}");
    assert!(
        text.contains("[clams/btc-price]"),
        "notes are shown: {text}"
    );
}

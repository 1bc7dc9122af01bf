//! Policy review you can trust: `policy diff` proved against the gate's own
//! decision function, `policy check` refusing what runs refuse, `explain`
//! showing what matters, and suggested rules that are exactly as wide as the
//! denied call. Process-level where the CLI behaviour matters.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use clambot::policy::diff::{self, Verdict};
use clambot::policy::{Call, Caller, Policy};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

// ---- generated policy pairs --------------------------------------------------

const CALLS: &[&str] = &[
    "http.fetch",
    "http.*",
    "http.fetch-text",
    "fs.read-text",
    "fs.write-text",
    "fs.move",
    "fs.*",
    "memory.recall",
    "log.write",
    "tools.kit.count-words",
    "tools.kit.*",
];
const URLS: &[&str] = &[
    "https://a.org/**",
    "https://a.org/api/**",
    "https://a.org/api/*",
    "https://*.a.org/**",
    "https://x.a.org/api/v1",
    "http://a.org/**",
    "https://a.org:8443/**",
    "https://a.org:*/**",
    "https://*/**",
    "https://b.org/**",
    "https://a.org/**/x",
    "https://a.org/q",
];
const METHODS: &[&str] = &["GET", "POST", "DELETE"];
const GLOBS: &[&str] = &[
    "**",
    "notes/**",
    "notes/*.md",
    "notes/*",
    "secrets/**",
    "secrets/*",
    "*",
    "notes/a/**",
    "**/x",
];
const CONDITIONS: &[&str] = &[
    "\"limit\" = { le = 10 }",
    "\"limit\" = { le = 5 }",
    "\"limit\" = { lt = 5 }",
    "\"query\" = { prefix = \"a\" }",
    "\"query\" = { prefix = \"ab\" }",
    "\"query\" = { in = [\"ab\", \"x\"] }",
];
/// `where` conditions for fs, http and tool rules: normalised paths, methods, URLs.
const FS_CONDITIONS: &[&str] = &[
    "\"path\" = { prefix = \"notes/\" }",
    "\"path\" = { prefix = \"secrets\" }",
    "\"path\" = { eq = \"notes/a.md\" }",
];
const HTTP_CONDITIONS: &[&str] = &[
    "\"req.method\" = { eq = \"GET\" }",
    "\"req.method\" = { in = [\"GET\", \"POST\"] }",
    "\"req.url\" = { prefix = \"https://a.org/api\" }",
];
const TOOL_CONDITIONS: &[&str] = &[
    "\"text\" = { prefix = \"a\" }",
    "\"text\" = { eq = \"ab\" }",
];
const KINDS: &[&str] = &["allow", "ask", "deny"];
const SECRETS: &[&str] = &["gh", "aws"];

/// One generated rule, as choices from the pools above.
#[derive(Debug, Clone)]
struct RuleSpec {
    kind: usize,
    call: usize,
    urls: Option<Vec<usize>>,
    methods: Option<Vec<usize>>,
    paths: Option<Vec<usize>>,
    conditions: Vec<usize>,
    max_calls: Option<u64>,
    secrets: Vec<usize>,
    tool_caller: bool,
}

fn subset(pool: usize, max: usize) -> impl Strategy<Value = Option<Vec<usize>>> {
    prop::option::weighted(0.7, prop::collection::vec(0..pool, 1..=max))
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        0..KINDS.len(),
        0..CALLS.len(),
        subset(URLS.len(), 3),
        subset(METHODS.len(), 2),
        subset(GLOBS.len(), 2),
        prop::collection::vec(0..CONDITIONS.len(), 0..=1),
        prop::option::weighted(0.3, 1u64..=3),
        prop::collection::vec(0..SECRETS.len(), 0..=2),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(kind, call, urls, methods, paths, conditions, max_calls, secrets, tool_caller)| {
                RuleSpec {
                    kind,
                    call,
                    urls,
                    methods,
                    paths,
                    conditions,
                    max_calls,
                    secrets,
                    tool_caller,
                }
            },
        )
}

impl RuleSpec {
    /// The rule as policy text, keeping only the keys its call may have.
    fn toml(&self) -> String {
        let call = CALLS[self.call];
        let interface = call.split('.').next().unwrap_or_default();
        let list = |pool: &[&str], items: &[usize]| {
            let mut seen: Vec<&str> = Vec::new();
            for &i in items {
                if !seen.contains(&pool[i]) {
                    seen.push(pool[i]);
                }
            }
            let quoted: Vec<String> = seen.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let mut out = format!("[[{}]]\ncall = \"{call}\"\n", KINDS[self.kind]);
        if interface == "http" {
            if let Some(urls) = &self.urls {
                out.push_str(&format!("url = {}\n", list(URLS, urls)));
            }
            if let Some(methods) = &self.methods {
                out.push_str(&format!("method = {}\n", list(METHODS, methods)));
            }
            if KINDS[self.kind] != "deny" && !self.secrets.is_empty() {
                out.push_str(&format!("secrets = {}\n", list(SECRETS, &self.secrets)));
            }
        }
        if interface == "fs"
            && let Some(paths) = &self.paths
        {
            out.push_str(&format!("path = {}\n", list(GLOBS, paths)));
        }
        let pool: &[&str] = match interface {
            _ if call == "memory.recall" => CONDITIONS,
            "fs" => FS_CONDITIONS,
            "http" => HTTP_CONDITIONS,
            "tools" => TOOL_CONDITIONS,
            _ => &[],
        };
        if !pool.is_empty() && !self.conditions.is_empty() {
            let conds: Vec<&str> = self
                .conditions
                .iter()
                .map(|&i| pool[i % pool.len()])
                .collect();
            out.push_str(&format!("where = {{ {} }}\n", conds.join(", ")));
        }
        if let Some(n) = self.max_calls {
            out.push_str(&format!("max-calls = {n}\n"));
        }
        if self.tool_caller && (interface == "http" || interface == "fs") {
            out.push_str("caller = \"tools.kit\"\n");
        }
        out
    }
}

#[derive(Debug, Clone)]
struct PolicySpec {
    rules: Vec<RuleSpec>,
    run: Vec<(usize, usize)>,
    private: Vec<usize>,
}

const RUN_KEYS: &[(&str, &[&str])] = &[
    ("timeout", &["\"10s\"", "\"30s\"", "\"10m\""]),
    ("memory", &["\"32MiB\"", "\"64MiB\"", "\"128MiB\""]),
    ("max-calls", &["2", "5"]),
];
const PRIVATE: &[&str] = &["127.0.0.1:8080", "[::1]:9000"];

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    (
        prop::collection::vec(rule_spec(), 0..6),
        prop::collection::vec((0..RUN_KEYS.len(), 0..3usize), 0..2),
        prop::collection::vec(0..PRIVATE.len(), 0..2),
    )
        .prop_map(|(rules, run, private)| PolicySpec {
            rules,
            run,
            private,
        })
}

impl PolicySpec {
    fn toml(&self) -> String {
        let mut out = String::from(
            "version = 1\n[tools.kit]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nimports = [\"http\", \"fs\"]\n",
        );
        let mut keys: Vec<usize> = Vec::new();
        let mut run = String::new();
        for &(key, value) in &self.run {
            if keys.contains(&key) {
                continue;
            }
            keys.push(key);
            let (name, values) = RUN_KEYS[key];
            run.push_str(&format!("{name} = {}\n", values[value % values.len()]));
        }
        if !run.is_empty() {
            out.push_str(&format!("[run]\n{run}"));
        }
        if !self.private.is_empty() {
            let mut addrs: Vec<String> = self
                .private
                .iter()
                .map(|&i| format!("{:?}", PRIVATE[i]))
                .collect();
            addrs.dedup();
            out.push_str(&format!("[net]\nallow-private = [{}]\n", addrs.join(", ")));
        }
        for rule in &self.rules {
            out.push_str(&rule.toml());
        }
        out
    }
}

/// Small edits a reviewer might see in a pull request.
#[derive(Debug, Clone)]
enum Mutation {
    Remove(usize),
    Duplicate(usize),
    Add(RuleSpec),
    Kind(usize, usize),
    Urls(usize, Option<Vec<usize>>),
    Methods(usize, Option<Vec<usize>>),
    Paths(usize, Option<Vec<usize>>),
    Conditions(usize, Vec<usize>),
    MaxCalls(usize, Option<u64>),
    Secrets(usize, Vec<usize>),
    Caller(usize),
    Call(usize, usize),
    Run(Vec<(usize, usize)>),
    Private(Vec<usize>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0..8usize;
    prop_oneof![
        at.clone().prop_map(Mutation::Remove),
        at.clone().prop_map(Mutation::Duplicate),
        rule_spec().prop_map(Mutation::Add),
        (at.clone(), 0..KINDS.len()).prop_map(|(i, k)| Mutation::Kind(i, k)),
        (at.clone(), subset(URLS.len(), 3)).prop_map(|(i, u)| Mutation::Urls(i, u)),
        (at.clone(), subset(METHODS.len(), 2)).prop_map(|(i, m)| Mutation::Methods(i, m)),
        (at.clone(), subset(GLOBS.len(), 2)).prop_map(|(i, p)| Mutation::Paths(i, p)),
        (
            at.clone(),
            prop::collection::vec(0..CONDITIONS.len(), 0..=1)
        )
            .prop_map(|(i, c)| Mutation::Conditions(i, c)),
        (at.clone(), prop::option::of(1u64..=3)).prop_map(|(i, m)| Mutation::MaxCalls(i, m)),
        (at.clone(), prop::collection::vec(0..SECRETS.len(), 0..=2))
            .prop_map(|(i, s)| Mutation::Secrets(i, s)),
        at.clone().prop_map(Mutation::Caller),
        (at.clone(), 0..CALLS.len()).prop_map(|(i, c)| Mutation::Call(i, c)),
        prop::collection::vec((0..RUN_KEYS.len(), 0..3usize), 0..2).prop_map(Mutation::Run),
        prop::collection::vec(0..PRIVATE.len(), 0..2).prop_map(Mutation::Private),
    ]
}

impl PolicySpec {
    fn mutate(&self, mutations: &[Mutation]) -> Self {
        let mut out = self.clone();
        for m in mutations {
            let n = out.rules.len();
            let pick = |i: usize| if n == 0 { None } else { Some(i % n) };
            match m.clone() {
                Mutation::Remove(i) => {
                    if let Some(i) = pick(i) {
                        out.rules.remove(i);
                    }
                }
                Mutation::Duplicate(i) => {
                    if let Some(i) = pick(i) {
                        let copy = out.rules[i].clone();
                        out.rules.push(copy);
                    }
                }
                Mutation::Add(rule) => out.rules.push(rule),
                Mutation::Run(run) => out.run = run,
                Mutation::Private(p) => out.private = p,
                other => {
                    let Some(i) = pick(match &other {
                        Mutation::Kind(i, _)
                        | Mutation::Urls(i, _)
                        | Mutation::Methods(i, _)
                        | Mutation::Paths(i, _)
                        | Mutation::Conditions(i, _)
                        | Mutation::MaxCalls(i, _)
                        | Mutation::Secrets(i, _)
                        | Mutation::Caller(i)
                        | Mutation::Call(i, _) => *i,
                        _ => 0,
                    }) else {
                        continue;
                    };
                    let rule = &mut out.rules[i];
                    match other {
                        Mutation::Kind(_, k) => rule.kind = k,
                        Mutation::Urls(_, u) => rule.urls = u,
                        Mutation::Methods(_, m) => rule.methods = m,
                        Mutation::Paths(_, p) => rule.paths = p,
                        Mutation::Conditions(_, c) => rule.conditions = c,
                        Mutation::MaxCalls(_, m) => rule.max_calls = m,
                        Mutation::Secrets(_, s) => rule.secrets = s,
                        Mutation::Caller(_) => rule.tool_caller = !rule.tool_caller,
                        Mutation::Call(_, c) => rule.call = c,
                        _ => {}
                    }
                }
            }
        }
        out
    }
}

/// The calls every pair is judged on: each interface, many URLs, methods,
/// secrets and paths, both sides of every generated glob and pattern.
fn calls() -> Vec<(String, String, Json)> {
    let mut out = Vec::new();
    let urls = [
        "https://a.org/",
        "https://a.org/api",
        "https://a.org/api/x",
        "https://a.org/api/x/y",
        "https://x.a.org/api/v1",
        "https://y.x.a.org/z",
        "https://a.org/q",
        "https://a.org/q/x",
        "https://a.org/x",
        "http://a.org/q",
        "https://a.org:8443/p",
        "https://a.org:9000/p",
        "https://b.org/x",
        "https://c.net/x",
    ];
    for url in urls {
        for method in ["GET", "POST", "DELETE", "PUT"] {
            for secret in [None, Some("gh"), Some("aws")] {
                let mut req = json!({ "method": method, "url": url, "headers": [] });
                if let Some(s) = secret {
                    req["bearer-secret"] = json!(s);
                }
                out.push(("http".into(), "fetch".into(), json!({ "req": req })));
            }
        }
        out.push(("http".into(), "fetch-text".into(), json!({ "url": url })));
    }
    let paths = [
        "notes/a.md",
        "./notes/a.md",
        "notes/../secrets/k",
        "notes/a",
        "notes/a/b",
        "notes",
        "secrets/k",
        "secrets/a/b",
        "secrets",
        "x",
        "a/x",
        "top.md",
    ];
    for path in paths {
        for function in ["read-text", "write-text"] {
            out.push(("fs".into(), function.into(), json!({ "path": path })));
        }
    }
    for (from, to) in [
        ("notes/a.md", "secrets/k"),
        ("notes/a.md", "notes/b.md"),
        ("x", "notes/a/b"),
        ("secrets/k", "x"),
    ] {
        out.push((
            "fs".into(),
            "move".into(),
            json!({ "from": from, "to": to }),
        ));
    }
    for (query, limit) in [("ab", 3), ("a", 7), ("x", 12), ("abc", 5), ("zz", 1)] {
        out.push((
            "memory".into(),
            "recall".into(),
            json!({ "query": query, "limit": limit }),
        ));
    }
    out.push((
        "log".into(),
        "write".into(),
        json!({ "level": "info", "message": "hi" }),
    ));
    for text in ["ab", "abc", "x"] {
        out.push((
            "tools.kit".into(),
            "count-words".into(),
            json!({ "text": text }),
        ));
        out.push(("tools.kit".into(), "other".into(), json!({ "text": text })));
    }
    for (method, url) in [
        ("get", "https://a.org/api/x"),
        ("post", "HTTPS://A.ORG/api"),
        ("", "https://a.org:443/q"),
    ] {
        out.push((
            "http".into(),
            "fetch".into(),
            json!({ "req": { "method": method, "url": url } }),
        ));
    }
    out
}

fn parse(name: &str, text: &str) -> Policy {
    Policy::parse(name, text)
        .unwrap_or_else(|e| panic!("generated policy does not load: {e}\n{text}"))
}

/// Whether the gate itself finds a call that `new` lets through more than `old`.
fn gate_witness(old: &Policy, new: &Policy, calls: &[(String, String, Json)]) -> Option<String> {
    let callers = [Caller::Script, Caller::Tool("kit".into())];
    for (interface, function, args) in calls {
        let call = Call {
            interface,
            function,
            args,
        };
        for caller in &callers {
            // Enough repetitions to spend every generated budget.
            if let Some(w) = diff::widening_witness(old, new, caller, &call, 12) {
                return Some(w);
            }
        }
    }
    diff::limits_grew(old, new).then(|| "an effective limit grew".to_owned())
}

/// Generated pairs per run: 3000, or `CLAMBOT_DIFF_CASES` for a longer soak.
fn diff_cases() -> u32 {
    std::env::var("CLAMBOT_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: diff_cases(),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// The differential proof: whenever `diff` says nothing widened, the real
    /// decision function agrees for every generated call, every repetition
    /// (budgets) and both callers; and when it says unchanged, nothing narrowed
    /// either.
    #[test]
    fn diff_never_says_nothing_widened_when_the_gate_lets_more_through(
        old in policy_spec(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let new = old.mutate(&mutations);
        let (old_text, new_text) = (old.toml(), new.toml());
        let (a, b) = (parse("old.toml", &old_text), parse("new.toml", &new_text));
        let changes = diff::diff(&a, &b);
        let calls = calls();
        // `CLAMBOT_DIFF_STATS=1`: print each verdict, and whether the gate
        // confirms a widening (a widening it cannot confirm is a false alarm:
        // allowed by the proof's caution, but counted).
        if std::env::var_os("CLAMBOT_DIFF_STATS").is_some() {
            let confirmed = diff::widens(&changes) && gate_witness(&a, &b, &calls).is_some();
            eprintln!("verdict {:?} confirmed={confirmed}", Verdict::of(&changes));
        }
        if !diff::widens(&changes) {
            let witness = gate_witness(&a, &b, &calls);
            prop_assert!(
                witness.is_none(),
                "diff says {:?} but the gate disagrees: {}\n--- old\n{}--- new\n{}--- changes\n{:#?}",
                Verdict::of(&changes), witness.unwrap_or_default(), old_text, new_text, changes
            );
        }
        if Verdict::of(&changes) == Verdict::Unchanged {
            let witness = gate_witness(&b, &a, &calls);
            prop_assert!(
                witness.is_none(),
                "diff says unchanged but the new policy narrows: {}\n--- old\n{}--- new\n{}",
                witness.unwrap_or_default(), old_text, new_text
            );
        }
        // A policy compared with itself is unchanged.
        prop_assert!(diff::diff(&a, &a).is_empty(), "{:#?}", diff::diff(&a, &a));
    }
}

// ---- diff: the misses the issue names ---------------------------------------

fn verdict(old: &str, new: &str) -> (Verdict, Vec<diff::Change>) {
    let changes = diff::diff(
        &parse("old.toml", &format!("version = 1\n{old}")),
        &parse("new.toml", &format!("version = 1\n{new}")),
    );
    (Verdict::of(&changes), changes)
}

#[test]
fn named_misses_are_widenings() {
    let tool = "[tools.kit]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nimports = [\"http\"]\n";
    let fetch = "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/p\"]\n";
    for (old, new, why) in [
        (
            "",
            "[run]\ntimeout = \"10m\"\n",
            "a timeout above the 30 s default",
        ),
        (
            "",
            "[run]\nmemory = \"128MiB\"\n",
            "memory above the default",
        ),
        ("[run]\nmax-calls = 5\n", "", "a removed run budget"),
        (
            "",
            "[net]\nallow-private = [\"127.0.0.1:1\"]\n",
            "a private address",
        ),
        (
            tool,
            &tool.replace(
                "0000000000000000000000000000000000000000000000000000000000000000",
                "1111111111111111111111111111111111111111111111111111111111111111",
            ),
            "a re-pinned component",
        ),
        (
            tool,
            &format!("{tool}component = \"elsewhere.wasm\"\n"),
            "a moved component",
        ),
        (
            tool,
            &tool.replace("[\"http\"]", "[\"http\", \"fs\"]"),
            "a new import",
        ),
        (
            tool,
            &format!("{tool}timeout = \"1h\"\n"),
            "a longer tool timeout",
        ),
        (
            &format!("{tool}{fetch}caller = \"tools.kit\"\n"),
            &format!("{tool}{fetch}"),
            "a removed caller hands the tool's rights to scripts",
        ),
        (
            &format!("{fetch}[[ask]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/p\"]\n"),
            fetch,
            "a removed ask that shadowed an identical allow",
        ),
        (
            &format!("{fetch}max-calls = 2\n"),
            &format!("{fetch}max-calls = 2\n{fetch}max-calls = 2\n"),
            "a duplicated rule doubles a budget",
        ),
        (
            fetch,
            &fetch.replace("https://a.org/p", "https://a.org/p,evil.example/**"),
            "one pattern split by a comma is still a different pattern",
        ),
        (
            "[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 5 } }\n",
            "[[allow]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { le = 50 } }\n",
            "a looser where",
        ),
        (
            &format!("{fetch}secrets = [\"gh\"]\n"),
            &format!("{fetch}secrets = [\"gh\", \"aws\"]\n"),
            "another secret",
        ),
        (
            "[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n",
            "[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/*\"]\n",
            "a narrower deny",
        ),
    ] {
        let (v, changes) = verdict(old, new);
        assert_eq!(v, Verdict::Widened, "{why}: {changes:#?}");
    }
}

#[test]
fn url_patterns_that_can_never_match_do_not_load() {
    // The second pattern's `//` makes the joined text a path with `//`, which
    // the loader refuses: the mistake cannot reach a run, diff or explain.
    let error = Policy::parse(
        "p.toml",
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/p,https://evil.example/**\"]\n",
    )
    .expect_err("refused");
    assert!(error.to_string().contains("p.toml:4:"), "{error}");
    // Likewise a pattern with a dot segment, which no normalised request has.
    let error = Policy::parse(
        "p.toml",
        "version = 1\n[[deny]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/a/../admin/**\"]\n",
    )
    .expect_err("refused");
    assert!(error.to_string().contains("p.toml:4:"), "{error}");
}

#[test]
fn a_huge_timeout_is_refused_not_shown_as_lowered() {
    let error = Policy::parse(
        "p.toml",
        "version = 1\n[run]\ntimeout = \"300000000000years\"\n",
    )
    .expect_err("refused");
    assert_eq!(error.diagnostics[0].line, 3, "{error}");
    assert!(error.to_string().contains("longest run"), "{error}");
}

#[test]
fn absent_run_table_means_the_defaults() {
    let (v, c) = verdict(
        "",
        "[run]\ntimeout = \"30s\"\nmemory = \"64MiB\"\nmax-output = \"1MiB\"\n",
    );
    assert_eq!(v, Verdict::Unchanged, "{c:#?}");
    let (v, c) = verdict("", "[run]\ntimeout = \"10s\"\n");
    assert_eq!(v, Verdict::OnlyNarrowed, "{c:#?}");
}

// ---- the CLI ---------------------------------------------------------------

fn clambot(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("home");
    common::cli::run(home.path(), &[], args)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn diff_exit_codes_say_unchanged_narrowed_widened_or_unreadable() {
    let dir = tempfile::tempdir().expect("dir");
    let base = write(
        dir.path(),
        "base.toml",
        "version = 1\n[[allow]]\ncall = \"log.write\"\n[[allow]]\ncall = \"fs.read-text\"\n",
    );
    let same = write(
        dir.path(),
        "same.toml",
        "version = 1\n# moved\n[[allow]]\ncall = \"fs.read-text\"\nnote = \"x\"\n[[allow]]\ncall = \"log.write\"\n",
    );
    let narrower = write(
        dir.path(),
        "narrower.toml",
        "version = 1\n[[allow]]\ncall = \"fs.read-text\"\n",
    );
    let wider = write(
        dir.path(),
        "wider.toml",
        "version = 1\n[[allow]]\ncall = \"fs.*\"\n[[allow]]\ncall = \"log.write\"\n",
    );
    let broken = write(dir.path(), "broken.toml", "version = 1\n[[allow]]\n");
    let o = clambot(&["policy", "diff", &base, &same]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(out(&o), "no capability changes\n");
    let o = clambot(&["policy", "diff", &base, &narrower]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).ends_with("only narrowed: nothing widened\n"),
        "{}",
        out(&o)
    );
    let o = clambot(&["policy", "diff", &base, &wider]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    let o = clambot(&["policy", "diff", &base, &broken]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    let missing = dir.path().join("missing.toml").display().to_string();
    let o = clambot(&["policy", "diff", &missing, &base]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));

    // JSON: the verdict and each change with its file and line.
    let o = clambot(&["policy", "diff", "--format", "json", &base, &wider]);
    assert_eq!(o.status.code(), Some(3));
    let report: Json = serde_json::from_str(&out(&o)).expect("json");
    assert_eq!(report["verdict"], "widened");
    let change = &report["changes"][0];
    assert_eq!(change["direction"], "widened");
    assert_eq!(change["file"], wider.as_str());
    assert_eq!(change["line"], 3, "the line of the rule's `call`");
    let o = clambot(&["policy", "diff", "--format", "json", &base, &same]);
    let report: Json = serde_json::from_str(&out(&o)).expect("json");
    assert_eq!(report["verdict"], "unchanged");

    // GitHub: one annotation per change, on the new file's line.
    let o = clambot(&["policy", "diff", "--format", "github", &base, &wider]);
    assert_eq!(o.status.code(), Some(3));
    let first = out(&o).lines().next().unwrap_or_default().to_owned();
    assert!(
        first.starts_with(&format!(
            "::error file={wider},line=3,title=policy widened::"
        )),
        "{first}"
    );
}

// ---- check refuses what runs refuse ----------------------------------------

#[test]
fn check_and_run_refuse_limits_the_sandbox_cannot_honour() {
    let dir = tempfile::tempdir().expect("dir");
    let script = write(dir.path(), "s.js", "return 1;");
    for (run, needle) in [
        ("memory = \"1GiB\"", "more than the sandbox can give a run"),
        ("timeout = \"300000000000years\"", "longest run"),
        ("timeout = \"25h\"", "longest run"),
        ("memory = \"0B\"", "less than the sandbox needs"),
        ("memory = \"1MiB\"", "less than the sandbox needs"),
    ] {
        let policy = write(
            dir.path(),
            "p.toml",
            &format!("version = 1\n[run]\n{run}\n"),
        );
        let o = clambot(&["policy", "check", &policy]);
        assert_eq!(o.status.code(), Some(1), "{run}: {}", out(&o));
        assert!(err(&o).starts_with(&format!("{policy}:3:")), "{}", err(&o));
        assert!(err(&o).contains(needle), "{run}: {}", err(&o));
        assert!(
            err(&o).contains("    | ") && err(&o).contains('^'),
            "underlined: {}",
            err(&o)
        );
        // A run refuses it the same way, before anything runs.
        let o = clambot(&["run", "--policy", &policy, &script]);
        assert_eq!(o.status.code(), Some(7), "{run}: {}", err(&o));
        assert!(err(&o).contains(needle), "{}", err(&o));
    }
    // The smallest memory check accepts is enough for a run.
    let smallest = write(
        dir.path(),
        "min.toml",
        "version = 1\n[run]\nmemory = \"2MiB\"\n",
    );
    let o = clambot(&["policy", "check", &smallest]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = clambot(&["run", "--policy", &smallest, &script]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "1\n");
    let tool = write(
        dir.path(),
        "t.toml",
        "version = 1\n[tools.kit]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\ntimeout = \"100000000000years\"\n",
    );
    let o = clambot(&["policy", "check", &tool]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
}

#[test]
fn check_refuses_a_pin_that_does_not_match_the_component() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("kit.wasm"), b"not really a component").expect("write");
    let good = clambot::sha256_hex(b"not really a component");
    let text = |pin: &str| {
        format!("version = 1\n[tools.kit]\ncomponent = \"kit.wasm\"\nsha256 = \"{pin}\"\n")
    };
    let policy = write(dir.path(), "p.toml", &text(&good));
    let o = clambot(&["policy", "check", &policy]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let policy = write(dir.path(), "p.toml", &text(&"0".repeat(64)));
    let o = clambot(&["policy", "check", &policy]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains(&format!("hashes to {good}")),
        "{}",
        err(&o)
    );
}

#[test]
fn check_warns_about_rules_that_can_never_take_effect() {
    let dir = tempfile::tempdir().expect("dir");
    let tool = "[tools.kit]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
    for (rules, needle) in [
        (
            "[[allow]]\ncall = \"fs.read-text\"\npath = [\"secrets/a\"]\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n",
            "can never take effect",
        ),
        (
            "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/**\"]\n[[ask]]\ncall = \"http.*\"\n",
            "never allows anything",
        ),
        (
            "[[deny]]\ncall = \"http.fetch\"\nwhere = { \"req.methd\" = { eq = \"DELETE\" } }\n",
            "did you mean `req.method`?",
        ),
        (
            &format!("{tool}[[allow]]\ncall = \"tools.kit.countWords\"\n"),
            "did you mean `tools.kit.count-words`?",
        ),
        (
            "[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**,.git/**\"]\n",
            "joined by a comma",
        ),
        (
            "[[deny]]\ncall = \"http.fetch\"\nurl = [\"https://./**\"]\n",
            "empty host",
        ),
        (
            "[[allow]]\ncall = \"log.write\"\nnote = \"fine\\u001b[2K\\rall good\"\n",
            "invisible or control characters",
        ),
        (
            "[[deny]]\ncall = \"memory.recall\"\nwhere = { \"limit\" = { eq = \"500\" } }\n",
            "(a WIT `u32`) with a non-number",
        ),
        (
            "[[deny]]\ncall = \"http.fetch\"\nwhere = { \"req.method\" = { ge = 1 } }\n",
            "as a number",
        ),
    ] {
        let policy = write(dir.path(), "w.toml", &format!("version = 1\n{rules}"));
        let o = clambot(&["policy", "check", &policy]);
        assert_eq!(o.status.code(), Some(0), "{rules}: {}", err(&o));
        assert!(err(&o).contains(needle), "{rules}: {}", err(&o));
        assert!(err(&o).starts_with(&format!("{policy}:")), "{}", err(&o));
        assert!(err(&o).contains(": warning: "), "{}", err(&o));
        assert!(!err(&o).contains('\u{1b}'), "escaped: {}", err(&o));
        assert!(out(&o).contains("warning"), "{}", out(&o));
        let o = clambot(&["policy", "check", "--strict", &policy]);
        assert_eq!(o.status.code(), Some(1), "{rules}");
    }
}

#[test]
fn invisible_characters_in_patterns_are_load_errors() {
    for pattern in [
        "path = [\"secrets\u{200B}/**\"]",
        "path = [\"secrets/\u{202E}**\"]",
        "path = [\"se\u{00AD}crets/**\"]",
    ] {
        let text = format!("version = 1\n[[deny]]\ncall = \"fs.*\"\n{pattern}\n");
        let error = Policy::parse("p.toml", &text).expect_err("refused");
        assert_eq!(error.diagnostics[0].line, 4, "{error}");
        assert!(error.to_string().contains("invisible character"), "{error}");
        assert!(
            !error.to_string().contains('\u{200B}'),
            "shown escaped: {error}"
        );
    }
    let text =
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/\u{200B}x\"]\n";
    assert!(Policy::parse("p.toml", text).is_err());
}

// ---- where sees what the gate sees ------------------------------------------

#[test]
fn where_conditions_compare_normalised_arguments() {
    let policy = parse(
        "p.toml",
        "version = 1\n[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.*\"\nwhere = { \"path\" = { prefix = \"secrets/\" } }\n[[allow]]\ncall = \"http.fetch\"\nwhere = { \"req.method\" = { eq = \"GET\" }, \"req.url\" = { prefix = \"https://a.org/\" } }\n",
    );
    let decide = |interface: &str, function: &str, args: Json| {
        policy.decide(
            &Call {
                interface,
                function,
                args: &args,
            },
            &mut clambot::policy::Usage::default(),
        )
    };
    for path in [
        "secrets/key",
        "./secrets/key",
        "notes/../secrets/key",
        "secrets//key",
        "./secrets/./key",
    ] {
        let d = decide("fs", "read-text", json!({ "path": path }));
        assert!(
            matches!(d, clambot::policy::Decision::Deny { .. }),
            "{path}: {d:?}"
        );
    }
    let d = decide("fs", "read-text", json!({ "path": "notes/key" }));
    assert!(
        matches!(d, clambot::policy::Decision::Allow { .. }),
        "{d:?}"
    );
    for (method, url) in [
        ("get", "https://a.org/x"),
        ("Get", "HTTPS://A.ORG/x"),
        ("", "https://a.org/x"),
        ("GET", "https://a.org:443/x"),
    ] {
        let d = decide(
            "http",
            "fetch",
            json!({ "req": { "method": method, "url": url } }),
        );
        assert!(
            matches!(d, clambot::policy::Decision::Allow { .. }),
            "{method} {url}: {d:?}"
        );
    }
    let d = decide(
        "http",
        "fetch",
        json!({ "req": { "method": "post", "url": "https://a.org/x" } }),
    );
    assert!(matches!(d, clambot::policy::Decision::Deny { .. }), "{d:?}");
}

// ---- explain ----------------------------------------------------------------

#[test]
fn explain_shows_defaults_net_tools_callers_and_escapes_notes() {
    let policy = parse(
        "p.toml",
        "version = 1\n[tools.kit]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nimports = [\"http\"]\n[[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.kit\"\nurl = [\"https://a.org/**\"]\nnote = \"ok\\u001b[2K\\rALLOW everything\"\n",
    );
    let text = policy.explain();
    for needle in [
        "time 30s (default)",
        "memory 64.0 MiB (default)",
        "any number of host calls",
        "public addresses only",
        "TOOL     tools.kit:",
        "pinned sha256 0000000000000000000000000000000000000000000000000000000000000000",
        "may import http",
        "each call at most 10s (default)",
        "calls made by tools.kit",
        "\\u{001B}[2K\\u{000D}ALLOW everything",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
}

// ---- suggested rules ----------------------------------------------------------

fn advise(
    policy: &Policy,
    interface: &str,
    function: &str,
    args: &Json,
) -> clambot::policy::suggest::Advice {
    clambot::policy::suggest::advise(
        policy,
        &Caller::Script,
        &Call {
            interface,
            function,
            args,
        },
    )
}

fn with_rule(policy: &Policy, rule: &clambot::policy::suggest::AllowRule) -> Policy {
    let text = if policy.source().is_empty() {
        format!("version = 1\n{}", rule.to_toml())
    } else {
        format!("{}\n{}", policy.source(), rule.to_toml())
    };
    parse("p.toml", &text)
}

fn allowed(policy: &Policy, interface: &str, function: &str, args: &Json) -> bool {
    matches!(
        policy.decide(
            &Call {
                interface,
                function,
                args,
            },
            &mut clambot::policy::Usage::default(),
        ),
        clambot::policy::Decision::Allow { .. }
    )
}

#[test]
fn suggestions_name_the_port_the_private_address_and_the_refusing_rule() {
    use clambot::policy::suggest::Advice;
    let none = Policy::deny_all();
    let args = json!({ "req": { "method": "GET", "url": "http://127.0.0.1:8080/api/x?q=1" } });
    let Advice::Add {
        rule,
        allow_private,
    } = advise(&none, "http", "fetch", &args)
    else {
        panic!("a rule is suggested")
    };
    assert_eq!(
        rule.url.as_deref(),
        Some(&["http://127.0.0.1:8080/api/x".to_owned()][..])
    );
    assert_eq!(
        allow_private.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:8080")
    );
    let rendered = advise(&none, "http", "fetch", &args).render(&none);
    assert!(
        rendered.contains("allow-private = [\"127.0.0.1:8080\"]"),
        "{rendered}"
    );

    let asking = parse("p.toml", "version = 1\n[[ask]]\ncall = \"fs.write-text\"\n");
    let advice = advise(
        &asking,
        "fs",
        "write-text",
        &json!({ "path": "notes/a.md" }),
    );
    assert!(
        matches!(&advice, Advice::Ask { rule } if rule.contains("p.toml:3 [[ask]]")),
        "{advice:?}"
    );
    assert!(
        advice
            .render(&asking)
            .contains("adding an [[allow]] cannot help")
    );

    let denying = parse(
        "p.toml",
        "version = 1\n[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n",
    );
    let advice = advise(&denying, "fs", "read-text", &json!({ "path": "secrets/k" }));
    assert!(
        matches!(&advice, Advice::Denied { rule } if rule.contains("[[deny]]")),
        "{advice:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// Hostile argument strings never produce a suggestion wider than the call:
    /// the suggested rule allows that call, and no call with another path,
    /// host, port or method.
    #[test]
    fn hostile_arguments_never_widen_a_suggestion(
        raw in prop_oneof![
            Just("a\", \"**/x".to_owned()),
            Just("**".to_owned()),
            Just("*".to_owned()),
            Just("notes/{a,b}".to_owned()),
            Just("notes/[ab]".to_owned()),
            Just("a?c".to_owned()),
            Just("x\"]\n[[allow]]\ncall = \"fs.*".to_owned()),
            "[a-z*?{}\\[\\],\"'/. !^~%-]{1,24}",
            "\\PC{1,12}",
        ],
        method in prop_oneof![Just("GET"), Just("post"), Just("DELETE")],
    ) {
        use clambot::policy::suggest::Advice;
        let base = parse("p.toml", "version = 1\n[[allow]]\ncall = \"log.write\"\n");
        // fs
        let args = json!({ "path": raw });
        if let Advice::Add { rule, .. } = advise(&base, "fs", "write-text", &args) {
            let p = with_rule(&base, &rule);
            prop_assert!(allowed(&p, "fs", "write-text", &args), "{}", rule.to_toml());
            prop_assert_eq!(rule.path.as_ref().map(Vec::len), Some(1), "{}", rule.to_toml());
            let original = clambot::policy::fs::WorkspacePath::normalise(&raw).expect("normalises");
            for other in [format!("{raw}x"), format!("x{raw}"), "other".into(), "a/b/c".into(), "x".into(), format!("{raw}/x")] {
                let same = clambot::policy::fs::WorkspacePath::normalise(&other).is_ok_and(|o| o == original);
                let a = json!({ "path": other });
                prop_assert!(same || !allowed(&p, "fs", "write-text", &a), "{} allows {}", rule.to_toml(), other);
                prop_assert!(!allowed(&p, "fs", "read-text", &json!({ "path": raw })), "another function");
            }
        }
        // http
        let url = format!("https://h.example:8443/{raw}");
        let args = json!({ "req": { "method": method, "url": url } });
        if let Advice::Add { rule, .. } = advise(&base, "http", "fetch", &args) {
            let p = with_rule(&base, &rule);
            prop_assert!(allowed(&p, "http", "fetch", &args), "{}", rule.to_toml());
            let parsed = url::Url::parse(&url).expect("parses");
            let others = [
                format!("https://h.example:8443/{raw}x"),
                format!("https://h.example:8443/x{raw}"),
                format!("https://h.example:8443/{raw}/x"),
                format!("https://h.example/{raw}"),
                format!("https://other.example:8443/{raw}"),
                format!("http://h.example:8443/{raw}"),
                "https://h.example:8443/".into(),
            ];
            for other in others {
                let same = url::Url::parse(&other).is_ok_and(|o| {
                    clambot::policy::http::PathReadings::of(o.path()).primary() == clambot::policy::http::PathReadings::of(parsed.path()).primary()
                        && o.host_str() == parsed.host_str()
                        && o.port_or_known_default() == parsed.port_or_known_default()
                        && o.scheme() == parsed.scheme()
                });
                let a = json!({ "req": { "method": method, "url": other } });
                prop_assert!(same || !allowed(&p, "http", "fetch", &a), "{} allows {}", rule.to_toml(), other);
            }
            let other_method = if method.eq_ignore_ascii_case("GET") { "PUT" } else { "GET" };
            let a = json!({ "req": { "method": other_method, "url": url } });
            prop_assert!(!allowed(&p, "http", "fetch", &a), "{} allows {}", rule.to_toml(), other_method);
        }
    }
}

/// The fuzz target's check over its seed corpus and over every pair of the
/// accepted-policy corpus (625 pairs of real-world-shaped files).
#[test]
fn diff_agrees_with_the_gate_on_the_corpora() {
    let root = common::repo_root();
    let mut seeds = 0;
    for entry in std::fs::read_dir(root.join("fuzz/corpus/policy_diff")).expect("seeds") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        let (old, new) = text.split_once("\n~~~\n").expect("two policies");
        diff::check_pair(old, new).unwrap_or_else(|e| panic!("{e}"));
        diff::check_pair(new, old).unwrap_or_else(|e| panic!("{e}"));
        seeds += 1;
    }
    assert!(seeds >= 8, "{seeds} seeds");
    let mut files: Vec<String> = std::fs::read_dir(root.join("tests/policy/accept"))
        .expect("corpus")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    files.sort();
    for old in &files {
        for new in &files {
            diff::check_pair(old, new)
                .unwrap_or_else(|e| panic!("{e}\n--- old\n{old}\n--- new\n{new}"));
        }
    }
}

/// `scripts/policy-review.sh`, as the pre-commit hook runs it: a staged widening
/// fails unless approved; a narrowing passes.
#[test]
fn the_review_hook_fails_an_unapproved_widening() {
    let repo = tempfile::tempdir().expect("repo");
    let script = common::repo_root().join("scripts/policy-review.sh");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .output()
            .expect("git runs");
        assert!(o.status.success(), "git {args:?}: {}", err(&o));
    };
    let hook = |approved: bool| {
        let home = tempfile::tempdir().expect("home");
        let mut c = Command::new("sh");
        c.arg(&script)
            .args(["--staged", "policy.toml"])
            .current_dir(repo.path())
            .env("CLAMBOT", env!("CARGO_BIN_EXE_clambot"))
            .env("CLAMBOT_HOME", home.path());
        if approved {
            c.env("CLAMBOT_POLICY_APPROVED", "1");
        } else {
            c.env_remove("CLAMBOT_POLICY_APPROVED");
        }
        c.output().expect("the hook runs")
    };
    git(&["init", "-q"]);
    let policy = repo.path().join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[[allow]]\ncall = \"fs.read-text\"\npath = [\"notes/**\"]\n",
    )
    .expect("write");
    git(&["add", "policy.toml"]);
    git(&["commit", "-qm", "policy"]);

    std::fs::write(
        &policy,
        "version = 1\n[[allow]]\ncall = \"fs.read-text\"\npath = [\"**\"]\n",
    )
    .expect("write");
    git(&["add", "policy.toml"]);
    let o = hook(false);
    assert_eq!(o.status.code(), Some(3), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("WIDENED"), "{}", out(&o));
    let o = hook(true);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));

    std::fs::write(
        &policy,
        "version = 1\n[[allow]]\ncall = \"fs.read-text\"\npath = [\"notes/a/**\"]\n",
    )
    .expect("write");
    git(&["add", "policy.toml"]);
    let o = hook(false);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("only narrowed"), "{}", out(&o));
}

#[test]
fn rewrites_that_allow_the_same_are_unchanged() {
    let two_urls = "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/**\", \"https://b.org/**\"]\nmethod = [\"GET\"]\n";
    let split = "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://b.org/**\"]\nmethod = [\"GET\"]\n[[allow]]\ncall = \"http.fetch\"\nmethod = [\"GET\"]\nurl = [\"https://a.org/**\"]\n";
    let all_methods = "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/**\"]\n";
    let listed = "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/**\"]\nmethod = [\"GET\", \"HEAD\", \"POST\", \"PUT\", \"PATCH\", \"DELETE\", \"OPTIONS\"]\n";
    let deny_two = "[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\", \".git/**\"]\n";
    let deny_split = "[[allow]]\ncall = \"fs.*\"\n[[deny]]\ncall = \"fs.*\"\npath = [\".git/**\"]\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n";
    let redundant =
        "[[allow]]\ncall = \"fs.*\"\n[[allow]]\ncall = \"fs.read-text\"\npath = [\"notes/**\"]\n";
    let plain = "[[allow]]\ncall = \"fs.*\"\n";
    for (old, new) in [
        (two_urls, split),
        (all_methods, listed),
        (deny_two, deny_split),
        (redundant, plain),
    ] {
        let (v, c) = verdict(old, new);
        assert_eq!(v, Verdict::Unchanged, "{old}\n→\n{new}\n{c:#?}");
        let (v, c) = verdict(new, old);
        assert_eq!(v, Verdict::Unchanged, "{new}\n→\n{old}\n{c:#?}");
    }
    // Narrowings only.
    for (old, new) in [
        (
            plain,
            "[[allow]]\ncall = \"fs.read-text\"\n[[allow]]\ncall = \"fs.write-text\"\n",
        ),
        (
            plain,
            &format!("{plain}[[ask]]\ncall = \"fs.write-text\"\n"),
        ),
        (all_methods, &format!("{all_methods}max-calls = 3\n")),
        ("[run]\nmax-calls = 9\n", "[run]\nmax-calls = 3\n"),
    ] {
        let (v, c) = verdict(old, new);
        assert_eq!(v, Verdict::OnlyNarrowed, "{old}\n→\n{new}\n{c:#?}");
    }
}

/// `diff` and `explain` show a tool's default limits from `policy::limits`; the
/// component loader must apply the same ones.
#[test]
fn tool_defaults_shown_are_the_defaults_applied() {
    use clambot::policy::limits;
    assert_eq!(
        limits::DEFAULT_TOOL_TIMEOUT,
        clambot::components::tool::DEFAULT_TOOL_TIMEOUT
    );
    assert_eq!(
        limits::DEFAULT_TOOL_MEMORY,
        clambot::components::tool::DEFAULT_TOOL_MEMORY
    );
    assert_eq!(
        limits::DEFAULT_TIMEOUT,
        clambot::sandbox::limits::DEFAULT_TIMEOUT
    );
    assert_eq!(limits::MAX_MEMORY, clambot::sandbox::limits::MAX_MEMORY);
}

#[test]
fn check_never_prints_the_policy_s_control_characters() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = write(
        dir.path(),
        "p.toml",
        "version = 1\n[[allow]]\ncall = \"http.fetch\\u001b[2J\"\n[[deny]]\ncall = \"fs.*\"\nwhere = { \"pa\\u001bth\" = { eq = 1 } }\n",
    );
    let o = clambot(&["policy", "check", &policy]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(!err(&o).contains('\u{1b}'), "{:?}", err(&o));
    assert!(err(&o).contains("\\u{001B}"), "{}", err(&o));
}

//! The gate's decision on arbitrary arguments: never a panic, and an allowed fs
//! call always names a path that normalises inside the workspace and is outside
//! every deny rule's globs.
#![no_main]

use std::sync::OnceLock;

use clambot::policy::{Call, Decision, Policy, Usage};
use libfuzzer_sys::fuzz_target;

const POLICY: &str = r#"version = 1
[run]
max-calls = 1000
[[allow]]
call = "http.fetch"
url = ["https://api.example.com/v1/**", "https://*.example.org:8443/**"]
method = ["GET", "POST"]
secrets = ["token"]
[[deny]]
call = "http.fetch"
url = ["https://api.example.com/v1/admin/**"]
[[allow]]
call = "fs.*"
path = ["notes/**", "data/*.json"]
[[deny]]
call = "fs.*"
path = ["notes/private/**"]
[[ask]]
call = "memory.remember"
where = { text = { prefix = "note:" } }
[[allow]]
call = "log.write"
where = { level = { in = ["info", "warn"] } }
"#;

const FUNCTIONS: &[(&str, &str)] = &[
    ("http", "fetch"),
    ("http", "fetch-text"),
    ("fs", "read-text"),
    ("fs", "write-text"),
    ("fs", "move"),
    ("memory", "remember"),
    ("log", "write"),
    ("cron", "add"),
];

fuzz_target!(|data: &[u8]| {
    static POLICY_ONCE: OnceLock<Policy> = OnceLock::new();
    let policy = POLICY_ONCE.get_or_init(|| Policy::parse("fuzz.toml", POLICY).expect("policy"));
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(args) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let (interface, function) = FUNCTIONS[usize::from(selector) % FUNCTIONS.len()];
    let call = Call {
        interface,
        function,
        args: &args,
    };
    let decision = policy.decide(&call, &mut Usage::default());
    if let (Decision::Allow { .. }, "fs") = (&decision, interface) {
        for key in ["path", "from", "to"] {
            if let Some(raw) = args.get(key).and_then(|v| v.as_str()) {
                let path = clambot::policy::fs::WorkspacePath::normalise(raw)
                    .expect("an allowed path normalises");
                assert!(
                    !path.as_str().starts_with("notes/private/") && path.as_str() != "notes/private",
                    "a denied path was allowed: {raw:?}"
                );
            }
        }
    }
    let _ = policy.scope(&call).fingerprint();
});

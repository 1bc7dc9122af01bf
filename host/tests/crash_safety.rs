//! Crash safety: a child process writes to the state database, the secrets file
//! and the grants as fast as it can, saying on stdout after each write returns;
//! the parent kills it with SIGKILL at an arbitrary moment, then checks that
//! everything acknowledged is there and nothing is corrupt — ten times over the
//! same files.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clambot::gate::grants::Grants;
use clambot::policy::{Call, Decision, Policy, Usage};
use clambot::secrets::SecretStore;
use clambot::store::Store;
use clambot::store::memory::Memory;

const CHILD_VAR: &str = "CLAMBOT_CRASH_CHILD_DIR";

/// The scope an `ask` rule offers for writing `path`, as a grant stores it.
fn scope_for(path: &str) -> clambot::policy::Scope {
    let policy = Policy::parse("p.toml", "version = 1\n[[ask]]\ncall = \"fs.write-text\"\n")
        .expect("policy");
    let args = serde_json::json!({ "path": path, "content": "x" });
    match policy.decide(
        &Call {
            interface: "fs",
            function: "write-text",
            args: &args,
        },
        &mut Usage::default(),
    ) {
        Decision::Ask { scope, .. } => scope,
        other => panic!("expected ask, got {other:?}"),
    }
}

/// Not a test of its own: the writer the parent starts (and kills).
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_VAR) else {
        return;
    };
    let dir = Path::new(&dir);
    let store = Arc::new(Store::open(&dir.join("data/clambot.db")).expect("open"));
    let memory = Memory::new(Arc::clone(&store));
    let grants = Grants::open(Arc::clone(&store));
    let secrets = SecretStore::open(&dir.join("data/secrets.json"));
    let round: u64 = std::env::var("CLAMBOT_CRASH_ROUND")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    for i in 0.. {
        let tag = format!("{round}-{i}");
        memory.remember(&format!("fact {tag}")).expect("remember");
        println!("fact {tag}");
        secrets
            .set(&format!("s{}", i % 4), &format!("value-{tag}"))
            .expect("secret");
        println!("secret s{} value-{tag}", i % 4);
        grants
            .grant_always(&scope_for(&format!("notes/{tag}.md")), "p.toml:2 [[ask]]")
            .expect("grant");
        println!("grant notes/{tag}.md");
    }
}

#[test]
fn sigkill_during_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acknowledged_facts = Vec::new();
    let mut acknowledged_grants = Vec::new();
    let mut last_secret: std::collections::HashMap<String, String> = Default::default();
    for round in 0..10u64 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_VAR, dir.path())
            .env("CLAMBOT_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // Kill somewhere between 30 and 330 ms in, a different moment each round.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(30 + u64::from(nanos % 300)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let lines = reader.join().expect("reader");
        for line in lines {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("fact"), Some(tag), None) => acknowledged_facts.push(format!("fact {tag}")),
                (Some("secret"), Some(name), Some(value)) => {
                    last_secret.insert(name.to_owned(), value.to_owned());
                }
                (Some("grant"), Some(path), None) => acknowledged_grants.push(path.to_owned()),
                _ => {} // test harness chatter
            }
        }

        // After the crash: everything opens, checks out, and holds what was acknowledged.
        let store = Arc::new(Store::open(&dir.path().join("data/clambot.db")).expect("reopen"));
        let integrity: String = store
            .with(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
            .expect("integrity check");
        assert_eq!(integrity, "ok", "round {round}");
        let facts: std::collections::HashSet<String> = Memory::new(Arc::clone(&store))
            .all_facts()
            .expect("facts")
            .into_iter()
            .map(|f| f.text)
            .collect();
        for fact in &acknowledged_facts {
            assert!(facts.contains(fact), "round {round}: `{fact}` was lost");
        }
        let grants = Grants::open(Arc::clone(&store));
        for path in &acknowledged_grants {
            assert!(
                grants.covers(&scope_for(path).fingerprint()),
                "round {round}: the grant for {path} was lost"
            );
        }
        let secrets = SecretStore::open(&dir.path().join("data/secrets.json"));
        let names = secrets.names().expect("the secrets file is whole");
        for (name, value) in &last_secret {
            assert!(names.contains(name), "round {round}: secret {name} lost");
            let stored = secrets.get(name).expect("get").expect("set");
            // The acknowledged value, or one written after it (not yet acknowledged).
            let stored_tag = tag_order(stored.expose());
            assert!(
                stored_tag >= tag_order(value),
                "round {round}: {name} went back from {value} to {}",
                stored.expose()
            );
        }
    }
    assert!(
        acknowledged_facts.len() > 20,
        "the child got some work done ({} facts)",
        acknowledged_facts.len()
    );
}

/// `value-R-I` → (R, I), for "written later" comparisons.
fn tag_order(value: &str) -> (u64, u64) {
    let mut parts = value.trim_start_matches("value-").split('-');
    let round = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let index = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (round, index)
}

/// A process that opens the database twice (the gateway does: the agent's
/// store and the host state's) keeps SQLite's locks, so another process's
/// last close cannot delete the write-ahead log under it: what another
/// process writes afterwards is seen, and what this process writes lands in
/// the file. (Before, a file descriptor opened and closed on an existing
/// database dropped the locks, and a job `clambot cron add` stored was never
/// seen by the running gateway.)
#[test]
fn two_stores_in_one_process_see_what_another_process_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = clambot::home::Home::at(dir.path().join("home"));
    let first = Arc::new(home.open_store().expect("first store"));
    let _second = home.open_store().expect("second store");
    let jobs = clambot::store::cron::CronJobs::new(Arc::clone(&first));
    assert!(jobs.list().expect("list").is_empty());
    let clambot = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_clambot"))
            .args(args)
            .env_clear()
            .env("CLAMBOT_HOME", dir.path().join("home"))
            .env("HOME", dir.path())
            .output()
            .expect("clambot runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Each of these opens the database, writes or reads, and closes it.
    clambot(&["cron", "list"]);
    clambot(&["cron", "add", "ping", "--every", "1h", "--prompt", "p"]);
    clambot(&["cron", "list"]);
    let seen: Vec<_> = jobs
        .list()
        .expect("list")
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(seen, ["ping"], "this process sees the other's write");
    // And this process's own write is in the file, for the next process.
    let job = jobs.get("ping").expect("get").expect("the job");
    assert!(jobs.set_enabled(&job.id, false, None).expect("disable"));
    let list = clambot(&["cron", "list"]);
    assert!(list.contains("disabled"), "{list}");
}

//! Rights do not travel, grants answer only what they were given for, and
//! secrets stay out of everything a run can see (issue 15, items 4 and 5).
//!
//! Against real parts: the real guest in wasmtime, the real gate, real HTTP
//! servers on 127.0.0.1, real SQLite files in temp dirs, the real scheduler
//! and agent.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use clambot::agent::clams::{ClamStore, NewClam};
use clambot::agent::provider::{self, Kind, ProviderConfig, RetryPolicy};
use clambot::agent::turn::{ClamRequest, TurnOutcome, TurnReply, TurnRequest, Turns};
use clambot::agent::{Agent, AgentParts, AgentSettings};
use clambot::gate::approver::{Approval, ApprovalRequest, Approver, NonInteractive};
use clambot::gate::audit::Verdict;
use clambot::gate::grants::Grants;
use clambot::gate::redact::{REDACTED, Redactor};
use clambot::gate::{BoxFuture, GateSetup};
use clambot::gateway::Deliver;
use clambot::gateway::heartbeat::Heartbeat;
use clambot::gateway::scheduler::{Clock, Scheduler};
use clambot::home::Home;
use clambot::jobs::JobBook;
use clambot::policy::bounds::Bound;
use clambot::policy::{Call, Caller, Decision, Policy, Usage};
use clambot::sandbox::{RunOutcome, RunRequest, Sandbox, SandboxConfig};
use clambot::secrets::SecretStore;
use clambot::state::HostState;
use clambot::store::cron::{CronJobs, Origin};
use common::http_server::{Reply, Server};
use proptest::prelude::*;
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct ManualClock(Mutex<DateTime<Utc>>);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("lock")
    }
}

#[derive(Debug, Default)]
struct Recorded(Mutex<Vec<String>>);

impl Recorded {
    fn texts(&self) -> String {
        self.0.lock().expect("lock").join("\n---\n")
    }
}

impl Deliver for Recorded {
    fn deliver<'a>(&'a self, _channel: Option<&'a str>, text: &'a str) -> BoxFuture<'a, ()> {
        self.0.lock().expect("lock").push(text.to_owned());
        Box::pin(async {})
    }
}

/// A clambot home with an agent under `policy` (the "current" policy), and a
/// sandbox over the same state for runs under other policies.
struct Clambot {
    _dir: tempfile::TempDir,
    state: HostState,
    agent: Arc<Agent>,
    sandbox: Sandbox,
}

fn home(policy: &str) -> Clambot {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = HostState::open(Home::at(dir.path().join("home"))).expect("state");
    let provider = provider::build(ProviderConfig {
        kind: Kind::OpenAiCompatible,
        name: "unused".into(),
        base_url: "http://127.0.0.1:9/v1".into(),
        api_key: None,
        model: "unused".into(),
        timeout: Duration::from_secs(1),
        retry: RetryPolicy::default(),
    })
    .expect("provider");
    let config = SandboxConfig {
        cache_dir: Some(common::cache_dir()),
        max_concurrent_runs: 4,
    };
    let agent_sandbox =
        Sandbox::with_implementations(&config, state.implementations().expect("tools"))
            .expect("sandbox");
    let sandbox = Sandbox::with_implementations(&config, state.implementations().expect("tools"))
        .expect("sandbox");
    let agent = Agent::new(AgentParts {
        provider: Arc::from(provider),
        sandbox: Arc::new(agent_sandbox),
        state: state.clone(),
        policy: Policy::parse("policy.toml", policy).expect("the current policy parses"),
        clams: ClamStore::new(dir.path().join("home/clams"), vec![]),
        settings: AgentSettings::default(),
        js_api: String::new(),
    })
    .expect("agent");
    Clambot {
        _dir: dir,
        state,
        agent: Arc::new(agent),
        sandbox,
    }
}

impl Clambot {
    /// Runs `source` as a script under `policy` (not the agent's), with the
    /// home's real tools, grants, audit log and live redactor.
    fn run(&self, policy: &str, source: &str) -> RunOutcome {
        let mut request = RunRequest::new(source);
        request.gate = self
            .state
            .gate(
                Policy::parse("maker-policy.toml", policy).expect("the maker's policy parses"),
                Arc::new(NonInteractive),
            )
            .expect("gate");
        common::runtime().block_on(self.sandbox.run(&request))
    }

    fn save_clam(&self, name: &str, script: &str) {
        self.agent
            .clams()
            .save(&NewClam {
                name,
                description: name,
                request: name,
                script,
                inputs: &json!({}),
                calls: vec![],
                replaces: None,
            })
            .expect("clam");
    }

    fn jobs(&self) -> CronJobs {
        CronJobs::new(Arc::clone(&self.state.store))
    }

    /// Fires every due job, `ahead` from now; returns what was delivered.
    fn fire(&self, ahead: TimeDelta) -> String {
        let delivered = Arc::new(Recorded::default());
        let scheduler = Scheduler {
            jobs: self.jobs(),
            turns: Arc::clone(&self.agent) as Arc<dyn Turns>,
            deliver: delivered.clone(),
            clock: Arc::new(ManualClock(Mutex::new(Utc::now() + ahead))),
            cancel: CancellationToken::new(),
        };
        common::runtime()
            .block_on(scheduler.tick())
            .expect("the scheduler ticks");
        delivered.texts()
    }
}

/// A loopback server answering every request with `fetched`.
fn target() -> (Server, String) {
    let server = Server::start("127.0.0.1", 0, |_| {
        Reply::text(200, "text/plain", "fetched")
    });
    let url = format!("http://127.0.0.1:{}/data", server.port());
    (server, url)
}

fn http_rule(server: &Server) -> String {
    format!(
        "[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\nmethod = [\"GET\"]\n\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n",
        port = server.port()
    )
}

const CRON_ADD: &str = "[[allow]]\ncall = \"cron.add\"\n";

const FETCHER: &str = "async function run(args) { const r = await http.fetch({ method: 'GET', url: args.url, headers: [], body: null, bearerSecret: null }); return 'status ' + r.status + ' ' + r.body; }";

/// The script a run uses to schedule the `fetcher` clam at `url`.
fn schedule_fetcher(name: &str, url: &str) -> String {
    format!(
        "return await cron.add({{ name: '{name}', schedule: {{ every: 60 }}, action: {{ clam: {{ clam: 'fetcher', argsJson: JSON.stringify({{ url: '{url}' }}) }} }}, once: false }});"
    )
}

fn ok(outcome: &RunOutcome) -> Json {
    match &outcome.result {
        Ok(text) => serde_json::from_str(text).expect("JSON"),
        Err(e) => panic!("the script failed: {e}\n{}", outcome.console.text()),
    }
}

// ---------------------------------------------------------------------------
// 1. Scheduled jobs run with no more than their maker's rights
// ---------------------------------------------------------------------------

#[test]
fn a_job_made_under_a_narrow_policy_gets_none_of_the_wider_current_policy() {
    let (server, url) = target();
    let current = format!("version = 1\n{CRON_ADD}{}", http_rule(&server));
    let home = home(&current);
    home.save_clam("fetcher", FETCHER);
    // The maker may add jobs and nothing else.
    let maker = format!("version = 1\n{CRON_ADD}");
    let outcome = home.run(&maker, &schedule_fetcher("exfil", &url));
    let job = ok(&outcome);
    let stored = home
        .jobs()
        .get(job["id"].as_str().expect("id"))
        .expect("get")
        .expect("job");
    let Origin::Run { bounds, .. } = &stored.origin else {
        panic!("a script's job is run-made: {:?}", stored.origin);
    };
    assert_eq!(bounds.len(), 1);
    assert_eq!(bounds[0].maker, "script");
    let maker_sha = Policy::parse("x", &maker)
        .expect("parses")
        .sha256()
        .to_owned();
    assert_eq!(bounds[0].policy_sha256, maker_sha);

    let delivered = home.fire(TimeDelta::minutes(5));
    assert!(delivered.contains("Job exfil"), "{delivered}");
    assert!(delivered.contains("denied"), "{delivered}");
    assert!(delivered.contains("never has more rights"), "{delivered}");
    assert!(
        delivered.contains("job-rights: default-deny (maker-policy.toml@"),
        "{delivered}"
    );
    assert!(delivered.contains("clambot cron add"), "{delivered}");
    assert_eq!(
        server.connections(),
        0,
        "the wider current policy lent the job nothing"
    );
}

#[test]
fn a_job_made_under_a_wide_policy_loses_what_the_current_policy_took_away() {
    let (server, url) = target();
    // The current policy (narrower) no longer allows the fetch.
    let home = home(&format!("version = 1\n{CRON_ADD}"));
    home.save_clam("fetcher", FETCHER);
    let maker = format!("version = 1\n{CRON_ADD}{}", http_rule(&server));
    ok(&home.run(&maker, &schedule_fetcher("was-allowed", &url)));
    let delivered = home.fire(TimeDelta::minutes(5));
    assert!(delivered.contains("denied"), "{delivered}");
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_job_runs_when_both_its_makers_policy_and_the_current_one_allow_it() {
    let (server, url) = target();
    let both = format!("version = 1\n{CRON_ADD}{}", http_rule(&server));
    let home = home(&both);
    home.save_clam("fetcher", FETCHER);
    ok(&home.run(&both, &schedule_fetcher("fine", &url)));
    let delivered = home.fire(TimeDelta::minutes(5));
    assert!(delivered.contains("status 200 fetched"), "{delivered}");
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn an_owner_made_job_runs_under_the_current_policy_alone() {
    let (server, url) = target();
    let home = home(&format!("version = 1\n{}", http_rule(&server)));
    home.save_clam("fetcher", FETCHER);
    let book = JobBook::new(Arc::clone(&home.state.store));
    book.add(
        &json!({"name": "mine", "schedule": {"every": 60},
                "action": {"clam": {"clam": "fetcher", "args-json": json!({"url": url}).to_string()}}}),
        None,
        Origin::Owner,
        Utc::now(),
    )
    .expect("added");
    let delivered = home.fire(TimeDelta::minutes(5));
    assert!(delivered.contains("status 200"), "{delivered}");
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_job_with_no_record_of_its_maker_is_refused_until_the_owner_adopts_it() {
    let (server, url) = target();
    let home = home(&format!("version = 1\n{}", http_rule(&server)));
    home.save_clam("fetcher", FETCHER);
    let book = JobBook::new(Arc::clone(&home.state.store));
    let job = book
        .add(
            &json!({"name": "old", "schedule": {"every": 60},
                    "action": {"clam": {"clam": "fetcher", "args-json": json!({"url": url}).to_string()}}}),
            None,
            Origin::Unrecorded,
            Utc::now(),
        )
        .expect("added");
    // As an older clambot left it: no origin column value at all.
    let id = job["id"].as_str().expect("id").to_owned();
    home.state
        .store
        .with(|c| c.execute("UPDATE cron_jobs SET origin = NULL WHERE id = ?1", [&id]))
        .expect("null");
    let delivered = home.fire(TimeDelta::minutes(5));
    assert!(delivered.contains("was not run"), "{delivered}");
    assert!(delivered.contains("clambot cron adopt"), "{delivered}");
    assert_eq!(server.connections(), 0);
    assert!(home.jobs().adopt(&id).expect("adopt"));
    let delivered = home.fire(TimeDelta::minutes(10));
    assert!(delivered.contains("status 200"), "{delivered}");
}

#[test]
fn a_job_whose_recorded_policy_was_altered_or_lost_is_refused() {
    let (server, url) = target();
    let both = format!("version = 1\n{CRON_ADD}{}", http_rule(&server));
    let home = home(&both);
    home.save_clam("fetcher", FETCHER);
    ok(&home.run(&both, &schedule_fetcher("tampered", &url)));
    // Someone widens the recorded policy behind the gateway's back.
    home.state
        .store
        .with(|c| {
            c.execute(
                "UPDATE policy_snapshots SET text = text || '\n# widened'",
                [],
            )
        })
        .expect("tamper");
    let delivered = home.fire(TimeDelta::minutes(5));
    assert!(delivered.contains("was not run"), "{delivered}");
    assert!(delivered.contains("does not match its hash"), "{delivered}");
    home.state
        .store
        .with(|c| c.execute("DELETE FROM policy_snapshots", []))
        .expect("lose");
    let delivered = home.fire(TimeDelta::minutes(10));
    assert!(delivered.contains("not in the database"), "{delivered}");
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_job_made_by_a_job_keeps_every_narrowing_it_was_made_under() {
    let (server, url) = target();
    let current = format!("version = 1\n{CRON_ADD}{}", http_rule(&server));
    let home = home(&current);
    home.save_clam("fetcher", FETCHER);
    // A clam that schedules the fetcher, scheduled by a run allowed only cron.add.
    home.save_clam(
        "spawner",
        &format!(
            "async function run(args) {{ {} }}",
            schedule_fetcher("child", &url)
        ),
    );
    let maker = format!("version = 1\n{CRON_ADD}");
    ok(&home.run(
        &maker,
        "return await cron.add({ name: 'parent', schedule: { every: 60 }, action: { clam: { clam: 'spawner', argsJson: '{}' } }, once: true });",
    ));
    let delivered = home.fire(TimeDelta::minutes(5));
    assert!(delivered.contains("Job parent"), "{delivered}");
    let child = home
        .jobs()
        .get("child")
        .expect("get")
        .expect("the child job exists");
    let Origin::Run { bounds, .. } = &child.origin else {
        panic!("{:?}", child.origin);
    };
    assert_eq!(
        bounds.len(),
        2,
        "the parent's run policy and the maker's: {bounds:?}"
    );
    let delivered = home.fire(TimeDelta::minutes(10));
    assert!(delivered.contains("Job child"), "{delivered}");
    assert!(delivered.contains("denied"), "{delivered}");
    assert_eq!(server.connections(), 0);
}

/// Records how the scheduler and the heartbeat hand work to the agent.
#[derive(Debug, Default)]
struct RecordingTurns {
    /// (kind, number of bounds, approver said yes to an ask)
    seen: Mutex<Vec<(&'static str, usize, bool)>>,
}

fn says_yes(approver: &Arc<dyn Approver>) -> bool {
    let request = ApprovalRequest {
        function: "fs.write-text".into(),
        args: json!({}),
        rule: "r".into(),
        scope: Policy::deny_all().scope(&Call {
            interface: "fs",
            function: "write-text",
            args: &json!({"path": "a"}),
        }),
    };
    !matches!(
        common::runtime().block_on(approver.approve(&request)),
        Approval::Reject(_)
    )
}

impl Turns for RecordingTurns {
    fn turn(&self, request: TurnRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        let yes = std::thread::spawn(move || says_yes(&request.approver))
            .join()
            .expect("join");
        self.seen.lock().expect("lock").push(("turn", 0, yes));
        Box::pin(async { Ok(reply()) })
    }
    fn run_clam(&self, _request: ClamRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        self.seen.lock().expect("lock").push(("clam", 0, false));
        Box::pin(async { Ok(reply()) })
    }
    fn turn_within(
        &self,
        _request: TurnRequest,
        bounds: Vec<Bound>,
    ) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        self.seen
            .lock()
            .expect("lock")
            .push(("turn", bounds.len(), false));
        Box::pin(async { Ok(reply()) })
    }
    fn run_clam_within(
        &self,
        _request: ClamRequest,
        bounds: Vec<Bound>,
    ) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        self.seen
            .lock()
            .expect("lock")
            .push(("clam", bounds.len(), false));
        Box::pin(async { Ok(reply()) })
    }
    fn new_session(&self, _session: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

fn reply() -> TurnReply {
    TurnReply {
        text: "done".into(),
        outcome: TurnOutcome::Chat,
        denied: Vec::new(),
    }
}

#[test]
fn prompt_jobs_are_bounded_like_clam_jobs_and_the_heartbeat_has_only_the_home_policy() {
    let home = home("version = 1\n");
    let maker = format!("version = 1\n{CRON_ADD}");
    ok(&home.run(
        &maker,
        "return await cron.add({ name: 'ask-model', schedule: { every: 60 }, action: { prompt: 'fetch everything' }, once: false });",
    ));
    let turns = Arc::new(RecordingTurns::default());
    let scheduler = Scheduler {
        jobs: home.jobs(),
        turns: turns.clone(),
        deliver: Arc::new(Recorded::default()),
        clock: Arc::new(ManualClock(Mutex::new(Utc::now() + TimeDelta::minutes(5)))),
        cancel: CancellationToken::new(),
    };
    common::runtime().block_on(scheduler.tick()).expect("tick");
    assert_eq!(
        turns.seen.lock().expect("lock").as_slice(),
        [("turn", 1, false)]
    );

    // The heartbeat (its file is writable by scripts with fs rights) is an
    // unattended turn under the agent's policy: nothing added, nobody to ask.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("HEARTBEAT.md"), "- [ ] fetch everything\n").expect("write");
    let turns = Arc::new(RecordingTurns::default());
    let heartbeat = Heartbeat {
        workspace: dir.path().to_owned(),
        turns: turns.clone(),
        deliver: Arc::new(Recorded::default()),
        cancel: CancellationToken::new(),
    };
    assert!(common::runtime().block_on(heartbeat.beat()).expect("beat"));
    assert_eq!(
        turns.seen.lock().expect("lock").as_slice(),
        [("turn", 0, false)]
    );
}

#[test]
fn a_front_end_that_cannot_narrow_refuses_a_bounded_job() {
    #[derive(Debug)]
    struct Plain;
    impl Turns for Plain {
        fn turn(&self, _r: TurnRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
            Box::pin(async { Ok(reply()) })
        }
        fn run_clam(&self, _r: ClamRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
            Box::pin(async { Ok(reply()) })
        }
        fn new_session(&self, _s: &str) -> anyhow::Result<()> {
            Ok(())
        }
    }
    let bound = Bound {
        policy: Arc::new(Policy::parse("p", "version = 1\n").expect("parses")),
        maker: Caller::Script,
    };
    let request = ClamRequest {
        session: "s".into(),
        clam: "c".into(),
        args: json!({}),
        approver: Arc::new(NonInteractive),
        progress: Arc::new(clambot::agent::turn::Quiet),
        cancel: CancellationToken::new(),
    };
    let outcome = common::runtime().block_on(Plain.run_clam_within(request, vec![bound]));
    assert!(outcome.is_err());
}

// --- The intersection, decided on pure policies -----------------------------

fn fetch(url: &str) -> Json {
    json!({"req": {"method": "GET", "url": url, "headers": [], "body": null, "bearer-secret": null}})
}

fn write(path: &str) -> Json {
    json!({"path": path, "content": "x"})
}

fn kind(decision: &Decision) -> &'static str {
    match decision {
        Decision::Allow { .. } => "allow",
        Decision::Ask { .. } => "ask",
        Decision::Deny { .. } => "deny",
        Decision::Limit { .. } => "limit",
        Decision::Invalid { .. } => "invalid",
    }
}

fn bounded(current: &str, maker: &str, by: Caller) -> Policy {
    Policy::parse("current.toml", &format!("version = 1\n{current}"))
        .expect("current parses")
        .within([Bound {
            policy: Arc::new(
                Policy::parse("maker.toml", &format!("version = 1\n{maker}"))
                    .expect("maker parses"),
            ),
            maker: by,
        }])
}

const ALLOW_A: &str = "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.example/**\"]\n";
const ASK_A: &str = "[[ask]]\ncall = \"http.fetch\"\nurl = [\"https://a.example/**\"]\n";
const DENY_A: &str = "[[deny]]\ncall = \"http.fetch\"\nurl = [\"https://a.example/admin/**\"]\n";
const ALLOW_ALL_HTTP: &str = "[[allow]]\ncall = \"http.fetch\"\n";
const ALLOW_NOTES: &str = "[[allow]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\n";
const ASK_NOTES: &str = "[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\n";

#[test]
fn a_bounded_call_is_allowed_only_if_both_allow_and_asked_if_either_asks() {
    let cases: &[(&str, &str, &str, Json, &str)] = &[
        // current, maker, call, args, expected
        (
            ALLOW_A,
            ALLOW_A,
            "http.fetch",
            fetch("https://a.example/x"),
            "allow",
        ),
        (
            ALLOW_ALL_HTTP,
            ALLOW_A,
            "http.fetch",
            fetch("https://b.example/x"),
            "deny",
        ),
        (
            ALLOW_A,
            ALLOW_ALL_HTTP,
            "http.fetch",
            fetch("https://b.example/x"),
            "deny",
        ),
        (
            ALLOW_ALL_HTTP,
            "",
            "http.fetch",
            fetch("https://a.example/x"),
            "deny",
        ),
        (
            "",
            ALLOW_ALL_HTTP,
            "http.fetch",
            fetch("https://a.example/x"),
            "deny",
        ),
        (
            ASK_A,
            ALLOW_A,
            "http.fetch",
            fetch("https://a.example/x"),
            "ask",
        ),
        (
            ALLOW_A,
            ASK_A,
            "http.fetch",
            fetch("https://a.example/x"),
            "ask",
        ),
        (
            ASK_A,
            ASK_A,
            "http.fetch",
            fetch("https://a.example/x"),
            "ask",
        ),
        (
            ASK_A,
            "",
            "http.fetch",
            fetch("https://a.example/x"),
            "deny",
        ),
        (
            "",
            ASK_A,
            "http.fetch",
            fetch("https://a.example/x"),
            "deny",
        ),
        (
            ALLOW_ALL_HTTP,
            &format!("{ALLOW_A}{DENY_A}"),
            "http.fetch",
            fetch("https://a.example/admin/x"),
            "deny",
        ),
        (
            &format!("{ASK_A}{DENY_A}"),
            ALLOW_ALL_HTTP,
            "http.fetch",
            fetch("https://a.example/admin/x"),
            "deny",
        ),
        (
            ALLOW_ALL_HTTP,
            ALLOW_ALL_HTTP,
            "http.fetch",
            fetch("not a url"),
            "invalid",
        ),
        (
            ALLOW_NOTES,
            ALLOW_NOTES,
            "fs.write-text",
            write("notes/a.md"),
            "allow",
        ),
        (
            ALLOW_NOTES,
            ASK_NOTES,
            "fs.write-text",
            write("notes/a.md"),
            "ask",
        ),
        (
            ALLOW_NOTES,
            ALLOW_NOTES,
            "fs.write-text",
            write("other/a.md"),
            "deny",
        ),
        (
            ALLOW_NOTES,
            "",
            "fs.write-text",
            write("notes/a.md"),
            "deny",
        ),
        (
            ALLOW_NOTES,
            ALLOW_NOTES,
            "fs.write-text",
            write("../escape"),
            "invalid",
        ),
    ];
    for (current, maker, name, args, expected) in cases {
        let (interface, function) = name.split_once('.').expect("a call name");
        let call = Call {
            interface,
            function,
            args,
        };
        let policy = bounded(current, maker, Caller::Script);
        let decision = policy.decide(&call, &mut Usage::default());
        assert_eq!(
            kind(&decision),
            *expected,
            "current:\n{current}\nmaker:\n{maker}\ncall {name} {args}: {decision:?}"
        );
    }
}

#[test]
fn a_bounded_run_has_the_smaller_of_each_limit_and_only_shared_private_addresses() {
    let current = "[run]\ntimeout = \"30s\"\nmemory = \"64MiB\"\nmax-calls = 50\n[net]\nallow-private = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n[[allow]]\ncall = \"http.fetch\"\nmax-calls = 5\n";
    let maker = "[run]\ntimeout = \"5s\"\nmax-calls = 3\nmax-output = \"1KiB\"\n[net]\nallow-private = [\"127.0.0.1:2\", \"127.0.0.1:3\"]\n[[allow]]\ncall = \"http.fetch\"\nmax-calls = 2\n";
    let policy = bounded(current, maker, Caller::Script);
    let run = policy.run();
    assert_eq!(run.timeout, Some(Duration::from_secs(5)));
    assert_eq!(run.memory, Some(64 * 1024 * 1024));
    assert_eq!(run.max_calls, Some(3));
    assert_eq!(run.max_output, Some(1024));
    assert_eq!(
        policy.net().allow_private,
        vec!["127.0.0.1:2".parse().expect("addr")]
    );
    // The maker's rule allows two calls per run, the current one five: two.
    let args = fetch("https://a.example/");
    let call = Call {
        interface: "http",
        function: "fetch",
        args: &args,
    };
    let mut usage = Usage::default();
    let kinds: Vec<&str> = (0..4)
        .map(|_| kind(&policy.decide(&call, &mut usage)))
        .collect();
    assert_eq!(kinds, ["allow", "allow", "limit", "limit"]);
}

#[test]
fn in_a_job_a_tool_made_the_script_has_the_tools_rights_and_tools_have_none() {
    let tool_table = "[tools.units]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nimports = [\"http\"]\n";
    let maker = format!(
        "{tool_table}[[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.units\"\nurl = [\"https://units.example/**\"]\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://script.example/**\"]\n"
    );
    let current = format!(
        "{tool_table}{ALLOW_ALL_HTTP}[[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.units\"\n"
    );
    let policy = bounded(&current, &maker, Caller::Tool("units".into()));
    let decide = |caller: &Caller, url: &str| {
        let args = fetch(url);
        kind(&policy.decide_for(
            caller,
            &Call {
                interface: "http",
                function: "fetch",
                args: &args,
            },
            &mut Usage::default(),
        ))
    };
    assert_eq!(decide(&Caller::Script, "https://units.example/x"), "allow");
    assert_eq!(decide(&Caller::Script, "https://script.example/x"), "deny");
    assert_eq!(
        decide(&Caller::Tool("units".into()), "https://units.example/x"),
        "deny"
    );
}

// ---------------------------------------------------------------------------
// 2. Grants answer only the rule (and the secret) they were given for
// ---------------------------------------------------------------------------

/// Says "always" and counts how often it was asked.
#[derive(Debug, Default)]
struct AlwaysYes(Mutex<usize>);

impl Approver for AlwaysYes {
    fn approve<'a>(&'a self, _request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        *self.0.lock().expect("lock") += 1;
        Box::pin(async { Approval::Always })
    }
}

struct GrantWorld {
    world: common::world::World,
    grants: Arc<Grants>,
}

impl GrantWorld {
    fn new() -> Self {
        let world = common::world::World::new();
        let grants = Arc::new(Grants::open(Arc::clone(&world.store)));
        Self { world, grants }
    }

    /// Runs `source` under `policy`, asking `approver`; the calls' verdicts.
    fn run(&self, policy: &str, source: &str, approver: Arc<dyn Approver>) -> Vec<Verdict> {
        let mut gate: GateSetup = self.world.gate(policy);
        gate.grants = Arc::clone(&self.grants);
        gate.approver = approver;
        let mut request = RunRequest::new(source);
        request.gate = gate;
        let outcome = common::runtime().block_on(self.world.sandbox.run(&request));
        outcome.calls.iter().map(|c| c.verdict).collect()
    }
}

const WRITE_NOTE: &str =
    "try { await fs.writeText('notes/a.md', 'hi'); return 'ok' } catch (e) { return e.code }";

#[test]
fn an_always_grant_answers_only_the_ask_rule_it_was_given_for() {
    let w = GrantWorld::new();
    let v1 = "version = 1\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\n";
    let yes = Arc::new(AlwaysYes::default());
    assert_eq!(w.run(v1, WRITE_NOTE, yes.clone()), [Verdict::Approved]);
    assert_eq!(
        w.run(v1, WRITE_NOTE, Arc::new(NonInteractive)),
        [Verdict::Granted]
    );
    let edits = [
        // The rule widened: the grant was not given for what it says now.
        "version = 1\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\", \"**\"]\n",
        // Its budget changed.
        "version = 1\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\nmax-calls = 9\n",
        // Another ask rule, same text, now first: a different rule.
        "version = 1\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/a.md\"]\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\n",
        // The rule moved behind another.
        "version = 1\n[[allow]]\ncall = \"fs.read-text\"\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\n",
        // Same meaning, by a tool: never the script's grant.
        "version = 1\n[[ask]]\ncall = \"fs.*\"\npath = [\"notes/**\"]\n",
    ];
    for policy in edits {
        assert_eq!(
            w.run(policy, WRITE_NOTE, Arc::new(NonInteractive)),
            [Verdict::Rejected],
            "{policy}"
        );
    }
    // A note is not the rule's meaning: the grant still answers.
    let noted =
        "version = 1\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\nnote = \"why\"\n";
    assert_eq!(
        w.run(noted, WRITE_NOTE, Arc::new(NonInteractive)),
        [Verdict::Granted]
    );
    assert_eq!(*yes.0.lock().expect("lock"), 1);
}

#[test]
fn a_grant_never_covers_a_call_that_injects_a_secret_it_was_not_given_for() {
    let w = GrantWorld::new();
    w.world
        .secrets
        .set("tok_a", "value-of-token-a")
        .expect("set");
    w.world
        .secrets
        .set("tok_b", "value-of-token-b")
        .expect("set");
    let server = Server::start("127.0.0.1", 0, |_| Reply::text(200, "text/plain", "ok"));
    w.world.resolver.answer("api.example", &["127.0.0.1"]);
    let policy = format!(
        "version = 1\n[[ask]]\ncall = \"http.fetch\"\nurl = [\"http://api.example:{port}/**\"]\nsecrets = [\"tok_a\", \"tok_b\"]\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n",
        port = server.port()
    );
    let fetch = |secret: &str| {
        let secret = if secret.is_empty() {
            "null".to_owned()
        } else {
            format!("'{secret}'")
        };
        format!(
            "try {{ await http.fetch({{ method: 'GET', url: 'http://api.example:{}/x', headers: [], body: null, bearerSecret: {secret} }}); return 'ok' }} catch (e) {{ return e.code }}",
            server.port()
        )
    };
    let no = || Arc::new(NonInteractive) as Arc<dyn Approver>;
    // A grant for plain calls to the origin.
    assert_eq!(
        w.run(&policy, &fetch(""), Arc::new(AlwaysYes::default())),
        [Verdict::Approved]
    );
    assert_eq!(w.run(&policy, &fetch(""), no()), [Verdict::Granted]);
    assert_eq!(w.run(&policy, &fetch("tok_a"), no()), [Verdict::Rejected]);
    // A grant for tok_a covers tok_a, not tok_b.
    assert_eq!(
        w.run(&policy, &fetch("tok_a"), Arc::new(AlwaysYes::default())),
        [Verdict::Approved]
    );
    assert_eq!(w.run(&policy, &fetch("tok_a"), no()), [Verdict::Granted]);
    assert_eq!(w.run(&policy, &fetch("tok_b"), no()), [Verdict::Rejected]);
    let listed = w.grants.list().expect("list");
    assert!(
        listed
            .iter()
            .any(|g| g.scope.contains("with the secret `tok_a`")),
        "{listed:?}"
    );
    assert!(
        listed.iter().all(|g| !g.scope.contains("value-of-token")),
        "no value in a grant: {listed:?}"
    );
}

#[test]
fn a_revoked_grant_answers_nothing_from_the_next_call_on() {
    let w = GrantWorld::new();
    let policy = "version = 1\n[[ask]]\ncall = \"fs.write-text\"\npath = [\"notes/**\"]\n";
    w.run(policy, WRITE_NOTE, Arc::new(AlwaysYes::default()));
    assert_eq!(
        w.run(policy, WRITE_NOTE, Arc::new(NonInteractive)),
        [Verdict::Granted]
    );
    let grant = w.grants.list().expect("list").remove(0);
    // Revoked through a second handle on the database, as `clambot grants revoke` does.
    let other = Grants::open(Arc::clone(&w.world.store));
    assert_eq!(other.revoke(&grant.id).expect("revoke").len(), 1);
    assert_eq!(
        w.run(policy, WRITE_NOTE, Arc::new(NonInteractive)),
        [Verdict::Rejected]
    );
    w.run(policy, WRITE_NOTE, Arc::new(AlwaysYes::default()));
    assert_eq!(other.revoke_all().expect("all"), 1);
    assert_eq!(
        w.run(policy, WRITE_NOTE, Arc::new(NonInteractive)),
        [Verdict::Rejected]
    );
}

#[test]
fn a_bounded_ask_is_answered_only_by_a_grant_for_every_asking_rule() {
    let current = Policy::parse("c.toml", &format!("version = 1\n{ASK_A}")).expect("parses");
    let bound = Policy::parse("m.toml", &format!("version = 1\n{ASK_A}")).expect("parses");
    let args = fetch("https://a.example/x");
    let call = Call {
        interface: "http",
        function: "fetch",
        args: &args,
    };
    let Decision::Ask { scope: alone, .. } = current.decide(&call, &mut Usage::default()) else {
        panic!("asks");
    };
    let narrowed = current.clone().within([Bound {
        policy: Arc::new(bound),
        maker: Caller::Script,
    }]);
    let Decision::Ask { scope: both, .. } = narrowed.decide(&call, &mut Usage::default()) else {
        panic!("asks");
    };
    assert_ne!(alone.fingerprint(), both.fingerprint());
}

// ---------------------------------------------------------------------------
// 3. Secrets: every form, every moment
// ---------------------------------------------------------------------------

/// Every form of `secret` the redactor promises to catch, standing alone.
fn encoded_forms(secret: &str) -> Vec<(String, String)> {
    let bytes = secret.as_bytes();
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64u = base64::engine::general_purpose::URL_SAFE;
    let b64n = base64::engine::general_purpose::STANDARD_NO_PAD;
    let b64un = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json_escaped = serde_json::to_string(secret).expect("json");
    let unicode_escaped = |upper: bool| {
        secret
            .encode_utf16()
            .map(|u| {
                if upper {
                    format!("\\u{u:04X}")
                } else {
                    format!("\\u{u:04x}")
                }
            })
            .collect::<String>()
    };
    let percent = |upper: bool| {
        bytes
            .iter()
            .map(|b| {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect::<String>()
    };
    let form = url::form_urlencoded::byte_serialize(bytes).collect::<String>();
    let mixed_hex: String = hex::encode(bytes)
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let html_decimal: String = secret.chars().map(|c| format!("&#{};", c as u32)).collect();
    let html_hex: String = secret
        .chars()
        .map(|c| format!("&#X{:x};", c as u32))
        .collect();
    let nested: String = unicode_escaped(false)
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    vec![
        ("raw".into(), secret.to_owned()),
        ("upper case".into(), secret.to_ascii_uppercase()),
        ("lower case".into(), secret.to_ascii_lowercase()),
        ("html decimal".into(), html_decimal),
        ("html hex".into(), html_hex),
        ("percent-encoded json \\u".into(), nested),
        (
            "json".into(),
            json_escaped[1..json_escaped.len() - 1].to_owned(),
        ),
        ("json \\u upper".into(), unicode_escaped(true)),
        ("json \\u lower".into(), unicode_escaped(false)),
        ("percent upper".into(), percent(true)),
        ("percent lower".into(), percent(false)),
        ("form".into(), form),
        ("hex lower".into(), hex::encode(bytes)),
        ("hex upper".into(), hex::encode_upper(bytes)),
        ("hex mixed".into(), mixed_hex),
        ("base64".into(), b64.encode(bytes)),
        ("base64 url".into(), b64u.encode(bytes)),
        ("base64 no pad".into(), b64n.encode(bytes)),
        ("base64 url no pad".into(), b64un.encode(bytes)),
    ]
}

/// The base64 characters that carry `secret` when it sits `offset` bytes
/// into a longer stream, as that stream's encoding shows them.
fn embedded_base64(
    prefix: &[u8],
    secret: &[u8],
    suffix: &[u8],
    url_safe: bool,
) -> (String, String) {
    let mut stream = prefix.to_vec();
    stream.extend_from_slice(secret);
    stream.extend_from_slice(suffix);
    let encoded = if url_safe {
        base64::engine::general_purpose::URL_SAFE.encode(&stream)
    } else {
        base64::engine::general_purpose::STANDARD.encode(&stream)
    };
    let first = (8 * prefix.len()).div_ceil(6);
    let last = (8 * (prefix.len() + secret.len())) / 6;
    (encoded.clone(), encoded[first..last].to_owned())
}

fn secret_strategy() -> impl Strategy<Value = String> {
    // Printable ASCII (with the characters encodings treat specially), spaces,
    // and some non-ASCII, 4 to 40 characters.
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::char::range('!', '~'),
            1 => Just(' '),
            1 => prop_oneof![Just('é'), Just('ß'), Just('中'), Just('😀'), Just('/'), Just('+'), Just('=')],
        ],
        4..40,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>())
    .prop_filter("at least 4 bytes, not all spaces", |s| {
        s.len() >= 4 && !s.trim().is_empty()
    })
}

fn surrounding() -> impl Strategy<Value = String> {
    "[ -~\\n]{0,60}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_encoded_form_of_a_secret_is_redacted_wherever_it_sits(
        secret in secret_strategy(),
        before in surrounding(),
        after in surrounding(),
    ) {
        let redactor = Redactor::new([secret.clone()]);
        for (name, form) in encoded_forms(&secret) {
            let text = format!("{before}{form}{after}");
            let out = redactor.text(&text);
            prop_assert!(!out.contains(&form), "{name} survived: {out:?}");
            prop_assert!(out.contains(REDACTED), "{name}: {out:?}");
            // Inside JSON values (results, audit records) as well.
            let value = redactor.json(&json!({"k": [text.clone()], text.clone(): 1}));
            prop_assert!(!value.to_string().contains(&form), "{name} in JSON: {value}");
        }
    }

    #[test]
    fn a_secret_inside_a_longer_base64_stream_is_redacted_at_every_alignment(
        secret in secret_strategy(),
        prefix in proptest::collection::vec(any::<u8>(), 0..7),
        suffix in proptest::collection::vec(any::<u8>(), 0..7),
        url_safe in any::<bool>(),
    ) {
        let redactor = Redactor::new([secret.clone()]);
        let (stream, core) = embedded_base64(&prefix, secret.as_bytes(), &suffix, url_safe);
        let out = redactor.text(&format!("data:{stream};"));
        prop_assert!(!out.contains(&core), "core {core:?} of {stream:?} survived: {out:?}");
    }
}

#[test]
fn ordinary_text_passes_the_redactor_unchanged() {
    let redactor = Redactor::new(["sk-test-0123456789abcdef".to_owned(), "hunter22".to_owned()]);
    for text in [
        "",
        "The price of BTC is 97,000 USD (+2.5% today).",
        r#"{"a": "b\n", "url": "https://example.com/?q=a+b&x=%20"}"#,
        "aGVsbG8gd29ybGQ= deadbeef 0123456789",
        "sk-test-0123456789abcde",
    ] {
        assert_eq!(redactor.text(text), text);
    }
}

/// A server that echoes the bearer token it receives in every form.
fn echo_server() -> Server {
    Server::start("127.0.0.1", 0, |seen| {
        let token = seen
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("none")
            .to_owned();
        let forms: Vec<String> = encoded_forms(&token).into_iter().map(|(_, f)| f).collect();
        Reply::text(200, "text/plain", forms.join(" | "))
    })
}

#[test]
fn a_server_echoing_a_secret_in_any_form_shows_the_script_audit_and_errors_nothing() {
    const SECRET: &str = "sk-live/Ab+Cd=Ef gh%ij\"kl\\mn";
    let world = common::world::World::new();
    world.secrets.set("api_token", SECRET).expect("set");
    let server = echo_server();
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\nsecrets = [\"api_token\"]\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n",
        port = server.port()
    );
    let source = format!(
        "const r = await http.fetch({{ method: 'GET', url: 'http://127.0.0.1:{}/x', headers: [], body: null, bearerSecret: 'api_token' }}); console.log(r.body); try {{ await fs.readText(r.body) }} catch (e) {{ console.log(e.message) }} return r.body",
        server.port()
    );
    let mut request = RunRequest::new(source);
    request.gate = world.gate(&policy);
    request.gate.redactor = Arc::new(Redactor::live(Arc::clone(&world.secrets)).expect("redactor"));
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    let result = outcome.result.clone().expect("runs");
    let audit = std::fs::read_dir(world.audit_dir())
        .expect("audit dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect::<String>();
    let console = outcome.console.text();
    assert!(result.contains(REDACTED), "{result}");
    for (name, form) in encoded_forms(SECRET) {
        assert!(!result.contains(&form), "{name} in the result: {result}");
        assert!(!console.contains(&form), "{name} on the console: {console}");
        assert!(!audit.contains(&form), "{name} in the audit log");
    }
}

fn header_safe_secret() -> impl Strategy<Value = String> {
    // What an Authorization header can carry: visible ASCII and spaces inside.
    "[!-~][ -~]{2,30}[!-~]"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn through_the_real_gate_no_echoed_form_reaches_result_console_audit_or_error(
        secret in header_safe_secret(),
        before in "[ -~]{0,20}",
        after in "[ -~]{0,20}",
    ) {
        let world = common::world::World::new();
        world.secrets.set("api_token", &secret).expect("set");
        let (b, a) = (before.clone(), after.clone());
        let server = Server::start("127.0.0.1", 0, move |seen| {
            let token = seen
                .header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("none")
                .to_owned();
            let body: Vec<String> = encoded_forms(&token)
                .into_iter()
                .map(|(_, form)| format!("{b}{form}{a}"))
                .collect();
            Reply::text(200, "text/plain", body.join("\n"))
        });
        let policy = format!(
            "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\nsecrets = [\"api_token\"]\n[[allow]]\ncall = \"fs.read-text\"\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n",
            port = server.port()
        );
        let source = format!(
            "const r = await http.fetch({{ method: 'GET', url: 'http://127.0.0.1:{}/x', headers: [], body: null, bearerSecret: 'api_token' }}); console.log(r.body); for (const line of r.body.split('\\n')) {{ try {{ await fs.readText(line) }} catch (e) {{ console.log(e.message) }} }} return r.body",
            server.port()
        );
        let mut request = RunRequest::new(source);
        request.gate = world.gate(&policy);
        request.gate.redactor = Arc::new(Redactor::live(Arc::clone(&world.secrets)).expect("redactor"));
        let outcome = common::runtime().block_on(world.sandbox.run(&request));
        let result = outcome.result.clone().expect("runs");
        let console = outcome.console.text();
        let audit: String = std::fs::read_dir(world.audit_dir())
            .expect("audit dir")
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
            .collect();
        for (name, form) in encoded_forms(&secret) {
            prop_assert!(!result.contains(&form), "{name} in the result: {result}");
            prop_assert!(!console.contains(&form), "{name} on the console or in an error: {console}");
            prop_assert!(!audit.contains(&form), "{name} in the audit log");
        }
    }
}

#[test]
fn a_secret_set_while_a_run_is_in_progress_is_redacted_from_that_moment() {
    const LATE: &str = "late-secret-value-271828";
    let world = common::world::World::new();
    let secrets = Arc::clone(&world.secrets);
    // The first request sets a new secret (as the owner would, mid-run, with
    // `clambot secrets set` or Telegram's /secret); the second injects it and
    // the server echoes it.
    let server = Server::start("127.0.0.1", 0, move |seen| {
        if seen.path == "/first" {
            secrets.set("late_token", LATE).expect("set while running");
            Reply::text(200, "text/plain", "set")
        } else {
            let auth = seen.header("authorization").unwrap_or_default().to_owned();
            Reply::text(200, "text/plain", format!("you sent {auth} and {LATE}"))
        }
    });
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\nsecrets = [\"late_token\"]\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n",
        port = server.port()
    );
    let source = format!(
        "const base = 'http://127.0.0.1:{}'; await http.fetch({{ method: 'GET', url: base + '/first', headers: [], body: null, bearerSecret: null }}); const r = await http.fetch({{ method: 'GET', url: base + '/second', headers: [], body: null, bearerSecret: 'late_token' }}); return r.body",
        server.port()
    );
    let mut request = RunRequest::new(source);
    request.gate = world.gate(&policy);
    // Built before the secret exists, as every run's redactor is.
    request.gate.redactor = Arc::new(Redactor::live(Arc::clone(&world.secrets)).expect("redactor"));
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    let result = outcome.result.expect("runs");
    assert!(!result.contains(LATE), "{result}");
    assert!(result.contains(REDACTED), "{result}");
}

#[test]
fn a_live_redactor_learns_a_value_set_through_another_handle_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.json");
    let mine = Arc::new(SecretStore::open(&path));
    let redactor = Redactor::live(Arc::clone(&mine)).expect("redactor");
    assert!(!redactor.has_secrets());
    // Another handle on the file, in this process: known at the next use.
    SecretStore::open(&path)
        .set("a", "first-value-1")
        .expect("set");
    assert_eq!(
        redactor.text("x first-value-1 y"),
        format!("x {REDACTED} y")
    );
    SecretStore::open(&path)
        .set("a", "second-value-2")
        .expect("set");
    let out = redactor.text("first-value-1 second-value-2");
    assert_eq!(
        out,
        format!("{REDACTED} {REDACTED}"),
        "values once known stay known"
    );
}

#[test]
fn a_live_redactor_learns_a_value_another_process_set_within_its_look_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let path = home.join("data/secrets.json");
    let redactor = Redactor::live(Arc::new(SecretStore::open(&path))).expect("redactor");
    assert_eq!(
        redactor.text("x other-process-value y"),
        "x other-process-value y"
    );
    let mut set = std::process::Command::new(env!("CARGO_BIN_EXE_clambot"))
        .args(["secrets", "set", "late"])
        .env_clear()
        .env("CLAMBOT_HOME", &home)
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("clambot runs");
    use std::io::Write;
    set.stdin
        .take()
        .expect("stdin")
        .write_all(b"other-process-value")
        .expect("write");
    assert!(set.wait().expect("wait").success());
    // The redactor looks at the file at most every 100 ms.
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        redactor.text("x other-process-value y"),
        format!("x {REDACTED} y")
    );
}

#[test]
fn a_short_secret_is_refused_when_set_and_never_injected() {
    let store = SecretStore::in_memory();
    for short in ["a", "ab", "abc", "é"] {
        let error = store.set("short", short).expect_err("refused");
        assert!(error.to_string().contains("at least 4 bytes"), "{error}");
    }
    store.set("ok", "abcd").expect("four bytes are enough");

    // A short value already in an older file is not sent.
    let world = common::world::World::new();
    let path = world.dir.path().join("data/secrets.json");
    std::fs::write(&path, r#"{"version":1,"secrets":{"tiny":"ab"}}"#).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let server = Server::start("127.0.0.1", 0, |_| Reply::text(200, "text/plain", "ok"));
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\nsecrets = [\"tiny\"]\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n",
        port = server.port()
    );
    let result = world.ok(
        &policy,
        &format!(
            "try {{ await http.fetch({{ method: 'GET', url: 'http://127.0.0.1:{}/', headers: [], body: null, bearerSecret: 'tiny' }}); return 'sent' }} catch (e) {{ return e.code }}",
            server.port()
        ),
    );
    assert_eq!(result, json!("failed"));
    assert_eq!(server.connections(), 0);
}

#[test]
fn clambot_secrets_set_refuses_a_short_value_with_exit_1() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clambot"))
        .args(["secrets", "set", "pin"])
        .env("CLAMBOT_HOME", dir.path().join("home"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("clambot runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"123\n")
        .expect("write");
    let out = child.wait_with_output().expect("finishes");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 4 bytes"), "{stderr}");
    assert!(!dir.path().join("home/data/secrets.json").exists());
}

#[test]
fn clambot_cron_adopt_vouches_only_for_jobs_whose_maker_is_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home_dir = dir.path().join("home");
    let cron = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_clambot"))
            .arg("cron")
            .args(args)
            .env("CLAMBOT_HOME", &home_dir)
            .output()
            .expect("clambot runs")
    };
    let state = HostState::open(Home::at(home_dir.clone())).expect("state");
    let book = JobBook::new(Arc::clone(&state.store));
    let spec = |name: &str| json!({"name": name, "schedule": {"every": 3600}, "action": {"prompt": "hello"}});
    book.add(&spec("old"), None, Origin::Unrecorded, Utc::now())
        .expect("old");
    let policy =
        Policy::parse("p.toml", "version = 1\n[[allow]]\ncall = \"cron.add\"\n").expect("p");
    let origin = book
        .origin_of_run(&policy, &Caller::Script, "run-1")
        .expect("origin");
    book.add(&spec("scripted"), None, origin, Utc::now())
        .expect("scripted");

    let list = String::from_utf8_lossy(&cron(&["list"]).stdout).into_owned();
    assert!(list.contains("maker unknown"), "{list}");
    assert!(list.contains("made by run run-1"), "{list}");
    let out = cron(&["adopt", "scripted"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a script's job keeps its maker's rights"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps that run's rights"));
    let out = cron(&["adopt", "old"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        home_jobs(&state)
            .get("old")
            .expect("get")
            .expect("job")
            .origin,
        Origin::Owner
    );
    assert_eq!(
        cron(&["adopt", "old"]).status.code(),
        Some(1),
        "adopted already"
    );
    // A job the owner adds is owner-made.
    let out = cron(&["add", "mine", "--every", "1h", "--prompt", "hi"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        home_jobs(&state)
            .get("mine")
            .expect("get")
            .expect("job")
            .origin,
        Origin::Owner
    );
}

fn home_jobs(state: &HostState) -> CronJobs {
    CronJobs::new(Arc::clone(&state.store))
}

#[test]
fn jobs_stored_before_makers_were_recorded_are_owner_made_only_if_only_the_owner_could_have_made_them()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clambot.db");
    let store = clambot::store::Store::open(&path).expect("open");
    // Back to schema 2, as an older clambot left it, with one job from
    // `clambot cron add --channel` and one that a script may have made.
    store
        .with(|c| {
            c.execute_batch(
                r#"DROP TABLE policy_snapshots;
                   DROP TABLE telegram_outbox;
                   DROP TABLE telegram_turns;
                   DROP TABLE telegram_updates;
                   ALTER TABLE cron_jobs DROP COLUMN origin;
                   INSERT INTO cron_jobs (id, name, schedule, action, once, enabled, created_ms, next_run_ms, last_run_ms, channel)
                   VALUES ('job-a', 'from-cli', '{"every":60}', '{"prompt":"hi"}', 0, 1, 0, 60000, NULL, 'telegram:42'),
                          ('job-b', 'unknown', '{"every":60}', '{"prompt":"hi"}', 0, 1, 0, 60000, NULL, NULL);
                   PRAGMA user_version = 2;"#,
            )
        })
        .expect("downgrade");
    drop(store);
    let store = Arc::new(clambot::store::Store::open(&path).expect("migrates"));
    let jobs = CronJobs::new(Arc::clone(&store));
    assert_eq!(
        jobs.get("from-cli").expect("get").expect("job").origin,
        Origin::Owner
    );
    assert_eq!(
        jobs.get("unknown").expect("get").expect("job").origin,
        Origin::Unrecorded
    );
    // A value this clambot cannot read is no record either.
    store
        .with(|c| {
            c.execute(
                "UPDATE cron_jobs SET origin = '{\"by\":\"god\"}' WHERE id = 'job-a'",
                [],
            )
        })
        .expect("damage");
    assert_eq!(
        jobs.get("from-cli").expect("get").expect("job").origin,
        Origin::Unrecorded
    );
}

#[test]
fn a_chain_of_jobs_under_one_policy_records_it_once_and_a_tool_maker_as_the_tool() {
    let store = Arc::new(clambot::store::Store::in_memory().expect("store"));
    let book = JobBook::new(Arc::clone(&store));
    let text = "version = 1\n[[allow]]\ncall = \"cron.add\"\n";
    let policy = Policy::parse("p.toml", text).expect("parses");
    let again = policy.clone().within([Bound {
        policy: Arc::new(policy.clone()),
        maker: Caller::Script,
    }]);
    let Origin::Run { bounds, .. } = book
        .origin_of_run(&again, &Caller::Script, "r")
        .expect("origin")
    else {
        panic!("run-made");
    };
    assert_eq!(bounds.len(), 1, "{bounds:?}");
    let Origin::Run { bounds, .. } = book
        .origin_of_run(&again, &Caller::Tool("units".into()), "r")
        .expect("origin")
    else {
        panic!("run-made");
    };
    assert_eq!(bounds.len(), 1);
    assert_eq!(bounds[0].maker, "tools.units");
    // No policy at all: no job.
    assert!(
        book.origin_of_run(&Policy::deny_all(), &Caller::Script, "r")
            .is_err()
    );
}

//! The gate around real runs: grants, approvers, audit and budgets.

mod common;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clambot::gate::approver::{
    Approval, ApprovalRequest, Approver, NonInteractive, TerminalApprover,
};
use clambot::gate::audit::{AuditLog, Verdict};
use clambot::gate::grants::Grants;
use clambot::gate::redact::Redactor;
use clambot::gate::{BoxFuture, GateSetup};
use clambot::policy::Policy;
use clambot::sandbox::RunRequest;
use clambot::store::Store;

/// Answers from a script of replies and remembers what it was asked.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<VecDeque<Approval>>,
    asked: Mutex<Vec<ApprovalRequest>>,
}

impl Scripted {
    fn new(answers: impl IntoIterator<Item = Approval>) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.into_iter().collect()),
            asked: Mutex::default(),
        })
    }

    fn asked(&self) -> usize {
        self.asked.lock().expect("lock").len()
    }
}

impl Approver for Scripted {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        self.asked.lock().expect("lock").push(request.clone());
        let answer = self
            .answers
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Approval::Reject("no more answers".into()));
        Box::pin(async move { answer })
    }
}

const ASK_LOG: &str = "version = 1\n[[ask]]\ncall = \"log.write\"\n";

fn setup(policy: &str, grants: Arc<Grants>, approver: Arc<dyn Approver>) -> GateSetup {
    GateSetup {
        policy: Arc::new(Policy::parse("test.toml", policy).expect("policy parses")),
        grants,
        approver,
        audit: None,
        redactor: Arc::new(Redactor::default()),
    }
}

fn run(source: &str, gate: &GateSetup) -> clambot::sandbox::RunOutcome {
    let mut request = RunRequest::new(source);
    request.gate = gate.clone();
    common::run(&request)
}

const TWO_LOGS: &str = "log.writeSync('info', 'a'); log.writeSync('info', 'a'); return 'ok'";

#[test]
fn turn_grants_cover_the_turn_and_reset_between_turns() {
    let grants = Arc::new(Grants::in_memory());
    let approver = Scripted::new([Approval::Turn, Approval::Once, Approval::Once]);
    let gate = setup(ASK_LOG, Arc::clone(&grants), approver.clone());

    assert_eq!(run(TWO_LOGS, &gate).result.expect("first run"), "\"ok\"");
    assert_eq!(
        approver.asked(),
        1,
        "the turn grant answered the second call"
    );
    assert_eq!(run(TWO_LOGS, &gate).result.expect("same turn"), "\"ok\"");
    assert_eq!(approver.asked(), 1, "still the same turn");

    grants.end_turn();
    assert_eq!(run(TWO_LOGS, &gate).result.expect("next turn"), "\"ok\"");
    assert_eq!(
        approver.asked(),
        3,
        "a new turn asks again, and `once` covers one call"
    );
}

#[test]
fn always_grants_survive_a_restart_and_can_be_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data/clambot.db");
    let open = || Grants::open(Arc::new(Store::open(&path).expect("open the database")));
    let approver = Scripted::new([Approval::Always]);
    let gate = setup(ASK_LOG, Arc::new(open()), approver.clone());
    assert_eq!(run(TWO_LOGS, &gate).result.expect("granted"), "\"ok\"");
    assert_eq!(approver.asked(), 1);

    // A new process: the grant is read back, nobody is asked.
    let reopened = Arc::new(open());
    assert_eq!(reopened.list().expect("list").len(), 1);
    let gate = setup(ASK_LOG, Arc::clone(&reopened), Arc::new(NonInteractive));
    let outcome = run(TWO_LOGS, &gate);
    assert_eq!(outcome.result.expect("granted after restart"), "\"ok\"");
    assert!(outcome.calls.iter().all(|c| c.verdict == Verdict::Granted));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = path.parent().expect("data dir");
        let mode = std::fs::metadata(dir).expect("stat").permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o700,
            "the database is in a directory private to the user"
        );
    }

    let id = reopened.list().expect("list")[0].id.clone();
    // Revoked through another handle (another process would do the same): the
    // first handle sees it at once, because grants are not cached.
    assert_eq!(open().revoke(&id[..6]).expect("revoke").len(), 1);
    let gate = setup(ASK_LOG, Arc::clone(&reopened), Arc::new(NonInteractive));
    let outcome = run(
        "try { log.writeSync('info', 'a') } catch (e) { return e.code }",
        &gate,
    );
    assert_eq!(outcome.result.expect("runs"), "\"denied\"");
}

#[test]
fn a_grant_never_overrides_a_deny_rule() {
    let grants = Arc::new(Grants::in_memory());
    let approver = Scripted::new([Approval::Always]);
    let gate = setup(ASK_LOG, Arc::clone(&grants), approver);
    run("log.writeSync('info', 'a')", &gate);
    let denying = format!("{ASK_LOG}[[deny]]\ncall = \"log.*\"\n");
    let gate = setup(&denying, grants, Arc::new(NonInteractive));
    let outcome = run(
        "try { log.writeSync('info', 'a') } catch (e) { return [e.code, e.rule] }",
        &gate,
    );
    assert_eq!(
        outcome.result.expect("runs"),
        r#"["denied","test.toml:5 [[deny]] log.*"]"#
    );
}

#[test]
fn non_interactive_rejects_ask_rules_and_names_the_rule() {
    let gate = setup(
        ASK_LOG,
        Arc::new(Grants::in_memory()),
        Arc::new(NonInteractive),
    );
    let outcome = run(
        "try { log.writeSync('info', 'a') } catch (e) { return [e.code, e.rule, e.message] }",
        &gate,
    );
    let value: serde_json::Value =
        serde_json::from_str(&outcome.result.expect("runs")).expect("json");
    assert_eq!(value[0], "denied");
    assert_eq!(value[1], "test.toml:3 [[ask]] log.write");
    let message = value[2].as_str().expect("message");
    assert!(
        message.contains("non-interactive") && message.contains("[[allow]]"),
        "{message}"
    );
}

/// A pipe the test writes answers into.
fn pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    std::io::pipe().expect("pipe")
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn terminal_approver_shows_the_call_redacted_and_takes_the_answer() {
    let (reader, mut writer) = pipe();
    let shown = Shared::default();
    let approver = TerminalApprover::new(
        Box::new(std::io::BufReader::new(reader)),
        Box::new(shown.clone()),
        Duration::from_secs(5),
    );
    let mut gate = setup(
        "version = 1\n[[ask]]\ncall = \"http.fetch\"\n",
        Arc::new(Grants::in_memory()),
        Arc::new(approver),
    );
    gate.redactor = Arc::new(Redactor::new(["canary-value-123".to_owned()]));
    let answer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        writer.write_all(b"o\n").expect("answer");
    });
    let outcome = run(
        "try { await http.fetch({method: 'POST', url: 'https://api.example.org/x', \
         headers: [{name: 'Authorization', value: 'Bearer abc'}], body: 'canary-value-123'}) } \
         catch (e) { return e.code }",
        &gate,
    );
    answer.join().expect("answer thread");
    // Allowed once; http has no implementation in this build, so it fails after the gate.
    assert_eq!(outcome.result.expect("runs"), "\"failed\"");
    assert_eq!(outcome.calls[0].verdict, Verdict::Approved);
    let prompt = String::from_utf8(shown.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        prompt.contains("http.fetch") && prompt.contains("test.toml:3 [[ask]] http.fetch"),
        "{prompt}"
    );
    assert!(
        prompt.contains("POST https://api.example.org"),
        "the scope is shown: {prompt}"
    );
    assert!(
        !prompt.contains("Bearer abc") && !prompt.contains("canary-value-123"),
        "{prompt}"
    );
}

#[test]
fn terminal_approver_times_out_to_reject() {
    let (reader, _writer) = pipe();
    let approver = TerminalApprover::new(
        Box::new(std::io::BufReader::new(reader)),
        Box::new(Shared::default()),
        Duration::from_millis(200),
    );
    let gate = setup(ASK_LOG, Arc::new(Grants::in_memory()), Arc::new(approver));
    let outcome = run(
        "try { log.writeSync('info', 'a') } catch (e) { return [e.code, e.message] }",
        &gate,
    );
    let value: serde_json::Value =
        serde_json::from_str(&outcome.result.expect("runs")).expect("json");
    assert_eq!(value[0], "denied");
    assert!(
        value[1].as_str().expect("message").contains("no answer"),
        "{value}"
    );
}

#[test]
fn unknown_terminal_answers_reject() {
    let (reader, mut writer) = pipe();
    writer.write_all(b"").expect("nothing");
    let approver = Arc::new(TerminalApprover::new(
        Box::new(std::io::BufReader::new(reader)),
        Box::new(Shared::default()),
        Duration::from_secs(5),
    ));
    let gate = setup(ASK_LOG, Arc::new(Grants::in_memory()), approver);
    let answer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        writer.write_all(b"sure why not\n").expect("answer");
    });
    let outcome = run(
        "try { log.writeSync('info', 'a'); return 'allowed' } catch (e) { return e.code }",
        &gate,
    );
    answer.join().expect("answer thread");
    assert_eq!(outcome.result.expect("runs"), "\"denied\"");
}

#[test]
fn audit_records_every_call_and_never_a_planted_secret() {
    const CANARY: &str = "sk-canary-7f3a9c";
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = Arc::new(AuditLog::open(dir.path()).expect("audit"));
    let mut gate = setup(
        "version = 1\n[[allow]]\ncall = \"log.write\"\n[[allow]]\ncall = \"http.fetch\"\n",
        Arc::new(Grants::in_memory()),
        Arc::new(NonInteractive),
    );
    gate.audit = Some(Arc::clone(&audit));
    gate.redactor = Arc::new(Redactor::new([CANARY.to_owned()]));
    let source = format!(
        "await log.write('info', 'key={CANARY}');
         try {{ await http.fetch({{method: 'GET', url: 'https://x.example/?k={CANARY}',
             headers: [{{name: 'X-Api-Key', value: 'plain'}}, {{name: 'X-{CANARY}', value: '{CANARY}'}}]}}) }} catch (_) {{}}
         try {{ await fs.readText('{CANARY}.txt') }} catch (_) {{}}
         return 1"
    );
    let outcome = run(&source, &gate);
    assert_eq!(outcome.result.expect("runs"), "1");
    let text = std::fs::read_to_string(audit.path()).expect("audit log");
    assert!(
        !text.contains(CANARY),
        "the canary leaked into the audit log:\n{text}"
    );
    assert!(
        !text.contains("plain"),
        "credential headers are redacted:\n{text}"
    );
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    // A `decided` record per call, before it happens; a `completed` record
    // after each call that went ahead.
    let events: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["event"].as_str().expect("event"),
                r["function"].as_str().expect("function"),
                r["decision"].as_str().expect("decision"),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("decided", "log.write", "allow"),
            ("completed", "log.write", "allow"),
            ("decided", "http.fetch", "allow"),
            ("completed", "http.fetch", "allow"),
            ("decided", "fs.read-text", "deny")
        ]
    );
    for record in records.iter().filter(|r| r["event"] == "decided") {
        for field in [
            "time",
            "run",
            "call",
            "script_sha256",
            "rule",
            "fingerprint",
            "args",
        ] {
            assert!(!record[field].is_null(), "{field} missing in {record}");
        }
        assert_eq!(record["run"], records[0]["run"], "one run id per run");
        assert_eq!(record["fingerprint"].as_str().expect("fp").len(), 64);
    }
    for record in records.iter().filter(|r| r["event"] == "completed") {
        for field in [
            "time",
            "run",
            "call",
            "outcome",
            "duration_us",
            "result_bytes",
        ] {
            assert!(!record[field].is_null(), "{field} missing in {record}");
        }
    }
    assert_eq!(
        records[1]["call"], records[0]["call"],
        "a completion names its call"
    );
    assert_eq!(records[4]["rule"], "default-deny");
    assert_eq!(records[4]["outcome"], "denied");
    assert_eq!(records[1]["outcome"], "ok");
    assert_eq!(records[3]["outcome"], "failed");
}

#[test]
fn audit_segments_close_at_their_size_and_stay_under_the_ceiling() {
    use clambot::gate::audit::{AuditLimits, Retention};
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = AuditLimits {
        record_bytes: 1024,
        run_bytes: 64 * 1024,
        retention: Retention {
            segment_bytes: 1200,
            max_age: Duration::from_secs(3600),
            max_total_bytes: 16 * 66 * 1024 + 1200,
        },
    };
    let audit = Arc::new(AuditLog::with_limits(dir.path(), limits).expect("audit"));
    let mut gate = setup(
        "version = 1\n[[allow]]\ncall = \"log.write\"\n",
        Arc::new(Grants::in_memory()),
        Arc::new(NonInteractive),
    );
    gate.audit = Some(audit);
    run(
        "for (let i = 0; i < 20; i++) log.writeSync('info', 'line ' + i)",
        &gate,
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() > 3, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("audit.") && n.ends_with(".jsonl"))
    );
    let mut lines = 0;
    for name in names {
        let text = std::fs::read_to_string(dir.path().join(&name)).expect("read");
        assert!(text.len() <= 1200, "{name} is {} bytes", text.len());
        lines += text.lines().count();
    }
    assert_eq!(lines, 40, "every record of the run is kept");
}

#[test]
fn exhausted_budgets_are_limit_errors_in_javascript() {
    let gate = setup(
        "version = 1\n[run]\nmax-calls = 5\n[[allow]]\ncall = \"log.write\"\nmax-calls = 2\n",
        Arc::new(Grants::in_memory()),
        Arc::new(NonInteractive),
    );
    let outcome = run(
        "const codes = [];
         for (let i = 0; i < 6; i++) { try { log.writeSync('info', 'x'); codes.push('ok') } catch (e) { codes.push(e.code) } }
         return codes",
        &gate,
    );
    assert_eq!(
        outcome.result.expect("runs"),
        r#"["ok","ok","limit","limit","limit","limit"]"#
    );
    let verdicts: Vec<Verdict> = outcome.calls.iter().map(|c| c.verdict).collect();
    assert_eq!(verdicts[2], Verdict::Limit);
}

#[test]
fn a_run_cannot_exceed_the_run_wide_call_budget() {
    let gate = setup(
        "version = 1\n[run]\nmax-calls = 3\n[[allow]]\ncall = \"log.write\"\n",
        Arc::new(Grants::in_memory()),
        Arc::new(NonInteractive),
    );
    let outcome = run(
        "const codes = []; for (let i = 0; i < 5; i++) { try { log.writeSync('info', 'x'); codes.push('ok') } catch (e) { codes.push(e.code + ':' + e.message) } } return codes",
        &gate,
    );
    let codes: Vec<String> = serde_json::from_str(&outcome.result.expect("runs")).expect("json");
    assert_eq!(&codes[..3], ["ok", "ok", "ok"]);
    assert!(
        codes[3].starts_with("limit:") && codes[3].contains("at most 3 host calls"),
        "{codes:?}"
    );
}

/// Answers after a pause, like a person reading the prompt.
#[derive(Debug)]
struct Slow(Duration);

impl Approver for Slow {
    fn approve<'a>(&'a self, _: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        Box::pin(async move {
            tokio::time::sleep(self.0).await;
            Approval::Once
        })
    }
}

#[test]
fn time_waiting_for_a_person_does_not_count_against_the_run() {
    let gate = setup(
        ASK_LOG,
        Arc::new(Grants::in_memory()),
        Arc::new(Slow(Duration::from_millis(600))),
    );
    let mut request = RunRequest::new(
        "let n = 0; for (let i = 0; i < 2e5; i++) n += i; log.writeSync('info', 'x'); \
         for (let i = 0; i < 2e5; i++) n += i; return 'finished'",
    );
    request.gate = gate.clone();
    request.limits.timeout = Duration::from_millis(400);
    let outcome = common::run(&request);
    assert_eq!(
        outcome.result.expect("the approval wait is not run time"),
        "\"finished\""
    );

    // The script's own time still counts after an approval.
    let mut request = RunRequest::new("log.writeSync('info', 'x'); while (true) {}");
    request.gate = gate;
    request.limits.timeout = Duration::from_millis(400);
    let started = std::time::Instant::now();
    let outcome = common::run(&request);
    assert_eq!(
        outcome.result,
        Err(clambot::sandbox::RunError::Timeout(Duration::from_millis(
            400
        )))
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(600 + 400 + 150),
        "stopped after {elapsed:?}"
    );
}

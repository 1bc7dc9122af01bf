//! The gateway against a fake Telegram Bot API on 127.0.0.1: messages and
//! answers, approvals by button, strangers refused, chunking and escaping,
//! uploads, secrets, cron jobs on a controllable clock, and the heartbeat.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clambot::agent::clams::{ClamStore, NewClam};
use clambot::agent::provider::{self, Kind, ProviderConfig, RetryPolicy};
use clambot::agent::turn::{ClamRequest, TurnOutcome, TurnReply, TurnRequest, Turns};
use clambot::agent::{Agent, AgentParts, AgentSettings};
use clambot::gate::redact::Redactor;
use clambot::gate::{BoxFuture, GateSetup};
use clambot::gateway::config::{Access, AllowEntry};
use clambot::gateway::delivery::Delivery;
use clambot::gateway::heartbeat::Heartbeat;
use clambot::gateway::scheduler::{Clock, Scheduler};
use clambot::gateway::telegram::api::BotApi;
use clambot::gateway::telegram::bot::Bot;
use clambot::gateway::telegram::format::{MAX_MESSAGE_CHARS, escape_markdown_v2};
use clambot::gateway::{Deliver, TelegramDelivery};
use clambot::home::Home;
use clambot::jobs::JobBook;
use clambot::policy::Policy;
use clambot::sandbox::{RunRequest, Sandbox, SandboxConfig};
use clambot::state::HostState;
use clambot::store::cron::CronJobs;
use common::telegram_server::{FakeTelegram, TOKEN};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const OWNER: i64 = 42;
const STRANGER: i64 = 666;
const WAIT: Duration = Duration::from_secs(10);

/// A Turns whose chat answers are scripted, and whose turns can also run one
/// real script in the real sandbox under a real policy, with the turn's approver.
#[derive(Debug)]
struct TestTurns {
    replies: Mutex<VecDeque<String>>,
    seen: Mutex<Vec<(String, String)>>,
    gated: Option<(Arc<Sandbox>, Policy, String)>,
}

impl TestTurns {
    fn scripted(replies: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.iter().map(|r| (*r).to_owned()).collect()),
            seen: Mutex::new(Vec::new()),
            gated: None,
        })
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Turns for TestTurns {
    fn turn(&self, request: TurnRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        Box::pin(async move {
            self.seen
                .lock()
                .expect("lock")
                .push((request.session.clone(), request.message.clone()));
            if request.message == "panic please" {
                panic!("a bug in one turn");
            }
            let text = match &self.gated {
                Some((sandbox, policy, script)) => {
                    let mut gate = GateSetup::with_policy(policy.clone());
                    gate.approver = request.approver.clone();
                    gate.redactor = Arc::new(Redactor::default());
                    let mut run = RunRequest::new(script.clone());
                    run.gate = gate;
                    match sandbox.run(&run).await.result {
                        Ok(json) => format!("result {json}"),
                        Err(error) => format!("failed: {error}"),
                    }
                }
                None => self
                    .replies
                    .lock()
                    .expect("lock")
                    .pop_front()
                    .unwrap_or_default(),
            };
            Ok(TurnReply {
                text,
                outcome: TurnOutcome::Chat,
                denied: Vec::new(),
            })
        })
    }

    fn run_clam(&self, _request: ClamRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        Box::pin(async { anyhow::bail!("no clams here") })
    }

    fn new_session(&self, session: &str) -> anyhow::Result<()> {
        self.seen
            .lock()
            .expect("lock")
            .push((session.to_owned(), "/new".to_owned()));
        Ok(())
    }
}

struct Running {
    _dir: tempfile::TempDir,
    telegram: FakeTelegram,
    state: HostState,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn start_bot(turns: Arc<dyn Turns>, runtime: &tokio::runtime::Runtime) -> Running {
    start_bot_with(turns, runtime, Duration::from_secs(5))
}

fn start_bot_with(
    turns: Arc<dyn Turns>,
    runtime: &tokio::runtime::Runtime,
    approval_timeout: Duration,
) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = HostState::open(Home::at(dir.path().join("home"))).expect("state");
    let telegram = FakeTelegram::start();
    let api = BotApi::new(&telegram.url(), TOKEN).expect("api");
    let bot = Arc::new(Bot::new(
        api,
        turns,
        state.clone(),
        Access::new(&[
            AllowEntry::Id(OWNER),
            AllowEntry::Username("@friend".into()),
        ]),
        Some(OWNER),
        1024,
        approval_timeout,
        TaskTracker::new(),
        CancellationToken::new(),
    ));
    let stop = CancellationToken::new();
    runtime.spawn(bot.run(stop.clone()));
    Running {
        _dir: dir,
        telegram,
        state,
        stop,
    }
}

#[test]
fn a_message_gets_an_answer_with_typing_and_a_status_message() {
    let runtime = common::runtime();
    let turns = TestTurns::scripted(&["Hello *you* (1.5)!"]);
    let bot = start_bot(turns.clone(), &runtime);
    bot.telegram.message(OWNER, OWNER, "owner", "hi there");
    bot.telegram
        .wait_until("the answer", WAIT, |t| t.texts_to(OWNER).len() >= 2);
    assert_eq!(
        turns.seen(),
        [("telegram:42".to_owned(), "hi there".to_owned())]
    );
    let sent = bot.telegram.calls("sendMessage");
    assert_eq!(sent[0]["text"], "… thinking", "a status message first");
    assert_eq!(sent[1]["parse_mode"], "MarkdownV2");
    assert_eq!(sent[1]["text"], "Hello \\*you\\* \\(1\\.5\\)\\!");
    assert_eq!(
        bot.telegram.messages_allowing_link_previews(),
        Vec::<serde_json::Value>::new()
    );
    assert!(
        !bot.telegram.calls("sendChatAction").is_empty(),
        "typing indicator"
    );
    assert_eq!(bot.telegram.calls("sendChatAction")[0]["action"], "typing");
    bot.telegram
        .wait_until("the status message goes", WAIT, |t| {
            !t.calls("deleteMessage").is_empty()
        });
    // A username in allow-from works too.
    bot.telegram.message(7, 7, "friend", "/new");
    bot.telegram
        .wait_until("the /new reply", WAIT, |t| !t.texts_to(7).is_empty());
    assert!(
        turns
            .seen()
            .contains(&("telegram:7".to_owned(), "/new".to_owned()))
    );
}

#[test]
fn strangers_messages_and_button_presses_are_refused() {
    let runtime = common::runtime();
    let turns = TestTurns::scripted(&[]);
    let bot = start_bot(turns.clone(), &runtime);
    bot.telegram
        .message(STRANGER, STRANGER, "mallory", "do something");
    bot.telegram
        .press(STRANGER, STRANGER, "mallory", "ap:0123456789abcdef:always");
    bot.telegram.wait_until("the refusals", WAIT, |t| {
        !t.texts_to(STRANGER).is_empty() && !t.calls("answerCallbackQuery").is_empty()
    });
    assert!(turns.seen().is_empty(), "the agent never saw the stranger");
    assert_eq!(
        bot.telegram.texts_to(STRANGER),
        ["Sorry, this bot is private."]
    );
    assert_eq!(
        bot.telegram.calls("answerCallbackQuery")[0]["text"],
        "You are not allowed to use this bot."
    );
}

#[test]
fn approval_by_button_and_a_strangers_press_decides_nothing() {
    let runtime = common::runtime();
    let sandbox = Arc::new(
        Sandbox::new(&SandboxConfig {
            cache_dir: Some(common::cache_dir()),
            max_concurrent_runs: 4,
        })
        .expect("sandbox"),
    );
    let policy =
        Policy::parse("p.toml", "version = 1\n[[ask]]\ncall = \"log.write\"\n").expect("policy");
    let turns = Arc::new(TestTurns {
        replies: Mutex::new(VecDeque::new()),
        seen: Mutex::new(Vec::new()),
        gated: Some((
            sandbox,
            policy,
            "await log.write('info', 'hello'); return 'logged'".into(),
        )),
    });
    let bot = start_bot(turns, &runtime);
    bot.telegram.message(OWNER, OWNER, "owner", "log something");
    bot.telegram.wait_until("the question", WAIT, |t| {
        t.calls("sendMessage")
            .iter()
            .any(|m| m.get("reply_markup").is_some())
    });
    let question = bot
        .telegram
        .calls("sendMessage")
        .into_iter()
        .find(|m| m.get("reply_markup").is_some())
        .expect("asked");
    assert!(
        question["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Approve log.write?")
    );
    let buttons: Vec<String> = question["reply_markup"]["inline_keyboard"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|row| row.as_array().expect("row").iter())
        .map(|b| b["callback_data"].as_str().expect("data").to_owned())
        .collect();
    assert_eq!(buttons.len(), 3);
    assert!(buttons.iter().all(|b| b.len() <= 64));
    let once = buttons.iter().find(|b| b.ends_with(":once")).expect("once");

    // Someone else in the allow list presses first: refused, still pending.
    bot.telegram.press(OWNER, 7, "friend", once);
    // An unknown id is refused too.
    bot.telegram
        .press(OWNER, OWNER, "owner", "ap:ffffffffffffffff:once");
    bot.telegram.wait_until("two refusals", WAIT, |t| {
        t.calls("answerCallbackQuery").len() >= 2
    });
    let answers = bot.telegram.calls("answerCallbackQuery");
    assert_eq!(
        answers[0]["text"],
        "Only the person who was asked can answer this."
    );
    assert_eq!(
        answers[1]["text"],
        "This question has expired or was already answered."
    );
    assert!(
        !bot.telegram
            .texts_to(OWNER)
            .iter()
            .any(|t| t.contains("logged"))
    );

    bot.telegram.press(OWNER, OWNER, "owner", once);
    bot.telegram.wait_until("the result", WAIT, |t| {
        t.texts_to(OWNER).iter().any(|m| m.contains("logged"))
    });
    assert_eq!(
        bot.telegram.calls("answerCallbackQuery")[2]["text"],
        "Allowed once."
    );
    // The question was edited to show the decision.
    assert!(bot.telegram.calls("editMessageText").iter().any(|e| {
        e["text"]
            .as_str()
            .unwrap_or_default()
            .contains("log.write — allowed")
    }));
    // Neither the question nor its edit lets Telegram preview a link.
    assert_eq!(
        bot.telegram.messages_allowing_link_previews(),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn long_replies_are_chunked_and_fall_back_to_plain_text() {
    let runtime = common::runtime();
    let long: String = (0..900)
        .map(|i| format!("line {i}: a.b-c (d)!\n"))
        .collect();
    let turns = TestTurns::scripted(&[&long, "plain fallback: #1"]);
    let bot = start_bot(turns, &runtime);
    bot.telegram.message(OWNER, OWNER, "owner", "long please");
    bot.telegram.wait_until("all chunks", WAIT, |t| {
        t.texts_to(OWNER).iter().any(|m| m.contains("line 899"))
    });
    let chunks: Vec<String> = bot.telegram.texts_to(OWNER)[1..].to_vec();
    assert!(chunks.len() >= 5, "{} chunks", chunks.len());
    for chunk in &chunks {
        assert!(chunk.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(
            chunk.ends_with("\\!"),
            "split at line ends: {:?}",
            &chunk[chunk.len() - 20..]
        );
    }
    let joined: String = chunks.join("\n");
    assert_eq!(joined, escape_markdown_v2(long.trim_end()));

    bot.telegram.refuse_markdown_with("fallback");
    bot.telegram.message(OWNER, OWNER, "owner", "again");
    bot.telegram.wait_until("the plain text", WAIT, |t| {
        t.texts_to(OWNER).iter().any(|m| m == "plain fallback: #1")
    });
}

#[test]
fn a_turn_that_panics_is_reported_and_the_bot_keeps_serving() {
    let runtime = common::runtime();
    let turns = TestTurns::scripted(&["still here"]);
    let bot = start_bot(turns, &runtime);
    bot.telegram.message(OWNER, OWNER, "owner", "panic please");
    bot.telegram.wait_until("the report", WAIT, |t| {
        t.texts_to(OWNER)
            .iter()
            .any(|m| m.contains("internal error"))
    });
    bot.telegram.message(OWNER, OWNER, "owner", "are you ok?");
    bot.telegram.wait_until("the next answer", WAIT, |t| {
        t.texts_to(OWNER).iter().any(|m| m.contains("still here"))
    });
}

#[test]
fn uploads_land_in_the_workspace_and_secrets_are_deleted_from_the_chat() {
    let runtime = common::runtime();
    let turns = TestTurns::scripted(&["got it"]);
    let bot = start_bot(turns.clone(), &runtime);
    bot.telegram
        .document(OWNER, OWNER, "../notes.txt", b"file body", "summarise this");
    bot.telegram.wait_until("the answer", WAIT, |t| {
        t.texts_to(OWNER).iter().any(|m| m.contains("got it"))
    });
    let saved = bot.state.workspace.join("uploads/_notes.txt");
    assert_eq!(std::fs::read(&saved).expect("saved"), b"file body");
    let (_, message) = turns.seen()[0].clone();
    assert!(message.starts_with("summarise this"), "{message}");
    assert!(
        message.contains("uploads/_notes.txt (9 bytes)"),
        "{message}"
    );

    // Over the upload limit (1 KiB here): refused, nothing saved.
    bot.telegram
        .document(OWNER, OWNER, "big.bin", &[0u8; 4096], "");
    bot.telegram.wait_until("the refusal", WAIT, |t| {
        t.texts_to(OWNER).iter().any(|m| m.contains("upload limit"))
    });
    assert!(!bot.state.workspace.join("uploads/big.bin").exists());

    // Someone else on the allow list may chat, but not touch secrets or approvals.
    bot.telegram.message(7, 7, "friend", "/secret weather_key");
    bot.telegram.message(7, 7, "friend", "/revoke abc");
    bot.telegram.wait_until("two refusals", WAIT, |t| {
        t.texts_to(7)
            .iter()
            .filter(|m| m.contains("Only the owner"))
            .count()
            == 2
    });

    bot.telegram
        .message(OWNER, OWNER, "owner", "/secret weather_key");
    bot.telegram.wait_until("the prompt", WAIT, |t| {
        t.texts_to(OWNER)
            .iter()
            .any(|m| m.contains("weather\\_key as your next message"))
    });
    bot.telegram.message(OWNER, OWNER, "owner", "s3cr3t-value");
    bot.telegram.wait_until("stored", WAIT, |t| {
        t.texts_to(OWNER)
            .iter()
            .any(|m| m.contains("Stored weather\\_key"))
    });
    assert_eq!(
        bot.state
            .secrets
            .get("weather_key")
            .expect("read")
            .map(|v| v.expose().to_owned()),
        Some("s3cr3t-value".to_owned())
    );
    assert_eq!(
        bot.telegram.calls("deleteMessage").last().expect("deleted")["message_id"],
        1
    );
    assert_eq!(turns.seen().len(), 1, "the value never reached the agent");
    assert!(
        bot.state
            .secrets
            .get("weather_key")
            .is_ok_and(|v| v.is_some()),
        "set by the owner"
    );
    assert!(
        !bot.telegram
            .texts_to(OWNER)
            .iter()
            .any(|m| m.contains("s3cr3t"))
    );
}

#[derive(Debug)]
struct ManualClock(Mutex<DateTime<Utc>>);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("lock")
    }
}

impl ManualClock {
    fn advance(&self, by: TimeDelta) {
        *self.0.lock().expect("lock") += by;
    }
}

/// The real agent (its model is never asked: cron clam jobs need none).
fn real_agent(dir: &std::path::Path, policy: &str) -> (Agent, HostState) {
    let state = HostState::open(Home::at(dir.join("home"))).expect("state");
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
    let sandbox = common::sandbox_with(state.implementations().expect("tools"), 4);
    let agent = Agent::new(AgentParts {
        provider: Arc::from(provider),
        sandbox: Arc::new(sandbox),
        state: state.clone(),
        policy: Policy::parse("policy.toml", policy).expect("policy"),
        clams: ClamStore::new(dir.join("home/clams"), vec![]),
        settings: AgentSettings::default(),
        js_api: String::new(),
    })
    .expect("agent");
    (agent, state)
}

#[test]
fn cron_jobs_fire_on_the_clock_through_the_gate_and_report_denials() {
    let runtime = common::runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, state) = real_agent(dir.path(), "version = 1\n");
    for (name, script) in [
        (
            "sum",
            "async function run(args) { return args.a + args.b; }",
        ),
        (
            "peek",
            "async function run(args) { const r = await http.fetch({method: 'GET', url: 'https://metadata.example/x', headers: []}); return r.status; }",
        ),
    ] {
        agent
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
    let start: DateTime<Utc> = "2026-11-22T08:59:30Z".parse().expect("time");
    let cron = JobBook::new(Arc::clone(&state.store));
    for (name, clam, args) in [
        ("daily sum", "sum", r#"{"a": 2, "b": 3}"#),
        ("peek", "peek", "{}"),
    ] {
        cron.add(
            &json!({"name": name, "schedule": {"cron": {"expr": "0 9 * * *", "timezone": "UTC"}},
                    "action": {"clam": {"clam": clam, "args-json": args}}, "once": false}),
            None,
            clambot::store::cron::Origin::Owner,
            start,
        )
        .expect("job");
    }
    let telegram = FakeTelegram::start();
    let clock = Arc::new(ManualClock(Mutex::new(start)));
    let scheduler = Scheduler {
        jobs: CronJobs::new(Arc::clone(&state.store)),
        turns: Arc::new(agent),
        deliver: Arc::new(TelegramDelivery {
            delivery: Delivery::new(
                BotApi::new(&telegram.url(), TOKEN).expect("api"),
                Arc::clone(&state.store),
            ),
            owner_chat: Some(OWNER),
        }) as Arc<dyn Deliver>,
        clock: clock.clone(),
        cancel: CancellationToken::new(),
    };
    assert_eq!(
        runtime.block_on(scheduler.tick()).expect("tick"),
        0,
        "not yet 09:00"
    );
    clock.advance(TimeDelta::seconds(45));
    assert_eq!(runtime.block_on(scheduler.tick()).expect("tick"), 2);
    assert_eq!(
        runtime.block_on(scheduler.tick()).expect("tick"),
        0,
        "once per time"
    );
    let texts = telegram.texts_to(OWNER).join("\n---\n");
    assert!(texts.contains("Job daily sum:\n5"), "{texts}");
    assert!(texts.contains("Job peek:"), "{texts}");
    assert!(
        texts.contains("policy denied \\`http\\.fetch\\`"),
        "{texts}"
    );
    assert!(texts.contains("\\[\\[allow\\]\\]"), "{texts}");

    // Three days down: each job runs once, late, then follows its schedule.
    clock.advance(TimeDelta::days(3));
    assert_eq!(runtime.block_on(scheduler.tick()).expect("tick"), 2);
    assert_eq!(runtime.block_on(scheduler.tick()).expect("tick"), 0);
    assert!(
        telegram
            .texts_to(OWNER)
            .iter()
            .any(|t| t.contains("ran late"))
    );
    let next = CronJobs::new(Arc::clone(&state.store))
        .list()
        .expect("jobs")[0]
        .next_run_ms
        .expect("next");
    assert!(next as i64 > clock.now().timestamp_millis());
}

#[test]
fn heartbeat_asks_the_agent_only_when_something_is_open() {
    let runtime = common::runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let turns = TestTurns::scripted(&["Watered the plants."]);
    #[derive(Debug, Default)]
    struct Recorded(Mutex<Vec<String>>);
    impl Deliver for Recorded {
        fn deliver<'a>(&'a self, _channel: Option<&'a str>, text: &'a str) -> BoxFuture<'a, ()> {
            self.0.lock().expect("lock").push(text.to_owned());
            Box::pin(async {})
        }
    }
    let delivered = Arc::new(Recorded::default());
    let heartbeat = Heartbeat {
        workspace: dir.path().to_owned(),
        turns: turns.clone(),
        deliver: delivered.clone(),
        cancel: CancellationToken::new(),
    };
    assert!(!runtime.block_on(heartbeat.beat()).expect("no file"));
    std::fs::write(
        dir.path().join("HEARTBEAT.md"),
        "# Heartbeat\n\n> Add tasks below.\n\n- [ ]\n- [x] done\n",
    )
    .expect("write");
    assert!(!runtime.block_on(heartbeat.beat()).expect("nothing open"));
    assert!(
        turns.seen().is_empty(),
        "no model call without actionable items"
    );
    std::fs::write(
        dir.path().join("HEARTBEAT.md"),
        "# Heartbeat\n- [ ] water the plants\n- [x] done\n",
    )
    .expect("write");
    assert!(runtime.block_on(heartbeat.beat()).expect("beat"));
    let seen = turns.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "heartbeat");
    assert!(seen[0].1.contains("- water the plants") && !seen[0].1.contains("- done"));
    assert_eq!(
        delivered.0.lock().expect("lock").clone(),
        ["Heartbeat:\nWatered the plants."]
    );
    // A file grown past the limit is refused, not read: no turn.
    let huge = format!("- [ ] {}\n", "x".repeat(70 * 1024));
    std::fs::write(dir.path().join("HEARTBEAT.md"), huge).expect("write");
    let error = runtime.block_on(heartbeat.beat()).expect_err("too big");
    assert!(
        error.to_string().contains("more than the heartbeat reads"),
        "{error}"
    );
    assert_eq!(turns.seen().len(), 1, "no second turn");
}

#[test]
fn an_unanswered_approval_times_out_to_a_rejection() {
    let runtime = common::runtime();
    let sandbox = Arc::new(
        Sandbox::new(&SandboxConfig {
            cache_dir: Some(common::cache_dir()),
            max_concurrent_runs: 4,
        })
        .expect("sandbox"),
    );
    let policy =
        Policy::parse("p.toml", "version = 1\n[[ask]]\ncall = \"log.write\"\n").expect("policy");
    let turns = Arc::new(TestTurns {
        replies: Mutex::new(VecDeque::new()),
        seen: Mutex::new(Vec::new()),
        gated: Some((
            sandbox,
            policy,
            "await log.write('info', 'x'); return 'logged'".into(),
        )),
    });
    let bot = start_bot_with(turns, &runtime, Duration::from_millis(300));
    bot.telegram.message(OWNER, OWNER, "owner", "log it");
    bot.telegram.wait_until("the rejection", WAIT, |t| {
        t.texts_to(OWNER).iter().any(|m| m.contains("failed"))
    });
    let answer = bot.telegram.texts_to(OWNER).join("\n");
    assert!(
        answer.contains("denied") && answer.contains("no answer in chat"),
        "{answer}"
    );
    assert!(!answer.contains("logged"));
    // A press after the timeout decides nothing.
    let question = bot
        .telegram
        .calls("sendMessage")
        .into_iter()
        .find(|m| m.get("reply_markup").is_some())
        .expect("asked");
    let data = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .expect("data")
        .to_owned();
    bot.telegram.press(OWNER, OWNER, "owner", &data);
    bot.telegram.wait_until("the refusal", WAIT, |t| {
        !t.calls("answerCallbackQuery").is_empty()
    });
    assert_eq!(
        bot.telegram.calls("answerCallbackQuery")[0]["text"],
        "This question has expired or was already answered."
    );
}

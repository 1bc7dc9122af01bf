//! Gateway delivery through Telegram's faults, against the third-party Bot API
//! emulator (npm `telegram-test-api`) behind a fault-injecting proxy of our
//! own, all on 127.0.0.1: every message is answered exactly once — through
//! 5xx, 429, refused formatting, dropped connections and a restart — status
//! messages are cleaned up, a malformed update blocks nothing, a redelivered
//! update is not answered again, and code blocks keep their formatting in every
//! piece of a long answer.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clambot::agent::turn::{ClamRequest, TurnOutcome, TurnReply, TurnRequest, Turns};
use clambot::gate::BoxFuture;
use clambot::gateway::config::{Access, AllowEntry};
use clambot::gateway::delivery::RetryPolicy;
use clambot::gateway::telegram::api::{BotApi, decode_updates};
use clambot::gateway::telegram::bot::Bot;
use clambot::gateway::telegram::format::{MAX_MESSAGE_CHARS, telegram_len};
use clambot::home::Home;
use clambot::state::HostState;
use clambot::store::telegram::Outbox;
use common::fault_proxy::{Fault, FaultProxy, Rule};
use common::telegram_emulator::Emulator;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const TOKEN: &str = "123456:TEST-token-value";
const OWNER: i64 = 42;
const WAIT: Duration = Duration::from_secs(20);

/// Retries quick enough for tests, with the same shape as in production.
const POLICY: RetryPolicy = RetryPolicy {
    first_delay: Duration::from_millis(50),
    max_delay: Duration::from_millis(500),
    total: Duration::from_secs(6),
    retry_unknown: true,
};

/// Answers "You said: <message>." at once; "slow …" after 1.5 s; "code" with a
/// long fenced code block.
#[derive(Debug, Default)]
struct EchoTurns {
    seen: Mutex<Vec<String>>,
}

impl EchoTurns {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Turns for EchoTurns {
    fn turn(&self, request: TurnRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        Box::pin(async move {
            self.seen
                .lock()
                .expect("lock")
                .push(request.message.clone());
            if request.message.starts_with("slow") {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let text = if request.message == "code" {
                let body: String = (0..600)
                    .map(|i| format!("let value_{i} = a[`{i}`] * 2; // {}\n", "x".repeat(i % 7)))
                    .collect();
                format!("Here it is:\n\n```rust\n{body}```\n\nDone.")
            } else {
                format!("You said: {}.", request.message)
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

    fn new_session(&self, _session: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A running gateway (bot loop and outbox flusher) on its own runtime; dropping
/// it is a hard stop, as a crash or a kill would be.
struct Gateway {
    state: HostState,
    runtime: Option<tokio::runtime::Runtime>,
    stop: CancellationToken,
}

impl Gateway {
    fn start(home: &Path, api_url: &str, turns: Arc<EchoTurns>) -> Self {
        let runtime = common::runtime();
        let state = HostState::open(Home::at(home.to_owned())).expect("state");
        let bot = Bot::new(
            BotApi::new(api_url, TOKEN).expect("api"),
            turns,
            state.clone(),
            Access::new(&[AllowEntry::Id(OWNER)]),
            Some(OWNER),
            1024,
            Duration::from_secs(5),
            TaskTracker::new(),
            CancellationToken::new(),
        )
        .with_retry_policy(POLICY);
        let bot = Arc::new(bot);
        let stop = CancellationToken::new();
        runtime.spawn(
            bot.delivery
                .clone()
                .run(Duration::from_millis(300), stop.clone()),
        );
        runtime.spawn(bot.run(stop.clone()));
        Self {
            state,
            runtime: Some(runtime),
            stop,
        }
    }

    fn outbox(&self) -> Outbox {
        Outbox::new(Arc::clone(&self.state.store))
    }

    fn kill(mut self) {
        self.stop.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn wait_until(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

struct Setup {
    dir: tempfile::TempDir,
    emulator: Emulator,
    proxy: FaultProxy,
    turns: Arc<EchoTurns>,
}

impl Setup {
    fn new() -> Self {
        let emulator = Emulator::start();
        let proxy = FaultProxy::start(emulator.addr);
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            emulator,
            proxy,
            turns: Arc::new(EchoTurns::default()),
        }
    }

    fn gateway(&self) -> Gateway {
        Gateway::start(
            &self.dir.path().join("home"),
            &self.proxy.url(),
            Arc::clone(&self.turns),
        )
    }

    fn say(&self, text: &str) {
        self.emulator.message(TOKEN, OWNER, "owner", text);
    }

    fn texts(&self) -> Vec<String> {
        self.emulator.bot_texts(TOKEN, OWNER)
    }

    /// The bot's messages (as they stand) whose text contains `needle`.
    fn with(&self, needle: &str) -> Vec<serde_json::Value> {
        self.emulator
            .bot_messages(TOKEN, OWNER)
            .into_iter()
            .filter(|m| m["text"].as_str().unwrap_or_default().contains(needle))
            .collect()
    }

    fn no_status_left(&self) -> bool {
        !self.texts().iter().any(|t| t.starts_with('…'))
    }
}

#[test]
fn a_good_day_answers_once_in_markdown_and_removes_the_status_message() {
    let setup = Setup::new();
    let _gateway = setup.gateway();
    setup.say("hello");
    wait_until("the answer", WAIT, || !setup.with("You said").is_empty());
    wait_until("the status message goes", WAIT, || setup.no_status_left());
    let answers = setup.with("You said");
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["text"], "You said: hello\\.");
    assert_eq!(answers[0]["parse_mode"], "MarkdownV2");
    assert_eq!(answers[0]["link_preview_options"]["is_disabled"], true);
    assert!(
        !setup.proxy.passed("sendMessage").is_empty()
            && setup.proxy.passed("deleteMessage").len() == 1,
        "one status message, deleted once"
    );
}

#[test]
fn three_seconds_of_500s_delay_the_answer_and_lose_nothing() {
    let setup = Setup::new();
    let _gateway = setup.gateway();
    setup.proxy.add(
        Rule::new("sendMessage", Fault::server_error(500))
            .containing("You said")
            .for_duration(Duration::from_secs(3)),
    );
    let sent = Instant::now();
    setup.say("through the storm");
    wait_until("the answer", WAIT, || !setup.with("You said").is_empty());
    assert!(sent.elapsed() >= Duration::from_secs(3) - Duration::from_millis(200));
    wait_until("the status message goes", WAIT, || setup.no_status_left());
    assert_eq!(setup.with("You said").len(), 1);
    wait_until("the proxy's record of the send", WAIT, || {
        setup.proxy.passed("sendMessage").iter().any(|p| {
            p.status == 200
                && p.body["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("You said")
        })
    });
    let failed = setup
        .proxy
        .passed("sendMessage")
        .iter()
        .filter(|p| p.status == 500)
        .count();
    assert!(failed >= 4, "retried with backoff: {failed} failures");
    // The waits grew (exponential backoff), within the policy's maximum plus jitter.
    let times: Vec<Instant> = setup
        .proxy
        .passed("sendMessage")
        .iter()
        .filter(|p| {
            p.body["text"]
                .as_str()
                .unwrap_or_default()
                .contains("You said")
        })
        .map(|p| p.at)
        .collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.last() > gaps.first(), "{gaps:?}");
    assert!(
        gaps.iter()
            .all(|g| *g <= POLICY.max_delay + Duration::from_secs(1)),
        "{gaps:?}"
    );
}

#[test]
fn a_429_is_waited_out_for_its_retry_after() {
    let setup = Setup::new();
    let _gateway = setup.gateway();
    setup.proxy.add(
        Rule::new("sendMessage", Fault::rate_limited(2))
            .containing("You said")
            .times(1),
    );
    setup.say("slowly now");
    wait_until("the answer", WAIT, || !setup.with("You said").is_empty());
    let attempts = || -> Vec<_> {
        setup
            .proxy
            .passed("sendMessage")
            .into_iter()
            .filter(|p| {
                p.body["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("You said")
            })
            .collect()
    };
    // The proxy records a forwarded call once the emulator has answered it.
    wait_until("the proxy's record", WAIT, || attempts().len() >= 2);
    let attempts = attempts();
    assert_eq!(attempts.len(), 2, "one 429, then the send");
    assert_eq!(attempts[0].status, 429);
    assert!(attempts[1].at - attempts[0].at >= Duration::from_secs(2));
    assert_eq!(setup.with("You said").len(), 1);
}

#[test]
fn a_502_after_delivery_is_never_followed_by_a_plain_copy() {
    let setup = Setup::new();
    let _gateway = setup.gateway();
    setup.proxy.add(
        Rule::new("sendMessage", Fault::delivered_then(502))
            .containing("You said")
            .times(1),
    );
    setup.proxy.add(
        Rule::new("sendMessage", Fault::ForwardThenDrop)
            .containing("a dropped answer")
            .times(1),
    );
    setup.say("was it sent?");
    setup.say("a dropped answer");
    wait_until("both answers", WAIT, || {
        !setup.with("was it sent").is_empty() && !setup.with("a dropped answer").is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    // The outcome was unknown, so only the same MarkdownV2 message was sent
    // again; never a plain-text copy of it.
    for answer in setup.with("You said") {
        assert_eq!(answer["parse_mode"], "MarkdownV2", "{answer}");
    }
    assert!(setup.with("was it sent").len() <= 2);
    assert!(setup.with("a dropped answer").len() <= 2);
    wait_until("the status messages go", WAIT, || setup.no_status_left());
}

#[test]
fn refused_formatting_falls_back_to_plain_text_once() {
    let setup = Setup::new();
    let _gateway = setup.gateway();
    setup.proxy.add(
        Rule::new("sendMessage", Fault::cant_parse_entities())
            .containing("You said")
            .markdown(true),
    );
    setup.say("odd *markup*");
    wait_until("the plain answer", WAIT, || {
        !setup.with("You said").is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let answers = setup.with("You said");
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["text"], "You said: odd *markup*.");
    assert!(answers[0].get("parse_mode").is_none());
}

#[test]
fn an_answer_kept_while_telegram_is_down_is_delivered_after_a_restart() {
    let setup = Setup::new();
    let gateway = setup.gateway();
    setup.say("slow work");
    wait_until("the status message", WAIT, || {
        setup.texts().iter().any(|t| t == "… thinking")
    });
    // The connection drops mid-turn and stays down past the retry budget.
    setup.proxy.down();
    wait_until("the answer kept in the outbox", WAIT, || {
        gateway.outbox().len().unwrap_or(0) == 2
    });
    assert!(setup.with("You said").is_empty());
    gateway.kill();
    setup.proxy.up();
    let restarted = setup.gateway();
    wait_until("the answer after the restart", WAIT, || {
        !setup.with("You said").is_empty()
    });
    wait_until("the status message goes", WAIT, || setup.no_status_left());
    wait_until("the outbox empties", WAIT, || {
        restarted.outbox().is_empty().unwrap_or(false)
    });
    assert_eq!(setup.with("You said: slow work").len(), 1);
    assert_eq!(setup.turns.seen(), ["slow work"], "one turn, not two");
}

#[test]
fn a_turn_cut_short_by_a_kill_is_reported_and_its_status_removed_after_the_restart() {
    let setup = Setup::new();
    let gateway = setup.gateway();
    setup.say("slow and doomed");
    wait_until("the status message", WAIT, || {
        setup.texts().iter().any(|t| t == "… thinking")
    });
    gateway.kill();
    let _restarted = setup.gateway();
    wait_until("the notice", WAIT, || {
        !setup.with("I was stopped").is_empty()
    });
    wait_until("the status message goes", WAIT, || setup.no_status_left());
    assert_eq!(setup.with("I was stopped").len(), 1);
    assert!(
        setup.with("You said").is_empty(),
        "the cut turn is not run again"
    );
    assert_eq!(setup.turns.seen(), ["slow and doomed"]);
}

#[test]
fn a_malformed_update_is_skipped_and_the_offset_moves_past_it() {
    let setup = Setup::new();
    let _gateway = setup.gateway();
    setup.proxy.inject_update(json!({
        "update_id": 700,
        "message": {"message_id": "not a number", "chat": 5, "text": {"token": "s3cr3t"}}
    }));
    setup
        .proxy
        .inject_update(json!({"update_id": "701", "message": "garbage"}));
    setup.proxy.inject_update(json!({"no_id": true}));
    setup.say("after the bad ones");
    wait_until("the answer", WAIT, || {
        !setup.with("after the bad ones").is_empty()
    });
    wait_until("a poll past the bad updates", WAIT, || {
        setup
            .proxy
            .passed("getUpdates")
            .iter()
            .any(|p| p.body["offset"].as_i64().unwrap_or(0) >= 702)
    });
    setup.say("and the next");
    wait_until("the next answer", WAIT, || {
        !setup.with("and the next").is_empty()
    });
    assert_eq!(setup.turns.seen(), ["after the bad ones", "and the next"]);
}

#[test]
fn unreadable_updates_are_described_without_their_content() {
    let polled = decode_updates(vec![
        json!({"update_id": 5, "message": {"message_id": 1, "chat": {"id": "s3cr3t-chat"}, "text": "s3cr3t"}}),
        json!({"update_id": 6, "message": {"message_id": 2, "chat": {"id": 1}, "text": "fine"}}),
        json!("s3cr3t string"),
        json!({"update_id": 9, "callback_query": {"id": 1, "from": {"id": "s3cr3t"}}}),
    ]);
    assert_eq!(polled.updates.len(), 1);
    assert_eq!(polled.updates[0].update_id, 6);
    assert_eq!(
        polled.next_offset,
        Some(10),
        "past every id, readable or not"
    );
    assert_eq!(polled.skipped.len(), 3, "{:?}", polled.skipped);
    for described in &polled.skipped {
        assert!(!described.contains("s3cr3t"), "{described}");
    }
    assert!(
        polled.skipped[0].starts_with("update 5 (") && polled.skipped[0].contains("message"),
        "{:?}",
        polled.skipped
    );
}

#[test]
fn a_redelivered_update_is_not_answered_again_even_after_a_restart() {
    let setup = Setup::new();
    let gateway = setup.gateway();
    setup.say("only once");
    wait_until("the answer", WAIT, || !setup.with("only once").is_empty());
    setup.proxy.replay_last_batch();
    let polls = setup.proxy.passed("getUpdates").len();
    wait_until("the replay is polled", WAIT, || {
        setup.proxy.passed("getUpdates").len() > polls + 3
    });
    gateway.kill();
    setup.proxy.replay_last_batch();
    let restarted = setup.gateway();
    let polls = setup.proxy.passed("getUpdates").len();
    wait_until("the replay is polled after the restart", WAIT, || {
        setup.proxy.passed("getUpdates").len() > polls + 3
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(setup.with("only once").len(), 1);
    assert_eq!(setup.turns.seen(), ["only once"]);
    drop(restarted);
}

#[test]
fn a_long_code_answer_keeps_its_formatting_in_every_piece() {
    let setup = Setup::new();
    let _gateway = setup.gateway();
    setup.say("code");
    wait_until("the last piece", WAIT, || !setup.with("Done").is_empty());
    let pieces: Vec<String> = setup
        .texts()
        .into_iter()
        .filter(|t| !t.starts_with('…'))
        .collect();
    assert!(pieces.len() >= 4, "{} pieces", pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        assert!(telegram_len(piece) <= MAX_MESSAGE_CHARS, "piece {i}");
        let fences = piece.lines().filter(|l| l.starts_with("```")).count();
        assert_eq!(fences % 2, 0, "piece {i} is balanced");
        if i > 0 && i + 1 < pieces.len() {
            assert!(
                piece.starts_with("```rust\n") && piece.ends_with("\n```"),
                "piece {i}"
            );
        }
    }
    assert!(
        pieces[0].starts_with("Here it is:\n\n```rust\nlet value_0"),
        "{}",
        &pieces[0][..40]
    );
    let code_lines = pieces
        .iter()
        .flat_map(|p| p.lines())
        .filter(|l| l.starts_with("let value_"))
        .count();
    assert_eq!(code_lines, 600, "no code line lost");
}

/// The fake Bot API (the emulator has no `sendMessageDraft`).
#[test]
fn phases_stream_as_a_draft_where_telegram_takes_drafts_else_a_status_message() {
    use common::telegram_server::FakeTelegram;
    for drafts in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let telegram = FakeTelegram::start();
        if drafts {
            telegram.accept_drafts();
        }
        let turns = Arc::new(EchoTurns::default());
        let gateway = Gateway::start(&dir.path().join("home"), &telegram.url(), turns);
        telegram.message(OWNER, OWNER, "owner", "slow draft");
        telegram.wait_until("the answer", WAIT, |t| {
            t.texts_to(OWNER).iter().any(|m| m.contains("You said"))
        });
        let draft_calls = telegram.calls("sendMessageDraft");
        assert!(!draft_calls.is_empty(), "drafts are tried first");
        if drafts {
            assert_eq!(draft_calls[0]["text"], "… thinking");
            assert_eq!(draft_calls[0]["chat_id"], OWNER);
            assert_ne!(draft_calls[0]["draft_id"], 0);
            // No status message to send or clean up: the answer replaces the draft.
            assert_eq!(telegram.texts_to(OWNER), ["You said: slow draft\\."]);
            assert!(telegram.calls("deleteMessage").is_empty());
        } else {
            assert_eq!(telegram.texts_to(OWNER)[0], "… thinking");
            telegram.wait_until("the status message goes", WAIT, |t| {
                t.calls("deleteMessage").len() == 1
            });
            // Refused once: not asked again for the next turn.
            telegram.message(OWNER, OWNER, "owner", "again");
            telegram.wait_until("the second answer", WAIT, |t| {
                t.texts_to(OWNER).iter().any(|m| m.contains("again"))
            });
            assert_eq!(telegram.calls("sendMessageDraft").len(), 1);
        }
        drop(gateway);
    }
}

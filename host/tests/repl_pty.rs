//! `clambot agent` as a person uses it: the REPL in a real pseudo-terminal,
//! against a scripted model server on 127.0.0.1. Type a message, answer an
//! approval question (after looking at the script), type again, Ctrl-C at the
//! prompt and during a turn, Ctrl-D to leave.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::model_server::{Answer, ModelServer, Role};
use rexpect::session::{PtySession, spawn_command};
use serde_json::json;

fn command(home: &Path, base: &str, args: &[&str]) -> Command {
    let mut command = common::cli::command(home, args);
    command
        .env("TERM", "xterm")
        .env("OPENAI_API_KEY", "sk-repl-test")
        .env("OPENAI_BASE_URL", base)
        // The pseudo-terminal is the child's stdin.
        .stdin(std::process::Stdio::inherit());
    command
}

fn repl(home: &Path, base: &str) -> PtySession {
    let onboard = command(home, base, &["onboard"]).output().expect("onboard");
    assert!(
        onboard.status.success(),
        "{}",
        String::from_utf8_lossy(&onboard.stderr)
    );
    let mut session =
        spawn_command(command(home, base, &["agent"]), Some(60_000)).expect("spawn in a pty");
    session.exp_string("you> ").expect("the first prompt");
    session
}

#[test]
fn input_after_an_approval_reaches_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let models = ModelServer::start();
    let base = format!("{}/v1", models.base());
    // The starter policy asks before fs.write-text under notes/.
    models
        .json(Role::Selector, json!({"decision": "generate"}))
        .json(
            Role::Generator,
            json!({"name": "note", "description": "Writes a note", "args": {},
                   "script": "async function run() { await fs.writeText('notes/a.md', 'hi'); return 'NOTE-WRITTEN'; }"}),
        )
        .json(
            Role::Analyst,
            json!({"decision": "accept", "answer": "The note is written."}),
        )
        .json(Role::Facts, json!({"facts": []}))
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "SECOND-ANSWER"}),
        )
        .json(Role::Facts, json!({"facts": []}));
    let mut s = repl(&home, &base);

    s.send_line("write a note please").expect("type");
    s.exp_string("the script asks to call fs.write-text")
        .expect("the question");
    s.exp_string("[s] show the script").expect("the choices");
    s.send_line("s").expect("ask for the script");
    s.exp_string("NOTE-WRITTEN").expect("the script is shown");
    s.send_line("o").expect("approve once");
    s.exp_string("The note is written.").expect("the answer");
    s.exp_string("you> ").expect("the prompt again");
    assert_eq!(
        std::fs::read_to_string(home.join("workspace/notes/a.md")).expect("note"),
        "hi"
    );

    // Every line typed after the approval reaches the REPL, in order.
    s.send_line("/hepl").expect("typo");
    s.exp_string("unknown command /hepl").expect("refused");
    s.send_line("/help").expect("help");
    s.exp_string("/new").expect("commands listed");
    s.send_line("and now something else").expect("type again");
    s.exp_string("SECOND-ANSWER")
        .expect("the second turn's answer");
    s.exp_string("you> ").expect("prompt");
    let selectors = models
        .asked()
        .into_iter()
        .filter(|a| a.role == Role::Selector)
        .collect::<Vec<_>>();
    assert_eq!(selectors.len(), 2, "no /command reached the model");
    assert!(selectors[1].prompt.contains("and now something else"));

    // Ctrl-D at an empty prompt leaves.
    s.send_control('d').expect("ctrl-d");
    s.exp_eof().expect("the REPL ends");
}

#[test]
fn ctrl_c_cancels_a_turn_and_the_prompt_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let models = ModelServer::start();
    let base = format!("{}/v1", models.base());
    models
        .push(Role::Selector, Answer::Hang)
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "AFTER-CANCEL"}),
        )
        .json(Role::Facts, json!({"facts": []}))
        .json(Role::Facts, json!({"facts": []}));
    let mut s = repl(&home, &base);

    // Ctrl-C at the prompt does not quit.
    s.send_control('c').expect("ctrl-c at the prompt");
    s.exp_string("Ctrl-D or /exit quits").expect("hint");

    s.send_line("a slow question").expect("type");
    s.exp_string("thinking").expect("the phase is shown");
    let cancelled = Instant::now();
    s.send_control('c').expect("ctrl-c during the turn");
    s.exp_string("you> ").expect("back at the prompt");
    assert!(
        cancelled.elapsed() < Duration::from_secs(10),
        "the hanging model call was cancelled, not waited for"
    );
    s.send_line("are you there").expect("type again");
    s.exp_string("AFTER-CANCEL").expect("the next turn runs");
    s.send_line("/exit").expect("exit");
    s.exp_eof().expect("the REPL ends");
}

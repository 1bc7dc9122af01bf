//! `clambot gateway` and `clambot cron` as processes: a real gateway against
//! the fake Bot API and a scripted model, stopped by SIGTERM with a turn in
//! flight; the cron commands' checks.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::model_server::{Answer, ModelServer, Role};
use common::telegram_server::{FakeTelegram, TOKEN};
use serde_json::json;

fn clambot(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = common::cli::command(home, args);
    command.envs(env.iter().copied());
    command
}

fn output(mut command: Command) -> Output {
    command.output().expect("clambot runs")
}

use common::cli::text;

/// A home with a Telegram config pointing at the fake Bot API, the bot token
/// set through `clambot secrets set`, and the model server as the provider.
struct GatewayHome {
    _dir: tempfile::TempDir,
    home: std::path::PathBuf,
    base: String,
}

impl GatewayHome {
    fn new(telegram: &FakeTelegram, models: &ModelServer) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let setup = Self {
            home,
            base: format!("{}/v1", models.base()),
            _dir: dir,
        };
        std::fs::create_dir_all(&setup.home).expect("home");
        std::fs::write(
            setup.home.join("config.toml"),
            format!(
                "[telegram]\nallow-from = [42]\napi-url = \"{}\"\n\n[gateway]\nshutdown-grace = \"1s\"\n",
                telegram.url()
            ),
        )
        .expect("config");
        let mut set = clambot(
            &setup.home,
            &setup.env(),
            &["secrets", "set", "telegram_bot_token"],
        );
        set.stdin(Stdio::piped());
        let mut child = set.spawn().expect("spawn");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(TOKEN.as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success());
        setup
    }

    fn env(&self) -> [(&str, &str); 2] {
        [
            ("OPENAI_API_KEY", "k"),
            ("OPENAI_BASE_URL", self.base.as_str()),
        ]
    }
}

/// A running `clambot gateway` whose stderr is collected as it is written, so
/// a test can wait for a line; killed when the test ends, pass or fail.
struct Gateway {
    child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Gateway {
    fn start(home: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = clambot(home, env, &["gateway"]);
        command.stderr(Stdio::piped()).stdout(Stdio::null());
        let mut child = command.spawn().expect("gateway starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                sink.lock()
                    .expect("stderr")
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Self { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    fn wait_for_log(&self, line: &str, timeout: Duration) {
        let started = Instant::now();
        while !self.stderr().contains(line) {
            assert!(
                started.elapsed() < timeout,
                "the gateway never logged {line:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_gateway_answers_and_stops_on_sigterm_within_its_grace() {
    let telegram = FakeTelegram::start();
    let models = ModelServer::start();
    let setup = GatewayHome::new(&telegram, &models);
    let (home, env) = (&setup.home, setup.env());

    models
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "Hello from the gateway"}),
        )
        .json(Role::Facts, json!({"facts": []}))
        .push(Role::Selector, Answer::Hang);
    let mut gateway = Gateway::start(home, &env);
    telegram.message(42, 42, "owner", "hello gateway");
    telegram.wait_until("the answer", Duration::from_secs(20), |t| {
        t.texts_to(42)
            .iter()
            .any(|m| m.contains("Hello from the gateway"))
    });
    // A second turn hangs on the model; SIGTERM must not wait for it forever.
    telegram.message(42, 42, "owner", "this one hangs");
    telegram.wait_until("the turn to start", Duration::from_secs(20), |_| {
        models.count_of(Role::Selector) >= 2
    });
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &gateway.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = gateway.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the gateway did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    gateway.wait_for_log("clambot gateway: stopped", Duration::from_secs(5));
    let stderr = gateway.stderr();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is never printed");
    // The hanging turn was cancelled within the 1 s grace (plus the wind-down).
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// The reply streams into the chat's draft as the model writes it
/// (`sendMessageDraft`, Bot API 9.3+), then the answer replaces the draft.
#[test]
fn the_reply_forms_in_a_draft_as_the_model_writes_it() {
    let telegram = FakeTelegram::start();
    telegram.accept_drafts();
    let models = ModelServer::start();
    let setup = GatewayHome::new(&telegram, &models);
    let reply = "Here is what I found about your question, written word by word as it streams";
    // Six characters a piece, 40 ms apart: the reply takes about 1.2 s to write.
    models
        .stream_gap(Duration::from_millis(40))
        .json(Role::Selector, json!({"decision": "chat", "reply": reply}))
        .json(Role::Facts, json!({"facts": []}));
    let _gateway = Gateway::start(&setup.home, &setup.env());
    telegram.message(42, 42, "owner", "tell me");
    telegram.wait_until("the answer", Duration::from_secs(20), |t| {
        t.texts_to(42).iter().any(|m| m == reply)
    });
    let drafts: Vec<String> = telegram
        .calls("sendMessageDraft")
        .iter()
        .map(|call| call["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(drafts[0], "… thinking", "{drafts:?}");
    let forming: Vec<&String> = drafts.iter().filter(|d| !d.starts_with('…')).collect();
    assert!(
        forming.len() >= 2,
        "the reply showed as it formed, more than once: {drafts:?}"
    );
    for pair in forming.windows(2) {
        assert!(pair[1].starts_with(pair[0].as_str()), "{drafts:?}");
    }
    for draft in &forming {
        assert!(
            reply.starts_with(draft.as_str()),
            "{draft:?} is the reply so far"
        );
    }
    assert!(forming[0].len() < reply.len(), "shown before it was whole");
    // At most one draft per 300 ms while the reply forms (about 1.2 s of it).
    assert!(forming.len() <= 8, "{} drafts: {drafts:?}", forming.len());
    // The answer is one message, sent once; nothing to clean up.
    assert_eq!(telegram.texts_to(42), [reply]);
    assert!(telegram.calls("deleteMessage").is_empty());
}

#[test]
fn without_a_token_the_gateway_says_how_to_set_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(home.join("config.toml"), "[telegram]\nallow-from = [42]\n").expect("config");
    let out = output(clambot(&home, &[("OPENAI_API_KEY", "k")], &["gateway"]));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("clambot secrets set telegram_bot_token"),
        "{stderr}"
    );
}

#[test]
fn cron_commands_validate_and_persist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let bad = output(clambot(
        &home,
        &[],
        &[
            "cron",
            "add",
            "bad",
            "--cron",
            "61 * * * *",
            "--prompt",
            "x",
        ],
    ));
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("minute"),
        "{}",
        text(&bad.stderr)
    );
    let bad_tz = output(clambot(
        &home,
        &[],
        &[
            "cron",
            "add",
            "tz",
            "--cron",
            "0 9 * * *",
            "--tz",
            "Mars/Olympus",
            "--prompt",
            "x",
        ],
    ));
    assert!(!bad_tz.status.success());
    let add = output(clambot(
        &home,
        &[],
        &[
            "cron",
            "add",
            "morning",
            "--cron",
            "0 9 * * 1-5",
            "--tz",
            "Europe/Berlin",
            "--clam",
            "btc-price",
            "--args",
            r#"{"coin":"ETH"}"#,
        ],
    ));
    assert!(add.status.success(), "{}", text(&add.stderr));
    let add2 = output(clambot(
        &home,
        &[],
        &[
            "cron",
            "add",
            "nudge",
            "--every",
            "2h",
            "--prompt",
            "check the news",
        ],
    ));
    assert!(add2.status.success(), "{}", text(&add2.stderr));
    let list = text(&output(clambot(&home, &[], &["cron", "list"])).stdout);
    assert!(
        list.contains("morning")
            && list.contains("Europe/Berlin")
            && list.contains("clam btc-price"),
        "{list}"
    );
    assert!(
        list.contains("nudge") && list.contains("every 2h"),
        "{list}"
    );
    assert!(
        output(clambot(&home, &[], &["cron", "disable", "morning"]))
            .status
            .success()
    );
    assert!(text(&output(clambot(&home, &[], &["cron", "list"])).stdout).contains("disabled"));
    assert!(
        output(clambot(&home, &[], &["cron", "enable", "morning"]))
            .status
            .success()
    );
    assert!(
        output(clambot(&home, &[], &["cron", "remove", "nudge"]))
            .status
            .success()
    );
    let list = text(&output(clambot(&home, &[], &["cron", "list"])).stdout);
    assert!(
        !list.contains("nudge") && list.contains("enabled"),
        "{list}"
    );
    let missing = output(clambot(&home, &[], &["cron", "remove", "nope"]));
    assert!(!missing.status.success());
}

#[test]
fn a_job_added_while_the_gateway_runs_fires_whatever_ran_in_between() {
    let telegram = FakeTelegram::start();
    let models = ModelServer::start();
    let setup = GatewayHome::new(&telegram, &models);
    let (home, env) = (&setup.home, setup.env());
    models
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "PONGFROMCRON"}),
        )
        .json(Role::Facts, json!({"facts": []}));

    let gateway = Gateway::start(home, &env);
    // The scheduler has looked (and found nothing) before the job exists: the
    // job must be seen by a later look, not by the first.
    gateway.wait_for_log("cron scheduler", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    // Other commands before and after the add, as a person would run them.
    assert!(
        output(clambot(home, &env, &["cron", "list"]))
            .status
            .success()
    );
    let at = (chrono::Utc::now() + chrono::TimeDelta::seconds(2)).to_rfc3339();
    let add = output(clambot(
        home,
        &env,
        &[
            "cron",
            "add",
            "ping",
            "--at",
            &at,
            "--prompt",
            "ping from cron",
            "--channel",
            "telegram:42",
        ],
    ));
    assert!(add.status.success(), "{}", text(&add.stderr));
    assert!(
        output(clambot(home, &env, &["cron", "list"]))
            .status
            .success()
    );
    assert!(
        output(clambot(home, &env, &["status"]))
            .status
            .code()
            .is_some()
    );
    // Due in 2 s; the scheduler looks every second.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !telegram
        .texts_to(42)
        .iter()
        .any(|m| m.contains("PONGFROMCRON"))
    {
        if Instant::now() > deadline {
            let list = text(&output(clambot(home, &env, &["cron", "list"])).stdout);
            panic!(
                "the job never ran; model asked {:?}\ncron list: {list}\ngateway: {}",
                models.asked().iter().map(|a| a.role).collect::<Vec<_>>(),
                gateway.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

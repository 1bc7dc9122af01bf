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
    std::fs::create_dir_all(home).expect("home");
    let _ = std::os::unix::fs::symlink(common::cache_dir(), home.join("cache"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_clambot"));
    command
        .args(args)
        .env_clear()
        .env("CLAMBOT_HOME", home)
        .env("HOME", home);
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

fn output(mut command: Command) -> Output {
    command.output().expect("clambot runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_gateway_answers_and_stops_on_sigterm_within_its_grace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let telegram = FakeTelegram::start();
    let models = ModelServer::start();
    let base = format!("{}/v1", models.base());
    let env = [("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", base.as_str())];
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[telegram]\nallow-from = [42]\napi-url = \"{}\"\n\n[gateway]\nshutdown-grace = \"1s\"\n",
            telegram.url()
        ),
    )
    .expect("config");
    let mut set = clambot(&home, &env, &["secrets", "set", "telegram_bot_token"]);
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

    models
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "Hello from the gateway"}),
        )
        .json(Role::Facts, json!({"facts": []}))
        .push(Role::Selector, Answer::Hang);
    let mut gateway = clambot(&home, &env, &["gateway"]);
    gateway.stderr(Stdio::piped());
    let mut child = gateway.spawn().expect("gateway starts");
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
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the gateway did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("clambot gateway: stopped"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is never printed");
    // The hanging turn was cancelled within the 1 s grace (plus the wind-down).
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
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
#[ignore = "open bug (issue 20.5): a job added by `clambot cron add` while the gateway runs is never seen by its scheduler"]
fn a_job_added_while_the_gateway_runs_fires_whatever_ran_in_between() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let telegram = FakeTelegram::start();
    let models = ModelServer::start();
    let base = format!("{}/v1", models.base());
    let env = [("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", base.as_str())];
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[telegram]\nallow-from = [42]\napi-url = \"{}\"\n\n[gateway]\nshutdown-grace = \"1s\"\n",
            telegram.url()
        ),
    )
    .expect("config");
    let mut set = clambot(&home, &env, &["secrets", "set", "telegram_bot_token"]);
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
    models
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "PONGFROMCRON"}),
        )
        .json(Role::Facts, json!({"facts": []}));

    let mut gateway = clambot(&home, &env, &["gateway"]);
    gateway.stderr(Stdio::piped()).stdout(Stdio::null());
    let gateway = Killed(gateway.spawn().expect("gateway starts"));
    std::thread::sleep(Duration::from_millis(500));
    // Other commands before and after the add, as a person would run them.
    assert!(
        output(clambot(&home, &env, &["cron", "list"]))
            .status
            .success()
    );
    let at = (chrono::Utc::now() + chrono::TimeDelta::seconds(2)).to_rfc3339();
    let add = output(clambot(
        &home,
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
        output(clambot(&home, &env, &["cron", "list"]))
            .status
            .success()
    );
    assert!(
        output(clambot(&home, &env, &["status"]))
            .status
            .code()
            .is_some()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !telegram
        .texts_to(42)
        .iter()
        .any(|m| m.contains("PONGFROMCRON"))
    {
        if Instant::now() > deadline {
            let mut gateway = gateway;
            let _ = gateway.0.kill();
            let mut stderr = String::new();
            let _ = gateway
                .0
                .stderr
                .take()
                .map(|mut e| e.read_to_string(&mut stderr));
            let list = text(&output(clambot(&home, &env, &["cron", "list"])).stdout);
            panic!(
                "the job never ran; model asked {:?}\ncron list: {list}\ngateway: {stderr}",
                models.asked().iter().map(|a| a.role).collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(gateway);
}

/// A child process killed when the test ends, pass or fail.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

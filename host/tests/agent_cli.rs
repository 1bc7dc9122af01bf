//! `clambot onboard`, `status`, `agent -m` and `clams` as a user runs them,
//! against a scripted model server on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::Output;

use common::model_server::{ModelServer, Role};
use serde_json::json;

/// The binary with a clean environment: only what the test passes.
fn clambot(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    common::cli::run(home, env, args)
}

use common::cli::text;

#[test]
fn without_a_provider_agent_says_how_to_configure_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let out = clambot(&home, &[], &["agent", "-m", "hello"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for needle in [
        "No model provider is configured",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "clambot onboard",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    let status = clambot(&home, &[], &["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        text(&status.stdout).contains("MISS provider"),
        "{}",
        text(&status.stdout)
    );
}

#[test]
fn onboard_then_status_then_one_turn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let models = ModelServer::start();
    let base = format!("{}/v1", models.base());
    let key = "sk-onboard-test-secret-value";
    let env = [("OPENAI_API_KEY", key), ("OPENAI_BASE_URL", base.as_str())];

    let out = clambot(&home, &env, &["onboard"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = std::fs::read_to_string(home.join("config.toml")).expect("config");
    assert!(config.contains("name = \"openai\""), "{config}");
    assert!(
        config.contains("api-key-env = \"OPENAI_API_KEY\""),
        "{config}"
    );
    assert!(!config.contains(key), "the key is never written");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.join("config.toml"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "config.toml is private");
    assert!(home.join("policy.toml").is_file());
    assert!(home.join("workspace").is_dir());

    let status = clambot(&home, &env, &["status"]);
    let stdout = text(&status.stdout);
    assert!(status.status.success(), "{stdout}");
    assert!(
        stdout.contains("openai") && stdout.contains("key set"),
        "{stdout}"
    );
    assert!(!stdout.contains(key));

    models
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "Hello from the model!"}),
        )
        .json(Role::Facts, json!({"facts": []}));
    let out = clambot(&home, &env, &["agent", "-m", "hello there, agent"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Hello from the model!");
    assert_eq!(models.count_of(Role::Selector), 1);

    // --resume continues the session: the earlier exchange is in the prompt.
    models
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "We said hello."}),
        )
        .json(Role::Facts, json!({"facts": []}));
    let out = clambot(
        &home,
        &env,
        &["agent", "--resume", "-m", "what did we say?"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let selector = models
        .asked()
        .into_iter()
        .rfind(|a| a.role == Role::Selector)
        .expect("asked");
    assert!(
        selector.prompt.contains("Hello from the model!"),
        "{}",
        selector.prompt
    );
}

#[test]
fn an_accepted_script_is_listed_shown_and_run_as_a_clam() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let models = ModelServer::start();
    let base = format!("{}/v1", models.base());
    let env = [("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", base.as_str())];
    assert!(clambot(&home, &env, &["onboard"]).status.success());
    models
        .json(Role::Selector, json!({"decision": "generate"}))
        .json(
            Role::Generator,
            json!({"name": "greet", "description": "Greets someone", "args": {"who": "Ada"},
                   "script": "async function run(args) { return 'Hello, ' + args.who + '!'; }"}),
        )
        .json(
            Role::Analyst,
            json!({"decision": "accept", "answer": "Hello, Ada!"}),
        )
        .json(Role::Facts, json!({"facts": []}));
    let out = clambot(&home, &env, &["agent", "-m", "greet Ada"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Hello, Ada!");

    let list = text(&clambot(&home, &env, &["clams", "list"]).stdout);
    assert!(list.contains("greet") && list.contains("v1"), "{list}");
    let show = text(&clambot(&home, &env, &["clams", "show", "greet"]).stdout);
    assert!(show.contains("source-requests = [\"greet Ada\"]"), "{show}");
    assert!(show.contains("sha256 = "), "{show}");
    let run = clambot(
        &home,
        &env,
        &["clams", "run", "greet", "--args", r#"{"who": "Grace"}"#],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout).trim(), "Hello, Grace!");
    // A saved clam needs no model, so no key either.
    let keyless = clambot(
        &home,
        &[],
        &["clams", "run", "greet", "--args", r#"{"who": "Lin"}"#],
    );
    assert!(keyless.status.success(), "{}", text(&keyless.stderr));
    assert_eq!(text(&keyless.stdout).trim(), "Hello, Lin!");
    let before = models.count();
    let out = clambot(&home, &env, &["agent", "-m", "Greet Ada!"]);
    assert_eq!(text(&out.stdout).trim(), "Hello, Ada!");
    assert_eq!(models.count(), before, "reused without the model");
    assert!(
        clambot(&home, &env, &["clams", "rm", "greet"])
            .status
            .success()
    );
    assert!(
        !clambot(&home, &env, &["clams", "show", "greet"])
            .status
            .success()
    );
}

#[test]
fn onboard_force_backs_up_what_was_edited_and_records_the_base_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let env = [
        ("OPENAI_API_KEY", "k"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:4000/v1"),
    ];
    assert!(clambot(&home, &env, &["onboard"]).status.success());
    let config = std::fs::read_to_string(home.join("config.toml")).expect("config");
    assert!(
        config.contains("base-url = \"http://127.0.0.1:4000/v1\""),
        "{config}"
    );
    let backups = |home: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(home)
            .expect("home")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".bak-"))
            .collect();
        names.sort();
        names
    };
    // Unedited files are rewritten without a backup.
    assert!(
        clambot(&home, &env, &["onboard", "--force"])
            .status
            .success()
    );
    assert!(backups(&home).is_empty(), "{:?}", backups(&home));

    let edited = "version = 1\n# my own rules\n";
    std::fs::write(home.join("policy.toml"), edited).expect("edit");
    let out = clambot(&home, &env, &["onboard", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kept = backups(&home);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].starts_with("policy.toml.bak-"), "{kept:?}");
    assert!(text(&out.stdout).contains(&kept[0]), "the backup is named");
    assert_eq!(
        std::fs::read_to_string(home.join(&kept[0])).expect("backup"),
        edited
    );
    assert_ne!(
        std::fs::read_to_string(home.join("policy.toml")).expect("policy"),
        edited
    );
}

#[test]
fn clambot_run_uses_the_homes_policy_without_policy_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("workspace")).expect("workspace");
    std::fs::write(home.join("workspace/a.txt"), "from the workspace").expect("file");
    let script = dir.path().join("read.js");
    std::fs::write(&script, "return await fs.readText('a.txt');").expect("script");
    let script = script.display().to_string();

    // No policy in the home: every call is denied (exit 3).
    let out = clambot(&home, &[], &["run", &script]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // The home's policy is the one `run` uses, like agent and gateway.
    std::fs::write(
        home.join("policy.toml"),
        "version = 1\n[[allow]]\ncall = \"fs.read-text\"\npath = [\"*.txt\"]\n",
    )
    .expect("policy");
    let out = clambot(&home, &[], &["run", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "\"from the workspace\"");
}

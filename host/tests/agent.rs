//! The agent end to end: a scripted model server on 127.0.0.1 speaking both
//! wire protocols, the real sandbox and gate, a real SQLite file, real clam
//! files. Each test scripts what each model role answers and checks what the
//! agent did: what ran, what was saved, what was asked of the model.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clambot::agent::clams::ClamStore;
use clambot::agent::provider::{self, ApiKey, Kind, ProviderConfig, RetryPolicy};
use clambot::agent::turn::{Quiet, TurnOutcome, TurnReply, TurnRequest, Turns};
use clambot::agent::{Agent, AgentParts, AgentSettings};
use clambot::gate::approver::NonInteractive;
use clambot::home::Home;
use clambot::policy::Policy;
use clambot::state::HostState;
use clambot::store::memory::Memory;
use clambot::store::sessions::Sessions;
use common::http_server::{Reply, Server};
use common::model_server::{Answer, ModelServer, Role};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const JS_API: &str = "http.fetch(req: {method: string, url: string, headers: [string, string][]}): Promise<Response>";

struct Setup {
    _dir: tempfile::TempDir,
    models: ModelServer,
    agent: Agent,
    state: HostState,
}

fn setup(kind: Kind, policy: &str, settings: AgentSettings) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = ModelServer::start();
    let base_url = match kind {
        Kind::OpenAiCompatible => format!("{}/v1", models.base()),
        Kind::Anthropic => models.base(),
    };
    let provider = provider::build(ProviderConfig {
        kind,
        name: "scripted".into(),
        base_url,
        api_key: Some(ApiKey::new("sk-scripted-test-key")),
        model: "scripted-model".into(),
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(10),
        },
    })
    .expect("provider");
    let state = HostState::open(Home::at(dir.path().join("home"))).expect("state");
    let sandbox = common::sandbox_with(state.implementations().expect("tools"), 4);
    let agent = Agent::new(AgentParts {
        provider: Arc::from(provider),
        sandbox: Arc::new(sandbox),
        state: state.clone(),
        policy: Policy::parse("policy.toml", policy).expect("policy"),
        clams: ClamStore::new(dir.path().join("home/clams"), vec![]),
        settings,
        js_api: JS_API.into(),
    })
    .expect("agent");
    Setup {
        _dir: dir,
        models,
        agent,
        state,
    }
}

fn request(message: &str) -> TurnRequest {
    TurnRequest {
        session: "test".into(),
        message: message.into(),
        approver: Arc::new(NonInteractive),
        progress: Arc::new(Quiet),
        cancel: CancellationToken::new(),
    }
}

async fn turn(setup: &Setup, message: &str) -> TurnReply {
    let reply = setup
        .agent
        .turn(request(message))
        .await
        .expect("the turn completes");
    setup.agent.wait_background().await;
    reply
}

fn generated(name: &str, script: &str, args: serde_json::Value) -> String {
    json!({"name": name, "description": format!("{name} test clam"), "args": args, "script": script})
        .to_string()
}

const NO_POLICY: &str = "version = 1\n";

#[tokio::test(flavor = "multi_thread")]
async fn chat_answer_runs_nothing() {
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, AgentSettings::default());
    s.models
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "Hello, Ada!"}),
        )
        .json(Role::Facts, json!({"facts": ["The user's name is Ada"]}));
    let reply = turn(&s, "Hi, I am Ada. How are you today?").await;
    assert_eq!(reply.text, "Hello, Ada!");
    assert_eq!(reply.outcome, TurnOutcome::Chat);
    assert_eq!(s.models.count_of(Role::Generator), 0);
    // The fact was extracted in the background and is remembered.
    let facts = Memory::new(Arc::clone(&s.state.store))
        .all_facts()
        .expect("facts");
    assert_eq!(facts.len(), 1);
    assert_eq!(facts[0].text, "The user's name is Ada");
    // Requests went to the OpenAI path, with the key as a bearer token.
    let asked = s.models.asked();
    assert!(asked.iter().all(|a| a.path == "/v1/chat/completions"));
    assert_eq!(s.models.unused(), 0);
    // The next prompt carries the fact.
    s.models.json(
        Role::Selector,
        json!({"decision": "chat", "reply": "You are Ada."}),
    );
    turn(&s, "who am i").await;
    let last_selector = s
        .models
        .asked()
        .into_iter()
        .rfind(|a| a.role == Role::Selector)
        .expect("asked");
    assert!(last_selector.prompt.contains("The user's name is Ada"));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_remember_facts_off_no_facts_are_extracted() {
    let settings = AgentSettings {
        remember_facts: false,
        ..AgentSettings::default()
    };
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, settings);
    s.models.json(
        Role::Selector,
        json!({"decision": "chat", "reply": "Hello, Ada!"}),
    );
    let reply = turn(&s, "Hi, I am Ada. How are you today?").await;
    assert_eq!(reply.text, "Hello, Ada!");
    assert_eq!(s.models.count_of(Role::Facts), 0, "no model call for facts");
    let facts = Memory::new(Arc::clone(&s.state.store))
        .all_facts()
        .expect("facts");
    assert!(facts.is_empty(), "{facts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_run_accept_saves_a_clam_and_the_same_request_reuses_it_without_the_model() {
    let s = setup(Kind::Anthropic, NO_POLICY, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}))
        .text(
            Role::Generator,
            format!(
                "Here is the script:\n```json\n{}\n```",
                generated(
                    "add-numbers",
                    "return args.a + args.b;",
                    json!({"a": 2, "b": 40})
                )
            ),
        )
        .json(
            Role::Analyst,
            json!({"decision": "accept", "answer": "2 + 40 = 42"}),
        )
        .json(Role::Facts, json!({"facts": []}));
    let reply = turn(&s, "What is 2 + 40?").await;
    assert_eq!(reply.text, "2 + 40 = 42");
    assert_eq!(
        reply.outcome,
        TurnOutcome::Ran {
            clam: Some("add-numbers".into()),
            reused: false
        }
    );
    // Anthropic's path and header were used.
    assert!(s.models.asked().iter().all(|a| a.path == "/v1/messages"));
    // The analyst saw the real result of the real run.
    let analyst = s
        .models
        .asked()
        .into_iter()
        .find(|a| a.role == Role::Analyst)
        .expect("analyst");
    assert!(
        analyst.prompt.contains("Result (JSON):\n42"),
        "{}",
        analyst.prompt
    );

    let clam = s.agent.clams().get("add-numbers").expect("saved");
    assert_eq!(clam.meta.version, 1);
    assert_eq!(clam.meta.source_requests, ["What is 2 + 40?"]);
    assert_eq!(
        clam.meta.sha256.as_deref(),
        Some(clambot::sha256_hex(b"return args.a + args.b;").as_str())
    );
    assert_eq!(clam.meta.inputs(), json!({"a": 2, "b": 40}));
    let toml = std::fs::read_to_string(clam.dir.join("clam.toml")).expect("toml");
    assert!(toml.contains("created = "), "{toml}");

    // The same request, differently typed: the clam runs, the model is not asked.
    let before = s.models.count();
    for typed in ["  what is 2+40 ", "WHAT IS 2 + 40?!"] {
        let again = turn(&s, typed).await;
        assert_eq!(again.text, "42");
        assert_eq!(
            again.outcome,
            TurnOutcome::Ran {
                clam: Some("add-numbers".into()),
                reused: true
            }
        );
    }
    assert_eq!(
        s.models.count(),
        before,
        "no model request for a reused clam"
    );
    assert_eq!(
        s.agent.clams().get("add-numbers").expect("clam").meta.runs,
        3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_failure_runs_exactly_one_plus_three_times_and_says_so() {
    let target = Server::start("127.0.0.1", 0, |_| Reply::text(200, "text/plain", "hit"));
    let policy = format!(
        "version = 1\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\n",
        port = target.port()
    );
    let s = setup(Kind::OpenAiCompatible, &policy, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}));
    for i in 0..4 {
        let script = format!(
            "await http.fetch({{method: 'GET', url: 'http://127.0.0.1:{}/try{i}', headers: []}}); throw new Error('broken {i}');",
            target.port()
        );
        s.models
            .text(Role::Generator, generated("flaky", &script, json!({})));
    }
    let reply = turn(&s, "do the flaky thing").await;
    assert_eq!(reply.outcome, TurnOutcome::Failed);
    assert_eq!(target.seen().len(), 4, "the script ran 1 + 3 times");
    assert_eq!(s.models.count_of(Role::Generator), 4);
    assert_eq!(
        s.models.count_of(Role::Analyst),
        0,
        "errors need no analysis"
    );
    assert!(reply.text.contains("failed 4 times"), "{}", reply.text);
    assert!(reply.text.contains("broken 3"), "{}", reply.text);
    // The fixes were shown the error.
    let fixes: Vec<_> = s
        .models
        .asked()
        .into_iter()
        .filter(|a| a.role == Role::Generator)
        .skip(1)
        .collect();
    assert!(fixes.iter().all(|f| f.prompt.contains("did not work")));
    assert!(fixes[0].prompt.contains("broken 0"));
    assert!(s.agent.clams().get("flaky").is_err(), "nothing saved");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fix_request_shows_the_model_the_failing_expression_its_line_and_a_caret() {
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}))
        .text(
            Role::Generator,
            generated(
                "count",
                "const data = { items: null };\nreturn 1 + data.items.length;",
                json!({}),
            ),
        )
        .text(Role::Generator, generated("count", "return 0;", json!({})))
        .json(Role::Analyst, json!({"decision": "accept", "answer": "0"}))
        .json(Role::Facts, json!({"facts": []}));
    let reply = turn(&s, "count the items").await;
    assert_eq!(reply.text, "0");
    let fix = s
        .models
        .asked()
        .into_iter()
        .filter(|a| a.role == Role::Generator)
        .nth(1)
        .expect("a fix was asked for");
    assert!(
        fix.prompt.contains("uncaught at 2:12: TypeError"),
        "{}",
        fix.prompt
    );
    assert!(
        fix.prompt
            .contains("2 | return 1 + data.items.length;\n    |            ^"),
        "{}",
        fix.prompt
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_model_output_is_repaired_or_refused_never_guessed() {
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, AgentSettings::default());
    s.models
        // Unreadable twice: the agent writes a script (the safe default).
        .text(Role::Selector, "I think you want some code")
        .text(Role::Selector, "{\"decision\": ")
        // Prose instead of code, then a bare fenced block.
        .text(Role::Generator, "I'm sorry, I can't help with that.")
        .text(Role::Generator, "```js\nreturn 'fixed';\n```")
        .text(
            Role::Analyst,
            "{\"decision\": \"accept\", \"answer\": \"fix",
        )
        .json(Role::Facts, json!({"facts": []}));
    let reply = turn(&s, "say fixed").await;
    assert_eq!(s.models.count_of(Role::Selector), 2, "one repair round");
    let fix = s
        .models
        .asked()
        .into_iter()
        .filter(|a| a.role == Role::Generator)
        .nth(1)
        .expect("fix");
    assert!(fix.prompt.contains("could not be read"), "{}", fix.prompt);
    // The analyst's answer was cut off: the real result is shown, unsaved.
    assert!(reply.text.starts_with("fixed\n"), "{}", reply.text);
    assert!(reply.text.contains("not saved"), "{}", reply.text);
    assert!(s.agent.clams().list().0.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_then_success() {
    let s = setup(Kind::Anthropic, NO_POLICY, AgentSettings::default());
    s.models
        .push(Role::Selector, Answer::Status(429))
        .push(Role::Selector, Answer::Status(529))
        .json(
            Role::Selector,
            json!({"decision": "chat", "reply": "ok now"}),
        );
    let reply = turn(&s, "hello there").await;
    assert_eq!(reply.text, "ok now");
    assert_eq!(s.models.count_of(Role::Selector), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_call_is_explained_not_fixed() {
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}))
        .text(
            Role::Generator,
            generated(
                "weather",
                "const r = await http.fetch({method: 'GET', url: 'https://api.weather.example/v1/now?city=' + args.city, headers: []}); return r.status;",
                json!({"city": "Lyon"}),
            ),
        );
    let reply = turn(&s, "weather in Lyon?").await;
    assert_eq!(reply.outcome, TurnOutcome::Failed);
    assert_eq!(
        s.models.count_of(Role::Generator),
        1,
        "a denial is not self-fixed"
    );
    assert_eq!(reply.denied.len(), 1);
    for needle in [
        "`http.fetch`",
        "default-deny",
        "[[allow]]",
        "call = \"http.fetch\"",
        // Exactly the denied call: scheme, host, port and path (never the query).
        "url = [\"https://api.weather.example:443/v1/now\"]",
        "method = [\"GET\"]",
        "clambot policy check",
    ] {
        assert!(reply.text.contains(needle), "{needle} in {}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn compaction_keeps_recent_turns_and_a_summary() {
    let settings = AgentSettings {
        session_budget_tokens: 40,
        keep_recent_turns: 2,
        ..AgentSettings::default()
    };
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, settings);
    for i in 0..3 {
        s.models.json(
            Role::Selector,
            json!({"decision": "chat", "reply": format!("answer number {i} with some padding words to use tokens")}),
        );
        s.models.json(Role::Facts, json!({"facts": []}));
    }
    s.models
        .text(Role::Compaction, "The user asked three numbered questions.");
    for i in 0..2 {
        turn(
            &s,
            &format!("question number {i}, padded with enough words to count"),
        )
        .await;
    }
    assert_eq!(s.models.count_of(Role::Compaction), 0, "under budget");
    turn(&s, "question number 2").await;
    assert_eq!(s.models.count_of(Role::Compaction), 1);
    let compaction = s
        .models
        .asked()
        .into_iter()
        .find(|a| a.role == Role::Compaction)
        .expect("asked");
    assert!(compaction.prompt.contains("question number 0"));
    assert!(
        !compaction.prompt.contains("answer number 1"),
        "recent turns are kept, not summarised"
    );

    let context = Sessions::new(Arc::clone(&s.state.store))
        .context("test")
        .expect("context");
    assert_eq!(
        context.summary.as_deref(),
        Some("The user asked three numbered questions.")
    );
    let texts: Vec<_> = context.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[0].starts_with("question number 1"));
    assert_eq!(texts[2], "question number 2");
    // The selector of the third turn saw the summary and the recent turns only.
    let selector = s
        .models
        .asked()
        .into_iter()
        .rfind(|a| a.role == Role::Selector)
        .expect("asked");
    assert!(
        selector
            .prompt
            .contains("The user asked three numbered questions.")
    );
    assert!(!selector.prompt.contains("question number 0"));
    // Nothing is lost: the history still finds the first question.
    let found = Memory::new(Arc::clone(&s.state.store))
        .search_history("question number 0", 10)
        .expect("search");
    assert!(!found.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_ends_a_running_script_and_a_waiting_model() {
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}))
        .text(
            Role::Generator,
            generated("spin", "while (true) {}", json!({})),
        );
    let request = request("spin forever");
    let cancel = request.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let reply = s.agent.turn(request).await.expect("turn");
    assert_eq!(reply.outcome, TurnOutcome::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    s.models.push(Role::Selector, Answer::Hang);
    let request = request_in("hang", "wait for a model that never answers");
    let cancel = request.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let reply = s.agent.turn(request).await.expect("turn");
    assert_eq!(reply.outcome, TurnOutcome::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn request_in(session: &str, message: &str) -> TurnRequest {
    TurnRequest {
        session: session.into(),
        ..request(message)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_selector_reuses_a_clam_with_new_arguments() {
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}))
        .json(
            Role::Generator,
            json!({"name": "double", "description": "Doubles a number", "args": {"n": 4},
                   "script": "async function run(args) { return args.n * 2; }"}),
        )
        .json(Role::Analyst, json!({"decision": "accept", "answer": "8"}))
        .json(Role::Facts, json!({"facts": []}));
    assert_eq!(turn(&s, "double 4").await.text, "8");

    // A different request the selector maps to the same clam, with new args.
    s.models
        .json(
            Role::Selector,
            json!({"decision": "use", "clam": "double", "args": {"n": 21}}),
        )
        .json(
            Role::Analyst,
            json!({"decision": "accept", "answer": "21 doubled is 42"}),
        )
        .json(Role::Facts, json!({"facts": []}));
    let reply = turn(&s, "what is twice twenty-one").await;
    assert_eq!(reply.text, "21 doubled is 42");
    assert_eq!(
        s.models.count_of(Role::Generator),
        1,
        "no new script was written"
    );
    let analyst = s
        .models
        .asked()
        .into_iter()
        .rfind(|a| a.role == Role::Analyst)
        .expect("asked");
    assert!(
        analyst.prompt.contains("Result (JSON):\n42"),
        "{}",
        analyst.prompt
    );
    let clam = s.agent.clams().get("double").expect("clam");
    assert_eq!(clam.meta.version, 1, "same script, same version");
    assert_eq!(
        clam.meta.source_requests.len(),
        1,
        "a saved clam is not duplicated"
    );
    // The selector saw the catalogue.
    let selector = s
        .models
        .asked()
        .into_iter()
        .rfind(|a| a.role == Role::Selector)
        .expect("asked");
    assert!(
        selector.prompt.contains("double (v1): Doubles a number"),
        "{}",
        selector.prompt
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_clam_starts_from_cached_bytecode() {
    let s = setup(Kind::OpenAiCompatible, NO_POLICY, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}))
        .json(
            Role::Generator,
            json!({"name": "shout", "description": "Upper-cases a word", "args": {"w": "hey"},
                   "script": "async function run(args) { return args.w.toUpperCase(); }"}),
        )
        .json(
            Role::Analyst,
            json!({"decision": "accept", "answer": "HEY"}),
        )
        .json(Role::Facts, json!({"facts": []}));
    turn(&s, "shout hey").await;
    let cache = s.state.home.cache_dir().join("bytecode");
    assert!(
        !cache.exists() || std::fs::read_dir(&cache).expect("dir").count() == 0,
        "new scripts run from source"
    );
    assert_eq!(turn(&s, "shout hey").await.text, "HEY");
    assert_eq!(
        std::fs::read_dir(&cache).expect("cache").count(),
        1,
        "the reused clam was compiled once"
    );
}

/// Answers "this turn" once and then refuses, counting the questions.
#[derive(Debug, Default)]
struct TurnOnce {
    asked: std::sync::Mutex<usize>,
}

impl clambot::gate::approver::Approver for TurnOnce {
    fn approve<'a>(
        &'a self,
        _request: &'a clambot::gate::approver::ApprovalRequest,
    ) -> clambot::gate::BoxFuture<'a, clambot::gate::approver::Approval> {
        let mut asked = self.asked.lock().expect("lock");
        *asked += 1;
        let answer = if *asked == 1 {
            clambot::gate::approver::Approval::Turn
        } else {
            clambot::gate::approver::Approval::Reject("asked twice in one turn".into())
        };
        Box::pin(async move { answer })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_this_turn_approval_holds_for_the_fix_runs_of_the_same_turn() {
    let policy = "version = 1\n[[ask]]\ncall = \"log.write\"\n";
    let s = setup(Kind::OpenAiCompatible, policy, AgentSettings::default());
    s.models
        .json(Role::Selector, json!({"decision": "generate"}))
        .text(
            Role::Generator,
            generated(
                "logger",
                "log.write('info', 'working'); throw new Error('broken');",
                json!({}),
            ),
        )
        .text(
            Role::Generator,
            generated(
                "logger",
                "log.write('info', 'working'); return 7;",
                json!({}),
            ),
        )
        .json(Role::Analyst, json!({"decision": "accept", "answer": "7"}))
        .json(Role::Facts, json!({"facts": []}));
    let approver = Arc::new(TurnOnce::default());
    let mut request = request("log twice");
    request.approver = approver.clone();
    let reply = s.agent.turn(request).await.expect("the turn completes");
    s.agent.wait_background().await;
    assert_eq!(reply.text, "7", "{reply:?}");
    assert_eq!(
        *approver.asked.lock().expect("lock"),
        1,
        "the fix's call was covered by the first answer"
    );
}

//! Gateway latency with a model that answers at once: a message goes through
//! the real bot loop (poll, claim the update id, access check, status message,
//! turn, outbox, send) against the fake Bot API on 127.0.0.1, with the state
//! database a real SQLite file. The gateway's overhead is the time from the
//! fake handing out the update to the answer's `sendMessage` arriving, minus the
//! time inside the turn; it is reported per message (mean by criterion, and
//! p50/p95/max printed at the end).
//!
//! The database writes on the critical path are benched one by one:
//! - the gateway: claiming the update id (`telegram_updates`, one commit),
//!   marking the turn under way (`telegram_turns`, on the bulk connection: no
//!   fsync), and queueing the answer (`telegram_outbox`, one commit on the bulk
//!   connection, which also marks the turn finished); removing the sent row
//!   happens after the send, off the path;
//! - the turn: `Sessions::append_exchange` (the user message and the answer
//!   into `history` with its FTS index, one commit on the bulk connection),
//!   after the model answered.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clambot::agent::turn::{ClamRequest, TurnOutcome, TurnReply, TurnRequest, Turns};
use clambot::gate::BoxFuture;
use clambot::gateway::config::{Access, AllowEntry};
use clambot::gateway::telegram::api::BotApi;
use clambot::gateway::telegram::bot::Bot;
use clambot::home::Home;
use clambot::state::HostState;
use clambot::store::sessions::Sessions;
use clambot::store::telegram::{HandledUpdates, LiveTurns, Outbox, Outgoing};
use common::telegram_server::{FakeTelegram, TOKEN};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const OWNER: i64 = 42;

/// Answers at once, and remembers when each turn started and ended.
#[derive(Debug, Default)]
struct InstantModel {
    spans: Mutex<HashMap<String, (Instant, Instant)>>,
}

impl Turns for InstantModel {
    fn turn(&self, request: TurnRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        Box::pin(async move {
            let started = Instant::now();
            let text = format!("You said: {}.", request.message);
            self.spans
                .lock()
                .expect("lock")
                .insert(request.message, (started, Instant::now()));
            Ok(TurnReply {
                text,
                outcome: TurnOutcome::Chat,
                denied: Vec::new(),
            })
        })
    }

    fn run_clam(&self, _request: ClamRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        Box::pin(async { anyhow::bail!("no clams") })
    }

    fn new_session(&self, _session: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

struct Measured {
    overhead: Duration,
    total: Duration,
}

/// Sends one message and waits for its answer; returns the gateway's share.
fn one_message(telegram: &FakeTelegram, model: &InstantModel, n: usize) -> Measured {
    let id = telegram.next_update_id();
    let text = format!("m{n}");
    telegram.message(OWNER, OWNER, "owner", &text);
    let answer = format!("You said: m{n}\\.");
    let started = Instant::now();
    let arrived = loop {
        if let Some((_, at)) = telegram
            .calls_at("sendMessage")
            .into_iter()
            .find(|(body, _)| body["text"] == answer.as_str())
        {
            break at;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no answer");
        std::thread::sleep(Duration::from_micros(200));
    };
    let handed = telegram.handed_at(id).expect("handed out");
    let (turn_start, turn_end) = model.spans.lock().expect("lock")[&text];
    let total = arrived - handed;
    Measured {
        overhead: total - (turn_end - turn_start),
        total,
    }
}

fn bench(c: &mut Criterion) {
    let runtime = common::runtime();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let state = HostState::open(Home::at(dir.path().join("home"))).expect("state");
    let telegram = FakeTelegram::start();
    let model = Arc::new(InstantModel::default());
    let bot = Arc::new(Bot::new(
        BotApi::new(&telegram.url(), TOKEN).expect("api"),
        Arc::clone(&model) as Arc<dyn Turns>,
        state.clone(),
        Access::new(&[AllowEntry::Id(OWNER)]),
        Some(OWNER),
        1024,
        Duration::from_secs(5),
        TaskTracker::new(),
        CancellationToken::new(),
    ));
    let stop = CancellationToken::new();
    runtime.spawn(Arc::clone(&bot).run(stop.clone()));

    let mut samples: Vec<Measured> = Vec::new();
    let mut n = 0;
    // Warm up: the first turn opens the connections.
    for _ in 0..5 {
        one_message(&telegram, &model, n);
        n += 1;
    }
    let mut group = c.benchmark_group("gateway");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("overhead per message (instant model)", |b| {
        b.iter_custom(|iters| {
            let mut overhead = Duration::ZERO;
            for _ in 0..iters {
                let measured = one_message(&telegram, &model, n);
                n += 1;
                overhead += measured.overhead;
                samples.push(measured);
            }
            overhead
        });
    });
    group.finish();

    let mut group = c.benchmark_group("critical-path writes");
    let handled = HandledUpdates::new(Arc::clone(&state.store), 1);
    let mut update = 1_000_000;
    group.bench_function("gateway: claim an update id (telegram_updates)", |b| {
        b.iter(|| {
            update += 1;
            assert!(handled.claim(update).expect("claim"));
        });
    });
    let live = LiveTurns::new(Arc::clone(&state.store));
    group.bench_function(
        "gateway: mark the turn under way (telegram_turns, bulk)",
        |b| {
            b.iter(|| live.begin(7).expect("begin"));
        },
    );
    let outbox = Outbox::new(Arc::clone(&state.store));
    let row = [Outgoing::Text {
        markdown: "You said: hi\\.".into(),
        plain: "You said: hi.".into(),
    }];
    group.bench_function("gateway: queue an answer (telegram_outbox, bulk)", |b| {
        b.iter(|| outbox.enqueue_finishing(7, &row, None).expect("enqueue"));
    });
    let sessions = Sessions::new(Arc::clone(&state.store));
    group.bench_function("turn: append_exchange (history + FTS, bulk)", |b| {
        b.iter(|| {
            sessions
                .append_exchange("telegram:7", "what is the time?", "It is noon.")
                .expect("append")
        });
    });
    group.finish();
    stop.cancel();

    let mut overheads: Vec<Duration> = samples.iter().map(|m| m.overhead).collect();
    let mut totals: Vec<Duration> = samples.iter().map(|m| m.total).collect();
    overheads.sort();
    totals.sort();
    let pick = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "gateway overhead per message over {} messages: p50 {:?}, p95 {:?}, max {:?}; \
         message handed out → answer arrived: p50 {:?}, p95 {:?}",
        overheads.len(),
        pick(&overheads, 0.5),
        pick(&overheads, 0.95),
        overheads.last().copied().unwrap_or_default(),
        pick(&totals, 0.5),
        pick(&totals, 0.95),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! memory, secrets and cron through the real guest and gate, over a real
//! SQLite file.

mod common;

use clambot::store::memory::{Memory, Role};
use common::world::World;
use serde_json::json;

const POLICY: &str = r#"version = 1
[[allow]]
call = "memory.*"
[[allow]]
call = "secrets.*"
[[allow]]
call = "cron.*"
"#;

#[test]
fn facts_are_remembered_recalled_ranked_and_forgotten() {
    let world = World::new();
    let out = world.ok(
        POLICY,
        r#"
        const cat = await memory.remember("The user's cat is called Miso");
        await memory.remember('The user lives in Lisbon');
        await memory.remember('The user likes cats and dogs; the cat is old');
        const hits = await memory.recall('what is the cat called', 5);
        const all = await memory.recall('', 0);
        await memory.forget(cat);
        let missing = null;
        try { await memory.forget(cat) } catch (e) { missing = e.code }
        let empty = null;
        try { await memory.remember('   ') } catch (e) { empty = e.code }
        return { cat, first: hits[0].id, hits: hits.length, all: all.length, missing, empty,
                 left: (await memory.recall('', 10)).length };
        "#,
    );
    assert_eq!(out["first"], out["cat"], "the best match first: {out}");
    assert_eq!(out["hits"], 2, "only facts with a query word: {out}");
    assert_eq!(out["all"], 3);
    assert_eq!(out["missing"], "not-found");
    assert_eq!(out["empty"], "invalid");
    assert_eq!(out["left"], 2);

    // What the script stored is in the database file, readable after reopening.
    let reopened =
        clambot::store::Store::open(&world.dir.path().join("data/clambot.db")).expect("reopen");
    let memory = Memory::new(std::sync::Arc::new(reopened));
    let markdown = memory.export_markdown().expect("export");
    assert!(
        markdown.contains("- The user lives in Lisbon"),
        "{markdown}"
    );
    assert!(
        !markdown.contains("Miso"),
        "forgotten facts are gone: {markdown}"
    );
}

#[test]
fn history_search_is_ranked_and_limited() {
    let world = World::new();
    let memory = Memory::new(std::sync::Arc::clone(&world.store));
    memory
        .append_history("s1", Role::User, "remind me to water the plants")
        .expect("1");
    memory
        .append_history(
            "s1",
            Role::Assistant,
            "plants plants: watering the plants at 6pm",
        )
        .expect("2");
    memory
        .append_history("s2", Role::User, "what's the weather in Porto")
        .expect("3");
    let out = world.ok(
        POLICY,
        r#"
        const plants = await memory.searchHistory('plants', 10);
        const one = await memory.searchHistory('plants', 1);
        const none = await memory.searchHistory('"NEAR(*', 10);
        return { plants: plants.map(e => e.role + ':' + e.text), one: one.length, none: none.length };
        "#,
    );
    assert_eq!(
        out["plants"],
        json!([
            "assistant:plants plants: watering the plants at 6pm",
            "user:remind me to water the plants"
        ]),
        "{out}"
    );
    assert_eq!(out["one"], 1);
    assert_eq!(
        out["none"], 0,
        "query syntax is taken as words, never as FTS syntax"
    );
}

#[test]
fn scripts_see_secret_names_never_values() {
    let world = World::new();
    world
        .secrets
        .set("github_token", "ghp_canaryvalue12345")
        .expect("set");
    let outcome = world.run(
        POLICY,
        "return { names: await secrets.list(), has: await secrets.has('github_token'), other: await secrets.has('nope') }",
    );
    let text = outcome.result.expect("runs");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).expect("json"),
        json!({ "names": ["github_token"], "has": true, "other": false })
    );
    assert!(!text.contains("canary"));
}

#[test]
fn cron_jobs_are_checked_at_add_time_and_persisted() {
    let world = World::new();
    let out = world.ok(
        POLICY,
        r#"
        const attempt = async (spec) => {
            try { await cron.add(spec); return 'added' } catch (e) { return e.code + ': ' + e.message }
        };
        const base = { name: 'x', schedule: { every: 3600 }, action: { prompt: 'hello' }, once: false };
        const refusals = {
            sixFields: await attempt({ ...base, schedule: { cron: { expr: '0 0 9 * * 1', timezone: null } } }),
            badMinute: await attempt({ ...base, schedule: { cron: { expr: '61 * * * *', timezone: null } } }),
            never: await attempt({ ...base, schedule: { cron: { expr: '0 0 31 2 *', timezone: null } } }),
            badZone: await attempt({ ...base, schedule: { cron: { expr: '0 9 * * *', timezone: 'Europe/Berln' } } }),
            tooOften: await attempt({ ...base, schedule: { every: 10 } }),
            past: await attempt({ ...base, schedule: { at: '2001-01-01T00:00:00Z' } }),
            noOffset: await attempt({ ...base, schedule: { at: '2099-01-01T09:00:00' } }),
            badClam: await attempt({ ...base, action: { clam: { clam: '../evil', argsJson: '{}' } } }),
            badArgs: await attempt({ ...base, action: { clam: { clam: 'btc-price', argsJson: '[1]' } } }),
            emptyPrompt: await attempt({ ...base, action: { prompt: '  ' } }),
        };
        const job = await cron.add({ name: 'standup', schedule: { cron: { expr: '0 9 * * 1-5', timezone: 'Europe/Berlin' } },
                                     action: { clam: { clam: 'btc-price', argsJson: '{"currency":"EUR"}' } }, once: false });
        const duplicate = await attempt({ ...base, name: 'standup' });
        await cron.disable(job.id);
        const disabled = (await cron.list())[0];
        await cron.enable(job.id);
        const enabled = (await cron.list())[0];
        return { refusals, job, duplicate, disabled, enabled };
        "#,
    );
    for (case, text) in out["refusals"].as_object().expect("refusals") {
        assert!(
            text.as_str().is_some_and(|t| t.starts_with("invalid: ")),
            "{case}: {text}"
        );
    }
    assert!(
        out["refusals"]["badZone"]
            .as_str()
            .unwrap_or_default()
            .contains("Europe/Berln")
    );
    assert!(
        out["duplicate"]
            .as_str()
            .unwrap_or_default()
            .starts_with("invalid: "),
        "{out}"
    );
    let job = &out["job"];
    assert_eq!(job["enabled"], true);
    let next = job["nextRunMs"].as_u64().expect("a next run");
    // 09:00 in Berlin is 07:00 or 08:00 UTC, on a weekday.
    let at = chrono::DateTime::from_timestamp_millis(next as i64).expect("time");
    use chrono::{Datelike, Timelike};
    assert!(matches!(at.hour(), 7 | 8), "{at}");
    assert!(at.weekday().num_days_from_monday() < 5, "{at}");
    assert!(next > clambot::store::now_ms());
    assert_eq!(out["disabled"]["enabled"], false);
    assert_eq!(out["disabled"]["nextRunMs"], serde_json::Value::Null);
    assert_eq!(out["enabled"]["nextRunMs"], job["nextRunMs"]);

    // The job is in the database file.
    let reopened =
        clambot::store::Store::open(&world.dir.path().join("data/clambot.db")).expect("reopen");
    let jobs = clambot::store::cron::CronJobs::new(std::sync::Arc::new(reopened))
        .list()
        .expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].name, "standup");
    assert_eq!(
        jobs[0].schedule,
        json!({ "cron": { "expr": "0 9 * * 1-5", "timezone": "Europe/Berlin" } })
    );

    let out = world.ok(
        POLICY,
        &format!(
            "await cron.remove({:?}); try {{ await cron.remove({:?}) }} catch (e) {{ return [e.code, (await cron.list()).length] }}",
            jobs[0].id, jobs[0].id
        ),
    );
    assert_eq!(out, json!(["not-found", 0]));
}

#[test]
fn every_call_is_indexed_in_the_database_after_the_run() {
    let world = World::new();
    world.ok(
        POLICY,
        "await memory.remember('a'); await secrets.list(); try { await fs.readText('x') } catch (e) {} return 1",
    );
    let rows: Vec<(String, String, String)> = world
        .store
        .with(|c| {
            let mut statement =
                c.prepare("SELECT function, decision, rule FROM audit ORDER BY id")?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .expect("query");
    assert_eq!(
        rows.iter()
            .map(|(f, d, _)| format!("{f} {d}"))
            .collect::<Vec<_>>(),
        [
            "memory.remember allow",
            "secrets.list allow",
            "fs.read-text deny"
        ]
    );
    assert_eq!(rows[2].2, "default-deny");
    let run: String = world
        .store
        .with(|c| c.query_row("SELECT run FROM audit LIMIT 1", [], |r| r.get(0)))
        .expect("run");
    assert_eq!(
        clambot::store::audit::calls_of_run(&world.store, &run)
            .expect("calls")
            .len(),
        3
    );
}

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

//! The fs tool through the real guest and gate: everything stays inside the
//! workspace, whatever the script writes as a path.

mod common;

use std::os::unix::fs::symlink;

use common::world::World;

const POLICY: &str = r#"version = 1
[[allow]]
call = "fs.*"
path = ["**"]
[[deny]]
call = "fs.*"
path = ["secrets/**"]
"#;

/// Calls `fs.<function>(args…)` and returns `{ok}` or `{code, rule}`.
fn call(world: &World, function: &str, args: &str) -> serde_json::Value {
    world.ok(
        POLICY,
        &format!(
            "try {{ return {{ ok: await fs.{function}({args}) ?? null }} }} catch (e) {{ return {{ code: e.code, rule: e.rule ?? null, message: e.message }} }}"
        ),
    )
}

#[test]
fn files_round_trip_inside_the_workspace() {
    let world = World::new();
    let out = world.ok(
        POLICY,
        r#"
        await fs.writeText('notes/today.md', 'one\n');
        await fs.appendText('notes/today.md', 'two\n');
        const replaced = await fs.edit('notes/today.md', 'two', 'TWO');
        await fs.writeBytes('data/blob.bin', new Uint8Array([0, 1, 255]));
        const bytes = Array.from(await fs.readBytes('data/blob.bin'));
        await fs.mkdir('archive/2026');
        await fs.move('notes/today.md', 'archive/2026/today.md');
        const listed = await fs.list('archive/2026');
        const stat = await fs.stat('archive/2026/today.md');
        const text = await fs.readText('archive/2026/today.md');
        await fs.remove('data/blob.bin');
        const root = (await fs.list('')).map(e => e.name + ':' + e.kind);
        return { replaced, bytes, listed, kind: stat.kind, size: stat.size, fresh: stat.modifiedMs > 0, text, root };
        "#,
    );
    assert_eq!(out["replaced"], 1);
    assert_eq!(out["bytes"], serde_json::json!([0, 1, 255]));
    assert_eq!(out["listed"][0]["name"], "today.md");
    assert_eq!(out["kind"], "file");
    assert_eq!(out["size"], 8);
    assert_eq!(out["fresh"], true);
    assert_eq!(out["text"], "one\nTWO\n");
    assert_eq!(
        out["root"],
        serde_json::json!(["archive:dir", "data:dir", "notes:dir"])
    );
    assert_eq!(
        std::fs::read_to_string(world.workspace.join("archive/2026/today.md")).expect("on disk"),
        "one\nTWO\n"
    );
}

#[test]
fn escape_attempts_get_typed_errors_and_touch_nothing_outside() {
    let world = World::new();
    std::fs::create_dir_all(&world.workspace).expect("workspace");
    let outside = world.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret.txt"), "outside").expect("outside file");
    let before = listing(world.dir.path());

    for (path, code) in [
        ("'../outside/secret.txt'", "invalid"),
        ("'a/../../outside/secret.txt'", "invalid"),
        ("'/etc/passwd'", "invalid"),
        ("'a\\u0000b'", "invalid"),
        ("'a\\nb'", "invalid"),
        ("'CON'", "invalid"),
        ("'notes/nul.txt'", "invalid"),
        ("'x'.repeat(300)", "invalid"),
        ("'a\\\\..\\\\..\\\\outside'", "invalid"),
        ("'secrets/key'", "denied"),
    ] {
        for (function, extra) in [("readText", ""), ("writeText", ", 'x'"), ("stat", "")] {
            let out = call(&world, function, &format!("{path}{extra}"));
            assert_eq!(out["code"], code, "fs.{function}({path}): {out}");
        }
    }
    let out = call(&world, "move", "'../outside/secret.txt', 'stolen.txt'");
    assert_eq!(out["code"], "invalid", "{out}");
    assert_eq!(
        listing(world.dir.path()),
        before,
        "nothing changed anywhere"
    );
}

#[test]
fn symlinks_are_never_followed_in_or_out() {
    let world = World::new();
    let ws = &world.workspace;
    std::fs::create_dir_all(ws.join("notes")).expect("notes");
    std::fs::create_dir_all(ws.join("secrets")).expect("secrets");
    std::fs::write(ws.join("secrets/key"), "hunter2").expect("key");
    let outside = world.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("file.txt"), "outside").expect("outside file");
    symlink(&outside, ws.join("out")).expect("link out");
    symlink("../secrets/key", ws.join("notes/key")).expect("link to a denied file");
    symlink("loop-b", ws.join("loop-a")).expect("loop a");
    symlink("loop-a", ws.join("loop-b")).expect("loop b");

    for args in ["'out/file.txt'", "'notes/key'", "'loop-a'", "'loop-a/x'"] {
        let out = call(&world, "readText", args);
        assert_eq!(out["code"], "denied", "{args}: {out}");
        assert_eq!(out["rule"], "workspace-boundary", "{args}: {out}");
    }
    for (function, args) in [
        ("writeText", "'out/new.txt', 'x'"),
        ("appendText", "'out/file.txt', 'x'"),
        ("mkdir", "'out/sub'"),
        ("list", "'out'"),
        ("move", "'notes/key', 'stolen'"),
    ] {
        let out = call(&world, function, args);
        assert_eq!(out["code"], "denied", "fs.{function}({args}): {out}");
    }
    assert!(!outside.join("new.txt").exists() && !outside.join("sub").exists());
    assert_eq!(
        std::fs::read_to_string(outside.join("file.txt")).expect("unchanged"),
        "outside"
    );
    // A link itself can be seen and removed (never its target).
    let listed = call(&world, "list", "''");
    assert!(
        listed.to_string().contains("\"kind\":\"symlink\""),
        "{listed}"
    );
    assert_eq!(
        call(&world, "remove", "'out'")["ok"],
        serde_json::Value::Null
    );
    assert!(outside.join("file.txt").exists(), "the target survived");
}

#[test]
fn hard_links_to_files_are_refused() {
    let world = World::new();
    std::fs::create_dir_all(&world.workspace).expect("workspace");
    let outside = world.dir.path().join("outside.txt");
    std::fs::write(&outside, "outside").expect("outside");
    std::fs::hard_link(&outside, world.workspace.join("linked.txt")).expect("hard link");
    for (function, args) in [
        ("readText", "'linked.txt'"),
        ("writeText", "'linked.txt', 'x'"),
        ("appendText", "'linked.txt', 'x'"),
        ("edit", "'linked.txt', 'out', 'in'"),
    ] {
        let out = call(&world, function, args);
        assert_eq!(out["rule"], "workspace-boundary", "fs.{function}: {out}");
    }
    assert_eq!(std::fs::read_to_string(&outside).expect("read"), "outside");
}

#[test]
fn sizes_and_kinds_get_clear_errors() {
    let world = World::new();
    std::fs::create_dir_all(world.workspace.join("dir")).expect("dir");
    let big = std::fs::File::create(world.workspace.join("big.bin")).expect("big");
    big.set_len(clambot::tools::fs::MAX_FILE_BYTES + 1)
        .expect("size");
    std::fs::write(world.workspace.join("bin.dat"), [0xff, 0xfe, 0x00]).expect("binary");
    std::fs::write(world.workspace.join("taken.txt"), "x").expect("taken");
    std::fs::write(world.workspace.join("dir/inner.txt"), "x").expect("inner");
    for (function, args, code) in [
        ("readBytes", "'big.bin'", "limit"),
        ("readText", "'bin.dat'", "invalid"),
        ("readText", "'dir'", "invalid"),
        ("readText", "'missing.txt'", "not-found"),
        ("remove", "'dir'", "invalid"),
        ("remove", "''", "invalid"),
        ("move", "'bin.dat', 'taken.txt'", "invalid"),
        ("edit", "'taken.txt', '', 'y'", "invalid"),
        ("writeText", "'taken.txt/child', 'x'", "invalid"),
    ] {
        let out = call(&world, function, args);
        assert_eq!(out["code"], code, "fs.{function}({args}): {out}");
    }
}

/// Every path under `dir` with its contents, to prove nothing changed.
fn listing(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.ends_with("data") {
            continue; // the database and audit log, which change with every run
        }
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        if meta.is_dir() {
            out.push((path.display().to_string(), Vec::new()));
            out.extend(listing(&path));
        } else if meta.is_file() {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn swapping_a_directory_for_a_link_during_calls_never_escapes() {
    let world = World::new();
    let ws = world.workspace.clone();
    std::fs::create_dir_all(ws.join("box")).expect("box");
    std::fs::write(ws.join("box/file.txt"), "inside").expect("inside file");
    let outside = world.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("file.txt"), "OUTSIDE").expect("outside file");
    let before = listing(&outside);

    // A racer flips `box` between a real directory and a link to `outside`.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let (ws, outside, stop) = (ws.clone(), outside.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let (real, link) = (ws.join("box-real"), ws.join("box"));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::rename(&link, &real);
                let _ = symlink(&outside, &link);
                std::thread::yield_now();
                let _ = std::fs::remove_file(&link);
                let _ = std::fs::rename(&real, &link);
            }
        })
    };
    let out = world.ok(
        POLICY,
        r#"
        const seen = new Set();
        for (let i = 0; i < 300; i++) {
            try { seen.add(await fs.readText('box/file.txt')) } catch (e) { seen.add(e.code) }
            try { await fs.writeText('box/planted.txt', 'x'); seen.add('wrote') } catch (e) { seen.add(e.code) }
        }
        return [...seen];
        "#,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().expect("racer");
    eprintln!("outcomes under the race: {out}");
    assert!(
        !out.to_string().contains("OUTSIDE"),
        "a read went outside: {out}"
    );
    assert_eq!(
        listing(&outside),
        before,
        "nothing was written outside: {out}"
    );
}

//! The JavaScript environment a script sees is a standard engine's (what still
//! differs is listed, with its reason, in docs/js-api.md), and a script's own
//! names cannot break or subvert the prelude that provides the host globals.
//! Tested against the real guest in wasmtime.

mod common;

use clambot::gate::GateSetup;
use clambot::policy::Policy;
use clambot::sandbox::{RunError, RunRequest};
use serde_json::{Value, json};

/// Runs `source` under `policy` (deny-all when `None`) and returns its value.
fn value(source: &str, policy: Option<&str>) -> Value {
    let mut request = RunRequest::new(source);
    if let Some(policy) = policy {
        request.gate =
            GateSetup::with_policy(Policy::parse("test.toml", policy).expect("test policy parses"));
    }
    let outcome = common::run(&request);
    let json = outcome.result.unwrap_or_else(|e| {
        panic!(
            "the script fails: {}\n{}",
            e.report(),
            outcome.console.text()
        )
    });
    serde_json::from_str(&json).expect("the result is JSON")
}

const LOG_ALLOWED: &str = "version = 1\n[[allow]]\ncall = \"log.*\"\n";

#[test]
fn weak_ref_and_finalization_registry_are_standard() {
    let got = value(
        "const target = { n: 1 };
         const ref = new WeakRef(target);
         const registry = new FinalizationRegistry(() => {});
         registry.register(target, 'held', target);
         return {
           deref: ref.deref() === target,
           tag: Object.prototype.toString.call(ref),
           registryTag: Object.prototype.toString.call(registry),
           unregistered: registry.unregister(target),
           primitiveRefused: (() => { try { new WeakRef(1); return false } catch (e) { return e instanceof TypeError } })(),
         };",
        None,
    );
    assert_eq!(
        got,
        json!({"deref": true, "tag": "[object WeakRef]", "registryTag": "[object FinalizationRegistry]",
               "unregistered": true, "primitiveRefused": true})
    );
}

#[test]
fn atob_and_btoa_round_trip_and_refuse_bad_input_with_dom_exceptions() {
    let got = value(
        "const fails = (f) => { try { f(); return null } catch (e) {
           return { name: e.name, isDom: e instanceof DOMException, code: e.code } } };
         return {
           encoded: btoa('hello, world'),
           decoded: atob('aGVsbG8sIHdvcmxk'),
           binary: atob(btoa('\\u00ff\\u0000\\u0080')) === '\\u00ff\\u0000\\u0080',
           whitespace: atob(' aGk = '),
           unpadded: atob('aGk'),
           notLatin1: fails(() => btoa('€')),
           badAlphabet: fails(() => atob('a*b=')),
           badLength: fails(() => atob('a')),
           names: [atob.name, atob.length, btoa.name, btoa.length],
         };",
        None,
    );
    let dom = json!({"name": "InvalidCharacterError", "isDom": true, "code": 5});
    assert_eq!(
        got,
        json!({"encoded": "aGVsbG8sIHdvcmxk", "decoded": "hello, world", "binary": true,
               "whitespace": "hi", "unpadded": "hi", "notLatin1": dom, "badAlphabet": dom,
               "badLength": dom, "names": ["atob", 1, "btoa", 1]})
    );
}

#[test]
fn math_random_and_host_functions_have_their_names_and_lengths() {
    let got = value(
        "const r = Math.random();
         return {
           random: [Math.random.name, Math.random.length, r >= 0 && r < 1],
           fetch: [http.fetch.name, http.fetch.length, http.fetchSync.name],
           edit: [fs.edit.name, fs.edit.length, fs.editSync.length],
           list: [cron.list.name, cron.list.length],
           console: [console.log.name, console.log.length],
           tool: tools.units.convert.name,
         };",
        None,
    );
    assert_eq!(
        got,
        json!({"random": ["random", 0, true], "fetch": ["fetch", 1, "fetchSync"],
               "edit": ["edit", 3, 3], "list": ["list", 0], "console": ["log", 0],
               "tool": "convert"})
    );
}

#[test]
fn host_globals_are_ordinary_properties_but_the_host_objects_are_frozen() {
    let got = value(
        "const names = ['http', 'fs', 'cron', 'memory', 'secrets', 'log', 'tools', 'console', 'ToolError'];
         const d = names.map((n) => Object.getOwnPropertyDescriptor(globalThis, n));
         return {
           writable: d.every((p) => p.writable),
           configurable: d.every((p) => p.configurable),
           enumerable: d.some((p) => p.enumerable),
           enumerableGlobals: Object.keys(globalThis),
           frozen: [http, fs, cron, memory, secrets, log, console].every(Object.isFrozen),
           fetchKept: (() => { try { http.fetch = 1 } catch (_) {} return typeof http.fetch })(),
         };",
        None,
    );
    assert_eq!(
        got,
        json!({"writable": true, "configurable": true, "enumerable": false,
               "enumerableGlobals": [], "frozen": true, "fetchKept": "function"})
    );
}

#[test]
fn a_script_may_declare_the_names_of_host_globals() {
    // Each declaration form a script may use for its own `log`, `fs`, `http`…,
    // then the prelude's services still work: console, host calls, ToolError.
    let got = value(
        "var log = 1;
         function fs() { return 'mine'; }
         let http = { mine: true };
         const memory = 'mine';
         var ToolErrorCopy = ToolError;
         console.log('still printing');
         let denied;
         try { await globalThis.memory.recall('x', 1) } catch (e) {
           denied = [e instanceof ToolError, e.code, e.name];
         }
         globalThis.log.writeSync('info', 'logged');
         return { log, fs: fs(), http, memory, denied };",
        Some(LOG_ALLOWED),
    );
    assert_eq!(
        got,
        json!({"log": 1, "fs": "mine", "http": {"mine": true}, "memory": "mine",
               "denied": [true, "denied", "ToolError"]})
    );
}

#[test]
fn a_script_that_replaces_globals_and_builtins_cannot_subvert_the_prelude() {
    // The script replaces every global and built-in the prelude's functions use
    // when called; console output, host calls and their errors are unchanged
    // (an unknown tool is `not-found`, thrown as the prelude's ToolError).
    let source = "
        const realToolError = ToolError;
        const { writeSync } = log;
        const memoryRecall = memory.recall;
        globalThis.ToolError = class Fake extends Error {};
        globalThis.log = null;
        globalThis.memory = undefined;
        globalThis.console2 = console;
        globalThis.console = { log() { throw new Error('replaced console') } };
        JSON.stringify = () => { throw new Error('replaced JSON.stringify') };
        JSON.parse = () => { throw new Error('replaced JSON.parse') };
        Promise.resolve = () => { throw new Error('replaced Promise.resolve') };
        Promise.reject = () => { throw new Error('replaced Promise.reject') };
        Function.prototype.apply = () => { throw new Error('replaced apply') };
        Reflect.apply = () => { throw new Error('replaced Reflect.apply') };
        Array.prototype.map = () => { throw new Error('replaced map') };
        Array.prototype.join = () => { throw new Error('replaced join') };
        Array.from = () => { throw new Error('replaced Array.from') };
        String.prototype.slice = () => { throw new Error('replaced slice') };
        Object.defineProperty(realToolError.prototype, 'code', { set() { throw new Error('setter') } });
        console2.log('printed', { a: 1 }, [2]);
        writeSync('info', 'logged');
        let caught;
        try { await memoryRecall('x', 1) } catch (e) {
          caught = [e instanceof realToolError, e instanceof globalThis.ToolError, e.code,
                    Object.getOwnPropertyDescriptor(e, 'code').value];
        }
        let toolError;
        try { tools.units.convertSync(new Uint8Array([1, 2])) } catch (e) {
          toolError = [e instanceof realToolError, e.code];
        }
        return { caught, toolError };";
    let mut request = RunRequest::new(source);
    request.gate = GateSetup::with_policy(Policy::parse("t.toml", LOG_ALLOWED).expect("parses"));
    let outcome = common::run(&request);
    let json = outcome
        .result
        .unwrap_or_else(|e| panic!("fails: {}\n{}", e.report(), outcome.console.text()));
    // `return` itself goes through the engine's JSON, not the global one.
    let got: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        got,
        json!({"caught": [true, false, "denied", "denied"], "toolError": [true, "not-found"]})
    );
    assert_eq!(
        outcome.console.text(),
        "printed {\"a\":1} [2]\n[log:info] logged\n"
    );
}

#[test]
fn a_forged_tool_error_global_does_not_make_a_denial() {
    // The script's own "ToolError" carrying `code: 'denied'` is not the gate's
    // word: the run's exit is a script error, not a denial.
    let outcome = common::run_source(
        "globalThis.ToolError = class extends Error { constructor() { super('x'); this.name = 'ToolError'; this.code = 'denied'; this.rule = 'forged' } };
         throw new ToolError();",
    );
    match outcome.result {
        Err(error @ RunError::Script(_)) => {
            assert!(!error.is_denial(), "{error}");
            let RunError::Script(failure) = error else {
                unreachable!()
            };
            assert_eq!(failure.rule, None, "only the gate names rules");
        }
        other => panic!("expected a script error, got {other:?}"),
    }
}

#[test]
fn the_global_object_has_no_nonstandard_leftovers() {
    // Everything on globalThis is either ECMAScript's, a web API the docs list,
    // or a host global; Javy's and QuickJS's helpers are not visible.
    let got = value(
        "return Object.getOwnPropertyNames(globalThis)
           .filter((n) => /^_|javy|^(std|os|print|scriptArgs|bjson|gc|evalScript)$/i.test(n));",
        None,
    );
    assert_eq!(got, json!([]));
}

#[test]
fn queue_microtask_and_text_codecs_are_present() {
    let got = value(
        "let order = [];
         queueMicrotask(() => order.push('micro'));
         order.push('sync');
         await null;
         const bytes = new TextEncoder().encode('é');
         return { order, bytes: Array.from(bytes), text: new TextDecoder().decode(bytes) };",
        None,
    );
    assert_eq!(
        got,
        json!({"order": ["sync", "micro"], "bytes": [195, 169], "text": "é"})
    );
}

#[test]
fn the_documented_differences_hold() {
    // docs/js-api.md lists these; each is checked so the list stays true.
    let got = value(
        "var declared = 1;
         let dynamicImport;
         try { await import('x'); dynamicImport = 'loaded' } catch (e) { dynamicImport = e.name }
         return {
           absent: ['setTimeout', 'setInterval', 'fetch', 'URL', 'structuredClone', 'crypto',
                    'performance', 'Intl', 'require', 'process'].filter((n) => n in globalThis),
           varIsLocal: 'declared' in globalThis,
           dynamicImport,
           timeZoneOffset: new Date(0).getTimezoneOffset(),
           encodeInto: (() => { try { new TextEncoder().encodeInto('a', new Uint8Array(1)); return 'works' } catch (_) { return 'throws' } })(),
         };",
        None,
    );
    assert_eq!(
        got,
        json!({"absent": [], "varIsLocal": false, "dynamicImport": "ReferenceError",
               "timeZoneOffset": 0, "encodeInto": "throws"})
    );
}

// expect: {"replaced": "function", "added": "undefined", "consoleLog": "function", "frozen": true, "reassigned": true, "stillWorks": "denied"}
"use strict";
// The host objects are frozen; the globals holding them are ordinary ones, so a
// script may rebind `http` (its own business) without touching the real object.
const real = http;
try { http.fetch = () => 1; } catch (_) {}
try { http.extra = 1; } catch (_) {}
try { console.log = null; } catch (_) {}
const before = { replaced: typeof http.fetch, added: typeof http.extra, consoleLog: typeof console.log, frozen: Object.isFrozen(fs) };
globalThis.http = {};
let stillWorks;
try { await real.fetchText("https://example.org/"); } catch (e) { stillWorks = e.code; }
return { ...before, reassigned: globalThis.http !== real, stillWorks };

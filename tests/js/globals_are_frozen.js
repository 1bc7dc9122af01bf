// expect: {"replaced": "function", "added": "undefined", "consoleLog": "function", "frozen": true}
"use strict";
let replaced, added;
try { http.fetch = () => 1; } catch (_) {}
try { http.extra = 1; } catch (_) {}
try { globalThis.http = {}; } catch (_) {}
try { console.log = null; } catch (_) {}
return { replaced: typeof http.fetch, added: typeof http.extra, consoleLog: typeof console.log, frozen: Object.isFrozen(fs) };

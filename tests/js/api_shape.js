// expect: {"http": ["fetch", "fetchSync", "fetchText", "fetchTextSync"], "log": ["write", "writeSync"], "secrets": ["has", "hasSync", "list", "listSync"]}
const names = (o) => Object.keys(o).sort();
return { http: names(http), log: names(log), secrets: names(secrets) };

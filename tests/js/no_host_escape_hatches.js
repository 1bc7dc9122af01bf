// expect: {"require": "undefined", "process": "undefined", "fetch": "undefined", "Deno": "undefined", "Javy": "undefined", "std": "undefined", "os": "undefined"}
return {
  require: typeof require, process: typeof process, fetch: typeof fetch, Deno: typeof Deno,
  Javy: typeof Javy, std: typeof std, os: typeof os,
};

// Installed once, before pre-initialisation; every run starts from this state.
// It turns the native host functions into globals and provides console and
// ToolError. Nothing here grants anything: the host gates every call.
//
// The globals are ordinary ones, as `console` is in a browser or Node
// (writable, configurable, not enumerable): a script may declare its own `log`,
// `fs` or `http`, or replace one. The host objects themselves are frozen. What
// the functions below use when a script calls them is captured here, before any
// script runs, so a script that replaces a global or a built-in method
// (`ToolError`, `JSON.stringify`, `Function.prototype.apply`, ...) changes only
// its own code, never the prelude's. Returns the private ToolError class, which
// the native side throws host errors with.
(function (native, nativeAsync, write) {
  "use strict";

  const { apply, defineProperty } = Reflect;
  const { freeze, keys } = Object;
  const { parse: jsonParse, stringify: jsonStringify } = JSON;
  const promiseReject = Promise.reject.bind(Promise);
  const promiseThen = Promise.prototype.then;
  const isView = ArrayBuffer.isView;
  const arrayFrom = Array.from;
  const text = String;
  const sliceOf = String.prototype.slice;
  const slice = (string, start, end) => apply(sliceOf, string, [start, end]);
  const ArrayClass = Array;
  const ErrorClass = Error;
  const ArrayBufferClass = ArrayBuffer;
  const DataViewClass = DataView;
  const Uint8ArrayClass = Uint8Array;
  const ProxyClass = Proxy;

  const data = (object, name, value, enumerable) =>
    defineProperty(object, name, { value, writable: true, enumerable, configurable: true });

  class ToolError extends ErrorClass {
    constructor(code, message, rule) {
      super(message);
      // Own data properties: a setter a script puts on ToolError.prototype
      // cannot intercept them.
      data(this, "name", "ToolError", true);
      data(this, "code", code, true);
      if (rule !== undefined && rule !== null) data(this, "rule", rule, true);
    }
  }

  // A global, the way a standard engine defines its own.
  const global = (name, value) =>
    defineProperty(globalThis, name, {
      value,
      writable: true,
      enumerable: false,
      configurable: true,
    });

  // `name` and `length` as a function declared with that name and arity would have.
  const named = (fn, name, length) => {
    defineProperty(fn, "name", { value: name, configurable: true });
    defineProperty(fn, "length", { value: length, configurable: true });
    return fn;
  };

  const camel = (name) => {
    let out = "";
    for (let i = 0; i < name.length; i++) {
      if (name[i] === "-" && i + 1 < name.length) {
        out += name[++i].toUpperCase();
      } else {
        out += name[i];
      }
    }
    return out;
  };

  // `nativeAsync` has the same functions: each checks its arguments, queues
  // the call and returns a promise; the guest's job loop starts queued calls
  // together when the script waits, so `Promise.all` overlaps them on the host.
  const { components, mcp, ...interfaces } = native;
  const componentsCall = components.call;
  const componentsStart = nativeAsync.components.call;
  const mcpCall = mcp.call;
  const mcpStart = nativeAsync.mcp.call;
  for (const iface of keys(interfaces)) {
    const functions = interfaces[iface];
    const starts = nativeAsync[iface];
    const api = {};
    for (const witName of keys(functions)) {
      const call = functions[witName];
      const start = starts[witName];
      const name = camel(witName);
      // `arguments` rather than rest: no array is built per call (the
      // awaited-call benchmark is sensitive to it).
      api[name] = named(
        function () {
          try {
            return apply(start, undefined, arguments);
          } catch (error) {
            return promiseReject(error);
          }
        },
        name,
        call.length,
      );
      api[name + "Sync"] = named(
        function () {
          return apply(call, undefined, arguments);
        },
        name + "Sync",
        call.length,
      );
    }
    global(iface, freeze(api));
  }

  // Tool components: `tools.NAME.fn(...)` returns a Promise and `tools.NAME.fnSync(...)`
  // the value, like the host interfaces. Names may be WIT spellings (`tools["my-tool"]`)
  // or camelCase; the host resolves them against the tool's WIT. Arguments travel as
  // a JSON array; typed arrays become arrays of numbers (WIT `list<u8>`).
  const numbers = (view) => apply(arrayFrom, ArrayClass, [view]);
  const asJson = (_key, value) => {
    if (value instanceof ArrayBufferClass) return numbers(new Uint8ArrayClass(value));
    if (isView(value) && !(value instanceof DataViewClass)) return numbers(value);
    return value;
  };
  const callTool = (tool, fn, args) =>
    jsonParse(componentsCall(tool, fn, jsonStringify(args, asJson)));
  const parseResult = (json) => jsonParse(json);
  const startTool = (tool, fn, args) =>
    apply(promiseThen, componentsStart(tool, fn, jsonStringify(args, asJson)), [parseResult]);
  // `then` and `toJSON` stay undefined so `await tools.x` and JSON.stringify behave.
  const isToolName = (name) => typeof name === "string" && name !== "then" && name !== "toJSON";
  const readOnly = (get) =>
    new ProxyClass(freeze({}), {
      get: (_target, name) => (isToolName(name) ? get(name) : undefined),
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
    });
  const toolFunctions = (tool) =>
    readOnly((name) => {
      if (name.length > 4 && slice(name, -4) === "Sync") {
        const fn = slice(name, 0, -4);
        return named((...args) => callTool(tool, fn, args), name, 0);
      }
      return named(
        function (...args) {
          try {
            return startTool(tool, name, args);
          } catch (error) {
            return promiseReject(error);
          }
        },
        name,
        0,
      );
    });
  global("tools", readOnly(toolFunctions));

  // MCP servers: `mcp.NAME.tool(args)` returns a Promise and `mcp.NAME.toolSync(args)`
  // the value. A tool takes one object of named arguments (its JSON Schema's
  // properties); server and tool names may be spelled as declared (`mcp["my-server"]`)
  // or camelCase, which the host resolves.
  const mcpArgs = (args) => jsonStringify(args === undefined ? {} : args, asJson);
  const callMcp = (server, tool, args) => jsonParse(mcpCall(server, tool, mcpArgs(args)));
  const startMcp = (server, tool, args) =>
    apply(promiseThen, mcpStart(server, tool, mcpArgs(args)), [parseResult]);
  const mcpTools = (server) =>
    readOnly((name) => {
      if (name.length > 4 && slice(name, -4) === "Sync") {
        const tool = slice(name, 0, -4);
        return named((args) => callMcp(server, tool, args), name, 1);
      }
      return named(
        function (args) {
          try {
            return startMcp(server, name, args);
          } catch (error) {
            return promiseReject(error);
          }
        },
        name,
        1,
      );
    });
  global("mcp", readOnly(mcpTools));

  const show = (value) => {
    if (typeof value === "string") return value;
    if (value instanceof ErrorClass) {
      const stack = value.stack;
      return stack ? `${value.name}: ${value.message}\n${stack}` : text(value);
    }
    try {
      const json = jsonStringify(value);
      return json === undefined ? text(value) : json;
    } catch (_) {
      return text(value);
    }
  };
  const line = (args) => {
    let out = "";
    for (let i = 0; i < args.length; i++) out += (i === 0 ? "" : " ") + show(args[i]);
    return out + "\n";
  };
  const STDOUT = 1;
  const STDERR = 2;

  global(
    "console",
    freeze({
      log: (...args) => write(STDOUT, line(args)),
      info: (...args) => write(STDOUT, line(args)),
      debug: (...args) => write(STDOUT, line(args)),
      warn: (...args) => write(STDERR, line(args)),
      error: (...args) => write(STDERR, line(args)),
    }),
  );
  global("ToolError", ToolError);
  return ToolError;
})

// Installed once, before pre-initialisation; every run starts from this state.
// It turns the native host functions into frozen globals and provides console
// and ToolError. Nothing here grants anything: the host gates every call.
(function (native, write) {
  "use strict";

  class ToolError extends Error {
    constructor(code, message, rule) {
      super(message);
      this.name = "ToolError";
      this.code = code;
      if (rule !== undefined && rule !== null) this.rule = rule;
    }
  }

  const constant = (object, name, value) =>
    Object.defineProperty(object, name, {
      value,
      writable: false,
      enumerable: false,
      configurable: false,
    });

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

  const { components, ...interfaces } = native;
  for (const iface of Object.keys(interfaces)) {
    const functions = interfaces[iface];
    const api = {};
    for (const witName of Object.keys(functions)) {
      const call = functions[witName];
      const name = camel(witName);
      // `arguments` and `apply` rather than rest and spread: no array is built
      // per call (the awaited-call benchmark is sensitive to it).
      api[name] = function () {
        try {
          return Promise.resolve(call.apply(undefined, arguments));
        } catch (error) {
          return Promise.reject(error);
        }
      };
      api[name + "Sync"] = function () {
        return call.apply(undefined, arguments);
      };
    }
    constant(globalThis, iface, Object.freeze(api));
  }

  // Tool components: `tools.NAME.fn(...)` returns a Promise and `tools.NAME.fnSync(...)`
  // the value, like the host interfaces. Names may be WIT spellings (`tools["my-tool"]`)
  // or camelCase; the host resolves them against the tool's WIT. Arguments travel as
  // a JSON array; typed arrays become arrays of numbers (WIT `list<u8>`).
  const asJson = (_key, value) => {
    if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value);
    return value;
  };
  const callTool = (tool, fn, args) =>
    JSON.parse(components.call(tool, fn, JSON.stringify(args, asJson)));
  // `then` and `toJSON` stay undefined so `await tools.x` and JSON.stringify behave.
  const isToolName = (name) => typeof name === "string" && name !== "then" && name !== "toJSON";
  const readOnly = (get) =>
    new Proxy(Object.freeze({}), {
      get: (_target, name) => (isToolName(name) ? get(name) : undefined),
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
    });
  const toolFunctions = (tool) =>
    readOnly((name) => {
      if (name.length > 4 && name.endsWith("Sync")) {
        const fn = name.slice(0, -4);
        return (...args) => callTool(tool, fn, args);
      }
      return function (...args) {
        try {
          return Promise.resolve(callTool(tool, name, args));
        } catch (error) {
          return Promise.reject(error);
        }
      };
    });
  constant(globalThis, "tools", readOnly(toolFunctions));

  const show = (value) => {
    if (typeof value === "string") return value;
    if (value instanceof Error) {
      return value.stack ? `${value.name}: ${value.message}\n${value.stack}` : String(value);
    }
    try {
      const json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    } catch (_) {
      return String(value);
    }
  };
  const line = (args) => args.map(show).join(" ") + "\n";
  const STDOUT = 1;
  const STDERR = 2;

  constant(
    globalThis,
    "console",
    Object.freeze({
      log: (...args) => write(STDOUT, line(args)),
      info: (...args) => write(STDOUT, line(args)),
      debug: (...args) => write(STDOUT, line(args)),
      warn: (...args) => write(STDERR, line(args)),
      error: (...args) => write(STDERR, line(args)),
    }),
  );
  constant(globalThis, "ToolError", ToolError);
})

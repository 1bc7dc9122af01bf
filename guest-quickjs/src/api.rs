//! The host functions as JavaScript: one native function per WIT import, grouped
//! by interface. The prelude wraps them into the frozen globals (`http.fetch`,
//! `http.fetchSync`, …). Adding a function to the WIT means adding one line here;
//! the build fails if the line does not match the generated binding, and a host
//! test fails if the import list and this table disagree.

use javy::quickjs::{Ctx, Exception, Function, Object, Value, function::Rest};

use crate::clambot::host::{components, cron, fs, http, log, mcp, memory, secrets, types};
use crate::wire::{self, Wire, wire_enum, wire_record, wire_variant};

wire_record!(types::Denial { rule: "rule", reason: "reason" });
wire_record!(http::Header { name: "name", value: "value" });
wire_record!(http::Request {
    method: "method",
    url: "url",
    headers: "headers",
    body: "body",
    bearer_secret: "bearerSecret",
});
wire_record!(http::Response { status: "status", headers: "headers", body: "body" });
wire_enum!(fs::EntryKind { File: "file", Dir: "dir", Symlink: "symlink" });
wire_record!(fs::DirEntry { name: "name", kind: "kind", size: "size" });
wire_record!(fs::Metadata { kind: "kind", size: "size", modified_ms: "modifiedMs" });
wire_record!(cron::CronSpec { expr: "expr", timezone: "timezone" });
wire_variant!(cron::Schedule { Cron(cron::CronSpec): "cron", Every(u64): "every", At(String): "at" });
wire_record!(cron::ClamCall { clam: "clam", args_json: "argsJson" });
wire_variant!(cron::Action { Clam(cron::ClamCall): "clam", Prompt(String): "prompt" });
wire_record!(cron::JobSpec { name: "name", schedule: "schedule", action: "action", once: "once" });
wire_record!(cron::Job {
    id: "id",
    name: "name",
    schedule: "schedule",
    action: "action",
    enabled: "enabled",
    next_run_ms: "nextRunMs",
});
wire_record!(memory::Fact { id: "id", text: "text", created_ms: "createdMs" });
wire_record!(memory::HistoryEntry { role: "role", text: "text", created_ms: "createdMs" });
wire_enum!(log::Level { Debug: "debug", Info: "info", Warn: "warn", Error: "error" });

/// Defines the native host functions: `"wit-name" => |arg: Type, …| call;`.
/// Each gets two: the blocking one, and the async one, which checks the
/// arguments the same way and queues the call (see `pending`).
macro_rules! host_api {
    ($( $iface:ident { $( $name:literal => |$($arg:ident : $ty:ty),*| $call:expr; )* } )*) => {
        /// Builds `{ interface: { "wit-name": nativeFunction } }` of the
        /// blocking functions (`blocking`) or of the async ones.
        pub fn native_table<'js>(ctx: &Ctx<'js>, blocking: bool) -> javy::quickjs::Result<Object<'js>> {
            let table = Object::new(ctx.clone())?;
            $(
                let functions = Object::new(ctx.clone())?;
                $({
                    const ARITY: usize = <[&str]>::len(&[$(stringify!($arg)),*]);
                    let function = if blocking {
                        Function::new(
                            ctx.clone(),
                            |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> javy::quickjs::Result<Value<'js>> {
                                const FUNCTION: &str = concat!(stringify!($iface), ".", $name);
                                wire::no_more_args(&args, ARITY).map_err(|e| e.throw(&ctx, FUNCTION))?;
                                #[allow(unused_mut, unused_variables, reason = "functions without arguments")]
                                let mut args = args.0.into_iter();
                                $(
                                    let $arg: $ty = wire::take_arg(&ctx, &mut args, stringify!($arg))
                                        .map_err(|e| e.throw(&ctx, FUNCTION))?;
                                )*
                                // Calls the script made before this one start first.
                                crate::pending::flush(&ctx)?;
                                finish(&ctx, $call)
                            },
                        )?
                    } else {
                        Function::new(
                            ctx.clone(),
                            |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> javy::quickjs::Result<Value<'js>> {
                                const FUNCTION: &str = concat!(stringify!($iface), ".", $name);
                                wire::no_more_args(&args, ARITY).map_err(|e| e.throw(&ctx, FUNCTION))?;
                                #[allow(unused_mut, unused_variables, reason = "functions without arguments")]
                                let mut args = args.0.into_iter();
                                $(
                                    let $arg: $ty = wire::take_arg(&ctx, &mut args, stringify!($arg))
                                        .map_err(|e| e.throw(&ctx, FUNCTION))?;
                                )*
                                crate::pending::queue(&ctx, Box::new(crate::pending::Deferred {
                                    function: FUNCTION,
                                    args: ($($arg,)*),
                                    now: |($($arg,)*): ($($ty,)*)| $call,
                                    view: |args: &($($ty,)*), out: &mut String| {
                                        #[allow(unused_variables, reason = "functions without arguments")]
                                        let ($($arg,)*) = args;
                                        out.push('{');
                                        let mut _first = true;
                                        $(
                                            if !_first {
                                                out.push(',');
                                            }
                                            _first = false;
                                            wire::view_key(stringify!($arg), out);
                                            wire::View::view($arg, out);
                                        )*
                                        out.push('}');
                                    },
                                }))
                            },
                        )?
                    };
                    functions.set($name, function.with_name($name)?.with_length(ARITY)?)?;
                })*
                table.set(stringify!($iface), functions)?;
            )*
            Ok(table)
        }
    };
}

host_api! {
    http {
        "fetch" => |req: http::Request| http::fetch(&req);
        "fetch-text" => |url: String| http::fetch_text(&url);
    }
    fs {
        "read-text" => |path: String| fs::read_text(&path);
        "read-bytes" => |path: String| fs::read_bytes(&path);
        "write-text" => |path: String, content: String| fs::write_text(&path, &content);
        "write-bytes" => |path: String, content: Vec<u8>| fs::write_bytes(&path, &content);
        "append-text" => |path: String, content: String| fs::append_text(&path, &content);
        "edit" => |path: String, find: String, replace: String| fs::edit(&path, &find, &replace);
        "list" => |path: String| fs::list(&path);
        "stat" => |path: String| fs::stat(&path);
        "remove" => |path: String| fs::remove(&path);
        "mkdir" => |path: String| fs::mkdir(&path);
        "move" => |from: String, to: String| fs::move_(&from, &to);
    }
    cron {
        "add" => |spec: cron::JobSpec| cron::add(&spec);
        "list" => | | cron::list();
        "remove" => |id: String| cron::remove(&id);
        "enable" => |id: String| cron::enable(&id);
        "disable" => |id: String| cron::disable(&id);
    }
    memory {
        "remember" => |text: String| memory::remember(&text);
        "recall" => |query: String, limit: u32| memory::recall(&query, limit);
        "forget" => |id: String| memory::forget(&id);
        "search-history" => |query: String, limit: u32| memory::search_history(&query, limit);
    }
    secrets {
        "list" => | | secrets::list();
        "has" => |name: String| secrets::has(&name);
    }
    log {
        "write" => |level: log::Level, message: String| log::write(level, &message);
    }
    components {
        "call" => |tool: String, function: String, args_json: String| components::call(&tool, &function, &args_json);
    }
    mcp {
        "call" => |server: String, tool: String, args_json: String| mcp::call(&server, &tool, &args_json);
    }
}

/// Returns a host function's value, or throws its error as a `ToolError`.
pub(crate) fn finish<'js, T: Wire>(ctx: &Ctx<'js>, result: Result<T, types::Error>) -> javy::quickjs::Result<Value<'js>> {
    match result {
        Ok(value) => value.to_js(ctx),
        Err(error) => Err(throw_tool_error(ctx, error)),
    }
}

fn throw_tool_error(ctx: &Ctx<'_>, error: types::Error) -> javy::quickjs::Error {
    let (code, message, rule) = match error {
        types::Error::Denied(denial) => ("denied", denial.reason, Some(denial.rule)),
        types::Error::Invalid(message) => ("invalid", message, None),
        types::Error::NotFound(message) => ("not-found", message, None),
        types::Error::Failed(message) => ("failed", message, None),
        types::Error::Limit(message) => ("limit", message, None),
    };
    let constructed = crate::prelude::tool_error(ctx)
        .and_then(|class| class.construct::<_, Value>((code, message.as_str(), rule)));
    match constructed {
        Ok(error) => ctx.throw(error),
        Err(_) => Exception::throw_internal(ctx, &format!("ToolError [{code}]: {message}")),
    }
}

//! TypeScript-style signatures of a tool's functions, for `clambot tools list` and
//! `inspect` and for the agent's prompt (one text for people and the model).
//!
//! The types come from the component itself (so they cannot drift from what the
//! host will convert); the doc comments come from the tool's WIT files beside it.
//! The JSON mapping they describe is the gate's (see `gate::value`).

use std::collections::HashMap;
use std::path::Path;

use wasmtime::component::Type;

use super::camel_case;
use super::tool::{Tool, ToolFunction};
use crate::policy::catalog::scan_wit;

/// The `///` comments of each function in the `.wit` files of `dir`, by WIT name.
pub fn wit_docs(dir: &Path) -> HashMap<String, String> {
    let mut docs = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return docs;
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wit"))
        .collect();
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for function in scan_wit(&text).into_iter().filter_map(|item| item.function) {
            docs.insert(function.name, function.docs);
        }
    }
    docs
}

/// The signatures of every function of `tool`, each with its doc comment.
pub fn signatures(tool: &Tool, docs: &HashMap<String, String>) -> String {
    let mut out = String::new();
    for function in tool.functions.values() {
        if let Some(doc) = docs.get(&function.name).filter(|d| !d.is_empty()) {
            out.push_str(&format!("/** {doc} */\n"));
        }
        out.push_str(&signature(tool.name(), function));
        out.push('\n');
    }
    out
}

/// `tools.textkit.countWords(text: string, top: number /* u8 */): Promise<…>`.
pub fn signature(tool: &str, function: &ToolFunction) -> String {
    let params: Vec<String> = function
        .params
        .iter()
        .map(|(name, ty)| format!("{}: {}", camel_case(name), ts_type(ty)))
        .collect();
    let (returns, throws) = match &function.result {
        None => ("void".to_owned(), String::new()),
        Some(Type::Result(result)) => (
            result.ok().map_or("null".to_owned(), |t| ts_type(&t)),
            format!(
                " // throws ToolError (code \"failed\") with the {} on error",
                result
                    .err()
                    .map_or("no details".to_owned(), |t| ts_type(&t))
            ),
        ),
        Some(other) => (ts_type(other), String::new()),
    };
    let object = if tool.contains('-') {
        format!("tools[\"{tool}\"]")
    } else {
        format!("tools.{tool}")
    };
    format!(
        "{object}.{}({}): Promise<{returns}>;{throws}",
        camel_case(&function.name),
        params.join(", ")
    )
}

/// The JSON shape of a WIT type, TypeScript-style.
pub fn ts_type(ty: &Type) -> String {
    match ty {
        Type::Bool => "boolean".into(),
        Type::S8 => "number /* s8 */".into(),
        Type::U8 => "number /* u8 */".into(),
        Type::S16 => "number /* s16 */".into(),
        Type::U16 => "number /* u16 */".into(),
        Type::S32 => "number /* s32 */".into(),
        Type::U32 => "number /* u32 */".into(),
        Type::S64 => "number /* s64 */".into(),
        Type::U64 => "number /* u64 */".into(),
        Type::Float32 | Type::Float64 => "number".into(),
        Type::Char => "string /* one character */".into(),
        Type::String => "string".into(),
        Type::List(list) => match list.ty() {
            Type::U8 => "number[] /* bytes; a Uint8Array is accepted */".into(),
            item => format!("Array<{}>", ts_type(&item)),
        },
        Type::FixedLengthList(list) => format!("Array<{}>", ts_type(&list.ty())),
        Type::Tuple(tuple) => format!(
            "[{}]",
            tuple
                .types()
                .map(|t| ts_type(&t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Option(option) => format!("{} | null", ts_type(&option.ty())),
        Type::Record(record) => format!(
            "{{ {} }}",
            record
                .fields()
                .map(|f| format!("\"{}\": {}", f.name, ts_type(&f.ty)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Type::Variant(variant) => variant
            .cases()
            .map(|case| match case.ty {
                Some(ty) => format!("{{ \"{}\": {} }}", case.name, ts_type(&ty)),
                None => format!("\"{}\"", case.name),
            })
            .collect::<Vec<_>>()
            .join(" | "),
        Type::Enum(e) => e
            .names()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(" | "),
        Type::Flags(flags) => format!(
            "Array<{}>",
            flags
                .names()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        Type::Result(result) => format!(
            "{{ \"ok\": {} }} | {{ \"err\": {} }}",
            result.ok().map_or("null".to_owned(), |t| ts_type(&t)),
            result.err().map_or("null".to_owned(), |t| ts_type(&t))
        ),
        Type::Map(_)
        | Type::Own(_)
        | Type::Borrow(_)
        | Type::Future(_)
        | Type::Stream(_)
        | Type::ErrorContext => "never /* no JSON form */".into(),
    }
}

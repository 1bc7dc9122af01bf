//! A tool's JSON Schema: the check its arguments must pass before the server
//! sees them, and the TypeScript-style signature people and the model read.
//!
//! The schema comes from the server. It is compiled without any resolver (the
//! `jsonschema` crate's network and file features are off), so a `$ref` can
//! only point inside the schema; a schema that does not compile refuses every
//! call with why, rather than letting unchecked arguments through.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::Value as Json;

/// How deep a signature follows nested objects before writing `object`.
const SIGNATURE_DEPTH: usize = 4;

/// A compiled input schema.
#[derive(Debug, Clone)]
pub struct ToolSchema {
    pub raw: Json,
    validator: Result<Arc<jsonschema::Validator>, String>,
}

impl ToolSchema {
    pub fn new(raw: Json) -> Self {
        let validator = jsonschema::validator_for(&raw)
            .map(Arc::new)
            .map_err(|e| e.to_string());
        Self { raw, validator }
    }

    /// Checks `args`; the error names the first offending argument.
    pub fn check(&self, args: &Json) -> Result<(), String> {
        let validator = self.validator.as_ref().map_err(|e| {
            format!("the server's input schema is not usable ({e}); no call is made")
        })?;
        match validator.validate(args) {
            Ok(()) => Ok(()),
            Err(error) => {
                let path = error.instance_path().to_string();
                let at = if path.is_empty() {
                    "the arguments".to_owned()
                } else {
                    format!("`{}`", path.trim_start_matches('/').replace('/', "."))
                };
                Err(format!("{at} do not fit the tool's schema: {error}"))
            }
        }
    }

    /// `{ message: string; count?: number }`: the argument object's type.
    pub fn argument_type(&self) -> String {
        ts_type(&self.raw, 0)
    }
}

/// `mcp.NAME.tool(args: {…}): Promise<unknown>`, with the description (and
/// each argument's) as comments.
pub fn signature(
    server: &str,
    tool: &str,
    description: Option<&str>,
    schema: &ToolSchema,
) -> String {
    let mut out = String::new();
    if let Some(description) = description.map(str::trim).filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "/** {} */", one_paragraph(description));
    }
    let access = |name: &str| {
        if is_identifier(name) {
            format!(".{name}")
        } else {
            format!("[{}]", Json::String(name.to_owned()))
        }
    };
    let js_tool = super::client::js_name(tool);
    let _ = write!(
        out,
        "mcp{}{}(args: {}): Promise<unknown>",
        access(&crate::components::camel_case(server)),
        access(&js_tool),
        schema.argument_type()
    );
    if js_tool != tool {
        let _ = write!(out, "  // the tool `{tool}`");
    }
    out
}

/// Every tool of a server, one signature each: the text `clambot mcp inspect`
/// prints and the agent's prompt carries.
pub fn signatures(server: &str, tools: &[super::client::ServerTool]) -> String {
    let mut out = String::new();
    for tool in tools {
        let description = tool.description.as_deref().or(tool.title.as_deref());
        out.push_str(&signature(server, &tool.name, description, &tool.schema));
        out.push('\n');
    }
    out
}

fn one_paragraph(text: &str) -> String {
    let joined: Vec<&str> = text.split_whitespace().collect();
    crate::agent::prompt::clip(&joined.join(" "), 600).replace("*/", "* /")
}

fn is_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn ts_type(schema: &Json, depth: usize) -> String {
    let Some(object) = schema.as_object() else {
        return "unknown".into();
    };
    if let Some(values) = object.get("enum").and_then(Json::as_array) {
        let shown: Vec<String> = values.iter().map(Json::to_string).collect();
        return shown.join(" | ");
    }
    if let Some(value) = object.get("const") {
        return value.to_string();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = object.get(key).and_then(Json::as_array) {
            let shown: Vec<String> = options.iter().map(|o| ts_type(o, depth)).collect();
            return shown.join(" | ");
        }
    }
    match object.get("type") {
        Some(Json::Array(types)) => {
            let shown: Vec<String> = types
                .iter()
                .filter_map(Json::as_str)
                .map(|t| simple_type(t, object, depth))
                .collect();
            shown.join(" | ")
        }
        Some(Json::String(t)) => simple_type(t, object, depth),
        _ if object.contains_key("properties") => simple_type("object", object, depth),
        _ => "unknown".into(),
    }
}

fn simple_type(name: &str, object: &serde_json::Map<String, Json>, depth: usize) -> String {
    match name {
        "string" => "string".into(),
        "integer" | "number" => "number".into(),
        "boolean" => "boolean".into(),
        "null" => "null".into(),
        "array" => match object.get("items") {
            Some(items) => {
                let inner = ts_type(items, depth + 1);
                if inner.contains(' ') {
                    format!("({inner})[]")
                } else {
                    format!("{inner}[]")
                }
            }
            None => "unknown[]".into(),
        },
        "object" => {
            let Some(properties) = object.get("properties").and_then(Json::as_object) else {
                return "object".into();
            };
            if depth >= SIGNATURE_DEPTH {
                return "object".into();
            }
            let required: Vec<&str> = object
                .get("required")
                .and_then(Json::as_array)
                .map(|r| r.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let fields: Vec<String> = properties
                .iter()
                .map(|(key, value)| {
                    let shown = if is_identifier(key) {
                        key.clone()
                    } else {
                        Json::String(key.clone()).to_string()
                    };
                    let optional = if required.contains(&key.as_str()) {
                        ""
                    } else {
                        "?"
                    };
                    let comment = value
                        .get("description")
                        .and_then(Json::as_str)
                        .map(|d| {
                            format!(
                                " /* {} */",
                                crate::agent::prompt::clip(&one_paragraph(d), 200)
                            )
                        })
                        .unwrap_or_default();
                    format!("{shown}{optional}: {}{comment}", ts_type(value, depth + 1))
                })
                .collect();
            if fields.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", fields.join("; "))
            }
        }
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_signature_shows_required_and_optional_arguments_with_their_descriptions() {
        let schema = ToolSchema::new(json!({
            "type": "object",
            "properties": {
                "a": { "type": "number", "description": "First number" },
                "mode": { "type": "string", "enum": ["x", "y"] },
                "tags": { "type": "array", "items": { "type": "string" } }
            },
            "required": ["a"]
        }));
        let text = signature("everything", "get-sum", Some("Adds\n two numbers"), &schema);
        assert_eq!(
            text,
            "/** Adds two numbers */\nmcp.everything.getSum(args: { a: number /* First number */; mode?: \"x\" | \"y\"; tags?: string[] }): Promise<unknown>  // the tool `get-sum`"
        );
    }

    #[test]
    fn arguments_outside_the_schema_are_refused_naming_the_argument() {
        let schema = ToolSchema::new(json!({
            "type": "object",
            "properties": { "a": { "type": "number" } },
            "required": ["a"]
        }));
        assert!(schema.check(&json!({ "a": 1 })).is_ok());
        let why = schema.check(&json!({ "a": "one" })).expect_err("refused");
        assert!(why.starts_with("`a` do not fit"), "{why}");
        assert!(schema.check(&json!({})).is_err());
    }

    #[test]
    fn a_remote_reference_is_never_fetched() {
        let schema = ToolSchema::new(json!({ "$ref": "http://127.0.0.1:9/schema.json" }));
        let why = schema.check(&json!({})).expect_err("refused");
        assert!(why.contains("not usable"), "{why}");
    }
}

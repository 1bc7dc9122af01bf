//! Reading what models write. Models wrap JSON in prose and code fences, cut it
//! short, or answer with bare code; each reader here accepts the honest forms
//! and reports anything else as a [`Malformed`] error, never a guess.

use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// Model output that could not be read as what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The selector's choice.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Answer in words; nothing runs.
    Chat { reply: String },
    /// Run a saved clam with these arguments.
    Use { clam: String, args: Json },
    /// Write a new script.
    Generate,
}

/// A generated script and what the model said about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub script: String,
    /// A short kebab-case name, when the model gave one.
    pub name: Option<String>,
    pub description: Option<String>,
    /// The `args` for this request.
    pub args: Json,
}

/// The analyst's verdict on a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The result answers the request; `answer` is for the person.
    Accept { answer: String },
    /// The script is wrong; `instructions` say how to fix it.
    Fix { instructions: String },
    /// The request cannot be met this way; `reason` is for the person.
    Reject { reason: String },
}

/// Every JSON object in `text`, in order: the whole text, then fenced blocks,
/// then objects embedded in prose.
fn json_objects(text: &str) -> Vec<Map<String, Json>> {
    let mut found = Vec::new();
    let trimmed = text.trim();
    if let Ok(Json::Object(map)) = serde_json::from_str(trimmed) {
        found.push(map);
    }
    for block in fenced_blocks(text) {
        if let Ok(Json::Object(map)) = serde_json::from_str(block.body.trim()) {
            found.push(map);
        }
    }
    for (i, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Json>();
        if let Some(Ok(Json::Object(map))) = stream.next() {
            found.push(map);
        }
    }
    found
}

struct Fenced<'a> {
    language: &'a str,
    body: &'a str,
}

/// The bodies of ``` fenced blocks (an unclosed last fence runs to the end).
fn fenced_blocks(text: &str) -> Vec<Fenced<'_>> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let (language, body_start) = match after.find('\n') {
            Some(newline) => (after[..newline].trim(), newline + 1),
            None => break,
        };
        let body = &after[body_start..];
        match body.find("```") {
            Some(end) => {
                blocks.push(Fenced {
                    language,
                    body: &body[..end],
                });
                rest = &body[end + 3..];
            }
            None => {
                blocks.push(Fenced { language, body });
                break;
            }
        }
    }
    blocks
}

fn string_field(map: &Map<String, Json>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| map.get(*k).and_then(Json::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn args_field(map: &Map<String, Json>) -> Json {
    match map.get("args").or_else(|| map.get("inputs")) {
        Some(Json::Object(args)) => Json::Object(args.clone()),
        _ => Json::Object(Map::new()),
    }
}

/// Reads the selector's JSON: `{"decision": "chat"|"use"|"generate", ...}`.
pub fn selection(text: &str) -> Result<Selection, Malformed> {
    let Some(map) = json_objects(text)
        .into_iter()
        .find(|m| m.get("decision").is_some_and(Json::is_string))
    else {
        return Err(Malformed(
            "expected a JSON object with a \"decision\" key".into(),
        ));
    };
    let decision = map["decision"].as_str().unwrap_or_default();
    match decision.to_ascii_lowercase().as_str() {
        "chat" => string_field(&map, &["reply", "answer", "response"])
            .map(|reply| Selection::Chat { reply })
            .ok_or_else(|| Malformed("decision \"chat\" needs a non-empty \"reply\"".into())),
        "use" | "use_existing" | "select_existing" => {
            let clam = string_field(&map, &["clam", "clam_id", "name"])
                .ok_or_else(|| Malformed("decision \"use\" needs a \"clam\" name".into()))?;
            Ok(Selection::Use {
                clam,
                args: args_field(&map),
            })
        }
        "generate" | "generate_new" => Ok(Selection::Generate),
        other => Err(Malformed(format!(
            "unknown decision {other:?}; expected \"chat\", \"use\" or \"generate\""
        ))),
    }
}

/// Reads a generated script: a JSON object with `"script"` (bare, fenced or in
/// prose), else a fenced JavaScript block, else the whole text if it reads as code.
pub fn generated(text: &str) -> Result<Generated, Malformed> {
    if let Some(map) = json_objects(text)
        .into_iter()
        .find(|m| string_field(m, &["script"]).is_some())
    {
        return Ok(Generated {
            script: string_field(&map, &["script"]).unwrap_or_default(),
            name: string_field(&map, &["name"]),
            description: string_field(&map, &["description"]),
            args: args_field(&map),
        });
    }
    // A block labelled JavaScript is code; an unlabelled one must read as code.
    let code_block =
        fenced_blocks(text)
            .into_iter()
            .find(|b| match b.language.to_ascii_lowercase().as_str() {
                "js" | "javascript" | "mjs" => !b.body.trim().is_empty(),
                "" => looks_like_code(b.body),
                _ => false,
            });
    if let Some(block) = code_block {
        return Ok(Generated {
            script: block.body.trim().to_owned(),
            name: None,
            description: None,
            args: Json::Object(Map::new()),
        });
    }
    if looks_like_code(text) && !text.contains("```") {
        return Ok(Generated {
            script: text.trim().to_owned(),
            name: None,
            description: None,
            args: Json::Object(Map::new()),
        });
    }
    Err(Malformed(
        "expected a JSON object with a \"script\" key, or a JavaScript code block".into(),
    ))
}

/// Whether `text` reads as JavaScript rather than prose. Prose that mentions
/// `function` or `return` must never run, so this is strict: the first line
/// starts a statement, and no line ends the way a sentence does.
fn looks_like_code(text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let Some(first) = lines.first() else {
        return false;
    };
    starts_a_statement(first) && lines.iter().all(|line| ends_like_code(line))
}

/// `const x`, `return …`, `await f()`, `// note`, `x = …`, `console.log(…)`.
fn starts_a_statement(line: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "const", "let", "var", "return", "await", "async", "function", "if", "for", "while", "try",
        "throw", "switch", "class",
    ];
    if line.starts_with("//") || line.starts_with("/*") {
        return true;
    }
    let word_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.'))
        .unwrap_or(line.len());
    let (word, rest) = line.split_at(word_end);
    if word.is_empty() {
        return false;
    }
    if KEYWORDS.contains(&word) {
        return rest.is_empty() || rest.starts_with([' ', '(', '{', ';']);
    }
    // An identifier path called or assigned: `log(…)`, `x.y = …`, `n += 1`.
    let rest = rest.trim_start();
    rest.starts_with('(')
        || (rest.starts_with('=') && !rest.starts_with("=="))
        || ["+=", "-=", "*=", "/=", "++", "--"]
            .iter()
            .any(|op| rest.starts_with(op))
}

/// Code lines end in punctuation a sentence does not end with.
fn ends_like_code(line: &str) -> bool {
    if line.starts_with("//") || line.starts_with('*') || line.starts_with("/*") {
        return true;
    }
    line.ends_with([
        ';', '{', '}', '(', ')', '[', ']', ',', '`', '+', '&', '|', ':',
    ]) || line.ends_with("=>")
        || line.ends_with("*/")
}

#[derive(Deserialize)]
struct RawVerdict {
    decision: String,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    fix: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// Reads the analyst's JSON: `{"decision": "accept"|"fix"|"reject", ...}`.
pub fn verdict(text: &str) -> Result<Verdict, Malformed> {
    let raw = json_objects(text)
        .into_iter()
        .find_map(|m| serde_json::from_value::<RawVerdict>(Json::Object(m)).ok())
        .ok_or_else(|| Malformed("expected a JSON object with a \"decision\" key".into()))?;
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    match raw.decision.to_ascii_lowercase().as_str() {
        "accept" => nonempty(raw.answer)
            .map(|answer| Verdict::Accept { answer })
            .ok_or_else(|| Malformed("decision \"accept\" needs a non-empty \"answer\"".into())),
        "fix" | "self_fix" => Ok(Verdict::Fix {
            instructions: nonempty(raw.fix)
                .or(nonempty(raw.reason))
                .unwrap_or_else(|| "the result does not answer the request".into()),
        }),
        "reject" => Ok(Verdict::Reject {
            reason: nonempty(raw.reason)
                .or(nonempty(raw.answer))
                .unwrap_or_else(|| "the request could not be completed".into()),
        }),
        other => Err(Malformed(format!(
            "unknown decision {other:?}; expected \"accept\", \"fix\" or \"reject\""
        ))),
    }
}

/// Reads `{"facts": ["...", ...]}`.
pub fn facts(text: &str) -> Result<Vec<String>, Malformed> {
    json_objects(text)
        .into_iter()
        .find_map(|m| match m.get("facts") {
            Some(Json::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => None,
        })
        .ok_or_else(|| Malformed("expected a JSON object with a \"facts\" list".into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn generated_from_json_fences_prose_and_code() {
        let bare = r#"{"script": "return 1", "name": "one", "args": {"a": 1}}"#;
        let g = generated(bare).expect("bare");
        assert_eq!(
            (g.script.as_str(), g.name.as_deref(), g.args),
            ("return 1", Some("one"), json!({"a": 1}))
        );
        let fenced = "Here you go:\n```json\n{\"script\": \"return 2\"}\n```\n";
        assert_eq!(generated(fenced).expect("fenced").script, "return 2");
        let prose = "Sure! {\"description\": \"x\", \"script\": \"return 3\"} Hope it helps.";
        assert_eq!(generated(prose).expect("prose").script, "return 3");
        let js = "```javascript\nconst x = 4;\nreturn x;\n```";
        assert_eq!(generated(js).expect("js").script, "const x = 4;\nreturn x;");
        assert_eq!(generated("return 5;").expect("raw").script, "return 5;");
        assert!(generated("I'm sorry, I can't help with that.").is_err());
        assert!(generated("{\"script\": \"\"}").is_err());
    }

    #[test]
    fn prose_is_never_taken_for_code() {
        for prose in [
            "I'll write a function that returns the price.",
            "return the cheapest option to the user",
            "Sure! Here is the function you asked for:\nIt will return the total.",
            "The function `run` should return a list; let me know if you want more.",
            "const is a keyword in JavaScript.",
            "```\nThis function returns nothing useful.\n```",
            "await further instructions",
        ] {
            assert!(generated(prose).is_err(), "ran prose as code: {prose:?}");
        }
        for code in [
            "return 5;",
            "const r = await http.fetch({url: args.url});\nreturn r.status;",
            "// price\nreturn (await http.fetchText({url: 'https://x'})).length;",
            "```\nlog.info('hi');\nreturn 1;\n```",
            "```js\nconst x = 1\nreturn x\n```",
        ] {
            assert!(generated(code).is_ok(), "refused code: {code:?}");
        }
    }

    #[test]
    fn selection_forms() {
        assert_eq!(
            selection(r#"{"decision":"chat","reply":"Hi!"}"#),
            Ok(Selection::Chat {
                reply: "Hi!".into()
            })
        );
        assert_eq!(
            selection(
                "```json\n{\"decision\":\"use\",\"clam\":\"btc\",\"args\":{\"coin\":\"ETH\"}}\n```"
            ),
            Ok(Selection::Use {
                clam: "btc".into(),
                args: json!({"coin": "ETH"})
            })
        );
        assert_eq!(
            selection(r#"{"decision":"generate"}"#),
            Ok(Selection::Generate)
        );
        assert!(selection("chat").is_err());
        assert!(selection(r#"{"decision":"dance"}"#).is_err());
        assert!(selection(r#"{"decision":"chat"}"#).is_err());
    }

    #[test]
    fn verdict_forms_and_truncation() {
        assert_eq!(
            verdict(r#"{"decision":"accept","answer":"42"}"#),
            Ok(Verdict::Accept {
                answer: "42".into()
            })
        );
        assert!(matches!(
            verdict(r#"{"decision":"FIX","fix":"use the other field"}"#),
            Ok(Verdict::Fix { .. })
        ));
        // Cut-off JSON is not read as anything.
        assert!(verdict(r#"{"decision":"accept","answer":"4"#).is_err());
        assert!(verdict("ACCEPT").is_err());
    }

    #[test]
    fn facts_list() {
        assert_eq!(
            facts(r#"{"facts": ["Lives in Lyon", " ", "Likes tea"]}"#),
            Ok(vec!["Lives in Lyon".to_owned(), "Likes tea".to_owned()])
        );
        assert_eq!(facts(r#"{"facts": []}"#), Ok(vec![]));
        assert!(facts("none").is_err());
    }
}

//! The text models are given. Nothing here is written per tool: the JavaScript
//! API comes from the WIT (rendered by the caller), what is allowed comes from
//! the policy's own explanation, and the clams from their `clam.toml`s.

use std::fmt::Write as _;

use super::clams::Clam;
use crate::store::sessions::SessionContext;

/// Rough tokens in `text` (4 characters each): enough for budgets.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// What the generation prompt is built from.
#[derive(Debug, Clone)]
pub struct PromptParts<'a> {
    /// The JS API, rendered from the WIT with its doc comments.
    pub js_api: &'a str,
    /// `clambot policy explain` of the policy in force.
    pub policy: &'a str,
    /// Remembered facts, most relevant first.
    pub facts: &'a [String],
    pub memory_budget_tokens: usize,
    pub clams: &'a [Clam],
}

const IDENTITY: &str = "\
You are clambot, a personal agent. You act on the world only by writing JavaScript that
runs in a sandbox (QuickJS in WebAssembly, no Node, no browser APIs). Every effect the
script has goes through host functions, and a policy decides each call before it happens.";

const RULES: &str = "\
Rules for scripts:
1. Write the body of an async function, or define `async function run(args)` and use `args`.
   Put the values from the request (names, places, amounts, URLs) into `args`, so the script
   can be reused for similar requests.
2. Use only the host functions listed below (they are globals: `await http.fetch({...})`).
   There is no `require`, no `import`, no `fetch`, no `process`, no timers, no DOM.
3. A failed or denied call throws a `ToolError` with `.code` (\"denied\", \"invalid\", \"not-found\",
   \"failed\", \"limit\") and, for denials, `.rule`. Do not catch denials to hide them.
4. Return the data that answers the request (a string, or a JSON value); do not format prose
   in the script. Compute, do not hard-code answers.
5. Secrets are passed by name (e.g. `bearerSecret: \"name\"` on an `http.fetch` request); their
   values are never visible.
6. Make independent host calls together and await them with `Promise.all` (several pages,
   several exchanges, one tool call per item): they run concurrently, so eight fetches take
   as long as the slowest one instead of all eight in a row.";

const GENERATE_FORMAT: &str = "\
Answer with one JSON object and nothing else:
{\"name\": \"short-kebab-name\", \"description\": \"what the script does, in one line\",
 \"args\": {<the arguments for this request>}, \"script\": \"<the JavaScript>\"}";

fn facts_section(facts: &[String], budget_tokens: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for fact in facts {
        let cost = estimate_tokens(fact) + 1;
        if used + cost > budget_tokens {
            let _ = writeln!(out, "(more facts omitted for length)");
            break;
        }
        used += cost;
        let _ = writeln!(out, "- {}", fact.replace('\n', " "));
    }
    out
}

fn clams_section(clams: &[Clam]) -> String {
    let mut out = String::new();
    for clam in clams {
        let args: Vec<String> = clam
            .meta
            .args
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            out,
            "- {} (v{}): {}{}; used {} times",
            clam.meta.name,
            clam.meta.version,
            clam.meta.description,
            if args.is_empty() {
                String::new()
            } else {
                format!(" — args {{{}}}", args.join(", "))
            },
            clam.meta.runs
        );
    }
    if out.is_empty() {
        out.push_str("(none yet)\n");
    }
    out
}

/// The system prompt for generating and fixing scripts.
pub fn generation_system(parts: &PromptParts<'_>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{IDENTITY}\n\n{RULES}\n\n## Host functions (JavaScript API)\n\n{}\n\n\
         ## What the policy allows\n\n{}\n\n## What you know about the user\n\n{}\n\
         ## Saved clams\n\n{}\n{GENERATE_FORMAT}",
        parts.js_api.trim(),
        parts.policy.trim(),
        facts_or_none(parts.facts, parts.memory_budget_tokens),
        clams_section(parts.clams),
    );
    out
}

fn facts_or_none(facts: &[String], budget: usize) -> String {
    if facts.is_empty() {
        "(nothing yet)\n".into()
    } else {
        facts_section(facts, budget)
    }
}

/// The selector's system prompt: chat, reuse a clam, or write a new script.
pub fn selector_system(parts: &PromptParts<'_>) -> String {
    format!(
        "{IDENTITY}\n\nDecide how to handle the user's message:\n\
         - \"chat\": it needs no action in the world (greetings, questions about what you know,\n\
           opinions, explanations). Answer it yourself in \"reply\".\n\
         - \"use\": a saved clam below does exactly what is asked; give its name in \"clam\" and\n\
           the arguments for this request in \"args\".\n\
         - \"generate\": anything that needs data or an effect (web, files, schedules, memory).\n\n\
         ## What you know about the user\n\n{}\n## Saved clams\n\n{}\n\
         Answer with one JSON object and nothing else, e.g.\n\
         {{\"decision\": \"chat\", \"reply\": \"...\"}} or \
         {{\"decision\": \"use\", \"clam\": \"name\", \"args\": {{}}}} or {{\"decision\": \"generate\"}}",
        facts_or_none(parts.facts, parts.memory_budget_tokens),
        clams_section(parts.clams),
    )
}

/// Asks the selector again after an answer it could not read.
pub fn repair(error: &str) -> String {
    format!(
        "Your answer could not be read: {error}. Answer again with only the JSON object, \
         no prose and no code fences."
    )
}

/// The request to write a script.
pub fn generate_request(message: &str) -> String {
    format!("Request: {message}\n\nWrite the script.")
}

/// The request to fix a script, with what went wrong.
pub fn fix_request(message: &str, script: &str, problem: &str, console: &str) -> String {
    let mut out = format!(
        "Request: {message}\n\nThis script did not work:\n```js\n{}\n```\n\nWhat went wrong:\n{}\n",
        clip(script, 6_000),
        clip(problem, 3_000)
    );
    if !console.trim().is_empty() {
        let _ = write!(out, "\nConsole output:\n{}\n", clip(console, 2_000));
    }
    out.push_str("\nWrite a corrected script, in the same JSON form.");
    out
}

/// The analyst's system prompt.
pub const ANALYST_SYSTEM: &str = "\
You check whether a script's result answers the user's request, and write the answer.
Answer with one JSON object and nothing else:
- {\"decision\": \"accept\", \"answer\": \"<the answer for the user, concise, from the result>\"}
- {\"decision\": \"fix\", \"fix\": \"<what is wrong with the script and how to fix it>\"}
- {\"decision\": \"reject\", \"reason\": \"<why this request cannot be done, for the user>\"}
Accept only if the result really answers the request. Never invent data not in the result.";

/// What the analyst is shown of a run.
pub fn analysis_request(message: &str, script: &str, result: &str, console: &str) -> String {
    let mut out = format!(
        "Request: {message}\n\nScript:\n```js\n{}\n```\n\nResult (JSON):\n{}\n",
        clip(script, 4_000),
        clip(result, 12_000)
    );
    if !console.trim().is_empty() {
        let _ = write!(out, "\nConsole output:\n{}\n", clip(console, 2_000));
    }
    out
}

/// Asks for durable facts about the user in one exchange.
pub fn facts_request(user: &str, assistant: &str, known: &[String]) -> String {
    format!(
        "From this exchange, list NEW durable facts about the user (name, location, time zone,\n\
         language, preferences, profession, people and things they care about). Not task\n\
         results, not data values, not secrets, not small talk, nothing already known.\n\n\
         Already known:\n{}\nUser: {}\n\nAssistant: {}\n\n\
         Answer with one JSON object and nothing else: {{\"facts\": [\"...\"]}} (an empty list if none).",
        facts_or_none(known, 2_000),
        clip(user, 4_000),
        clip(assistant, 4_000)
    )
}

/// Asks for a summary of the older part of a conversation.
pub fn compaction_request(previous: Option<&str>, context: &SessionContext, upto: usize) -> String {
    let mut out = String::from(
        "Summarise this conversation so it can continue without it: who the user is, what was\n\
         asked and answered, decisions, open threads. Plain text, at most 200 words.\n\n",
    );
    if let Some(previous) = previous {
        let _ = write!(out, "Summary of what came before:\n{previous}\n\n");
    }
    for turn in &context.turns[..upto] {
        let _ = writeln!(out, "[{}]: {}", turn.role, clip(&turn.text, 2_000));
    }
    out
}

/// `text`, cut at `max` characters with a marker.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!(
            "{}\n[… cut, {} characters in all]",
            &text[..i],
            text.chars().count()
        ),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_respect_the_budget() {
        let facts: Vec<String> = (0..100)
            .map(|i| format!("fact number {i:03} here"))
            .collect();
        let section = facts_section(&facts, 30);
        assert!(section.contains("fact number 000"));
        assert!(!section.contains("fact number 099"));
        assert!(section.contains("omitted"));
        assert!(estimate_tokens(&section) < 45);
    }

    #[test]
    fn generation_prompt_has_api_policy_and_format() {
        let prompt = generation_system(&PromptParts {
            js_api: "http.fetch(request: Request): Promise<Response>",
            policy: "http.fetch is allowed for https://api.example.com/**",
            facts: &["Lives in Lyon".into()],
            memory_budget_tokens: 100,
            clams: &[],
        });
        for needle in [
            "http.fetch(request",
            "api.example.com",
            "Lives in Lyon",
            "\"script\"",
            "Promise.all",
        ] {
            assert!(prompt.contains(needle), "{needle}");
        }
    }

    #[test]
    fn clip_marks_cuts() {
        assert_eq!(clip("abc", 5), "abc");
        assert!(clip(&"x".repeat(10), 4).starts_with("xxxx\n[… cut, 10"));
    }
}

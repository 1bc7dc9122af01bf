//! Static checks on generated JavaScript, before it runs. The sandbox would
//! refuse these anyway (there is no `require`, no `fetch`, no `process`), but
//! catching them here gives the model a precise message to fix instead of a
//! runtime ReferenceError.

use std::sync::LazyLock;

use regex::Regex;

/// Why a script was refused before running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// What was found, e.g. `require(`.
    pub found: &'static str,
    /// What to use instead.
    pub hint: &'static str,
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the script uses `{}`: {}", self.found, self.hint)
    }
}

struct Pattern {
    regex: Regex,
    found: &'static str,
    hint: &'static str,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let pattern = |re: &str, found, hint| Pattern {
        regex: Regex::new(re).expect("static check patterns are valid"),
        found,
        hint,
    };
    vec![
        pattern(
            r"\brequire\s*\(",
            "require(",
            "there are no modules; use the global host functions (http, fs, memory, cron, log)",
        ),
        pattern(
            r"(?m)^\s*import\b|\bimport\s*\(",
            "import",
            "there are no modules; use the global host functions (http, fs, memory, cron, log)",
        ),
        pattern(
            r"(^|[^.\w$])fetch\s*\(",
            "fetch(",
            "use `await http.fetch({url, method, headers, body})` (or `http.fetchText`)",
        ),
        pattern(
            r"\bprocess\b\s*[.\[]",
            "process",
            "there is no process or environment; pass values in `args` and secrets by name",
        ),
    ]
});

/// The first forbidden construct in `script`, if any.
pub fn check_script(script: &str) -> Result<(), CheckFailure> {
    if script.trim().is_empty() {
        return Err(CheckFailure {
            found: "an empty script",
            hint: "return a JavaScript function body or define `async function run(args)`",
        });
    }
    for pattern in PATTERNS.iter() {
        if pattern.regex.is_match(script) {
            return Err(CheckFailure {
                found: pattern.found,
                hint: pattern.hint,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_script;

    #[test]
    fn refuses_modules_fetch_and_process() {
        for (script, found) in [
            ("const x = require('fs');", "require("),
            ("import fs from 'fs';\nreturn 1", "import"),
            ("const m = await import('x')", "import"),
            ("const r = await fetch('https://x')", "fetch("),
            ("return process.env.HOME", "process"),
            ("return process['env']", "process"),
            ("   ", "an empty script"),
        ] {
            assert_eq!(check_script(script).expect_err(script).found, found);
        }
    }

    #[test]
    fn accepts_host_calls_and_lookalikes() {
        for script in [
            "const r = await http.fetch({url: 'https://x'}); return r.status",
            "const t = await http.fetchText({url: 'https://x'}); return t",
            "const processed = [1].map(x => x); return processed",
            "// we import nothing\nreturn 'important'",
            "async function run(args) { return args.name }",
        ] {
            assert_eq!(check_script(script), Ok(()), "{script}");
        }
    }
}

//! `clambot tools new NAME --lang rust|js|python`: a new tool component's
//! directory, ready to build (`just tool DIR`) and load. The templates live in
//! `templates/`; a JS tool's bridge to QuickJS is the one the `mdkit` example
//! builds with, so the scaffold and the example cannot drift apart.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The language a scaffold is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with wit-bindgen, built for `wasm32-wasip2`.
    Rust,
    /// JavaScript run by Javy's QuickJS runtime, pre-initialised with the source.
    Js,
    /// Python with componentize-py.
    Python,
}

const WIT: &str = include_str!("templates/tool.wit");
const README: &str = include_str!("templates/README.md");
const GITIGNORE: &str = include_str!("templates/gitignore");
const RUST_CARGO: &str = include_str!("templates/rust/Cargo.toml");
const RUST_LIB: &str = include_str!("templates/rust/lib.rs");
const JS_CARGO: &str = include_str!("templates/js/Cargo.toml");
const JS_LIB: &str = include_str!("templates/js/lib.rs");
const JS_TOOL: &str = include_str!("templates/js/tool.js");
const JS_BRIDGE: &str = include_str!("../../../tools/mdkit/src/js.rs");
const PYTHON_APP: &str = include_str!("templates/python/app.py");

/// Words a tool name may not be: WIT keywords (the name is the interface's) and
/// Rust keywords (it is a module name in the bindings).
const RESERVED: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "export",
    "f32",
    "f64",
    "flags",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "option",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
    "crate",
    "fn",
    "impl",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "self",
    "super",
    "trait",
    "unsafe",
    "where",
    "while",
    "dyn",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen",
];

/// Checks that `name` can name a tool, its WIT interface and its bindings:
/// lowercase words, each starting with a letter, joined by `-`.
pub fn check_name(name: &str) -> Result<()> {
    let words_ok = !name.is_empty()
        && name.len() <= 40
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !words_ok {
        bail!(
            "`{name}` cannot name a tool: use lowercase words of letters and digits, each \
             starting with a letter, joined by `-` (like `csv-stats`), at most 40 characters"
        );
    }
    if RESERVED.contains(&name) {
        bail!("`{name}` is a WIT or Rust keyword; pick another name (e.g. `{name}-tool`)");
    }
    Ok(())
}

/// Writes the scaffold for `name` in `language` into `dir` (which must not
/// exist yet, or be empty). Returns the files written.
pub fn create(name: &str, language: Language, dir: &Path) -> Result<Vec<PathBuf>> {
    check_name(name)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty; nothing was written",
            dir.display()
        );
    }
    let (lang, language_name, source) = match language {
        Language::Rust => ("rust", "Rust", "`src/lib.rs`"),
        Language::Js => (
            "js",
            "JavaScript",
            "`tool.js` (with `src/lib.rs` and `src/js.rs` passing the calls to it)",
        ),
        Language::Python => ("python", "Python", "`app.py`"),
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{snake}}", &name.replace('-', "_"))
            .replace("{{pascal}}", &pascal_case(name))
            .replace("{{lang}}", lang)
            .replace("{{language}}", language_name)
            .replace("{{source}}", source)
            .replace("{{dir}}", &dir.display().to_string())
    };
    let mut files: Vec<(String, String)> = vec![
        (format!("wit/{name}.wit"), fill(WIT)),
        ("README.md".to_owned(), fill(README)),
    ];
    match language {
        Language::Rust => files.extend([
            ("Cargo.toml".to_owned(), fill(RUST_CARGO)),
            ("src/lib.rs".to_owned(), fill(RUST_LIB)),
            (".gitignore".to_owned(), GITIGNORE.to_owned()),
        ]),
        Language::Js => files.extend([
            ("Cargo.toml".to_owned(), fill(JS_CARGO)),
            ("src/lib.rs".to_owned(), fill(JS_LIB)),
            ("src/js.rs".to_owned(), JS_BRIDGE.to_owned()),
            ("tool.js".to_owned(), fill(JS_TOOL)),
            (".gitignore".to_owned(), GITIGNORE.to_owned()),
        ]),
        Language::Python => files.push(("app.py".to_owned(), fill(PYTHON_APP))),
    }
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `csv-stats` → `CsvStats`, the class name componentize-py gives the export.
fn pascal_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_wit_identifiers_and_not_keywords() {
        for good in ["units", "csv-stats", "md2-kit"] {
            check_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "Units",
            "csv_stats",
            "2fa",
            "a--b",
            "-a",
            "a-",
            "tool.x",
            "type",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn each_language_gets_its_files_with_the_name_filled_in() {
        for (language, expected) in [
            (
                Language::Rust,
                vec!["Cargo.toml", "src/lib.rs", ".gitignore"],
            ),
            (
                Language::Js,
                vec![
                    "Cargo.toml",
                    "src/lib.rs",
                    "src/js.rs",
                    "tool.js",
                    ".gitignore",
                ],
            ),
            (Language::Python, vec!["app.py"]),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let target = dir.path().join("csv-stats");
            let written = create("csv-stats", language, &target).expect("scaffold");
            for file in expected.iter().chain(&["wit/csv-stats.wit", "README.md"]) {
                assert!(written.contains(&target.join(file)), "{language:?}: {file}");
            }
            for path in &written {
                let text = std::fs::read_to_string(path).expect("read");
                assert!(
                    !text.contains("{{"),
                    "{} keeps a placeholder",
                    path.display()
                );
            }
            let wit = std::fs::read_to_string(target.join("wit/csv-stats.wit")).expect("wit");
            assert!(wit.contains("interface csv-stats {") && wit.contains("world csv-stats-tool"));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        create("csv-stats", Language::Python, dir.path()).expect("scaffold");
        let app = std::fs::read_to_string(dir.path().join("app.py")).expect("app");
        assert!(app.contains("class CsvStats(exports.CsvStats):"), "{app}");
    }

    #[test]
    fn an_existing_directory_with_files_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("keep.txt"), "mine").expect("write");
        let error = create("units", Language::Rust, dir.path()).expect_err("refused");
        assert!(error.to_string().contains("nothing was written"), "{error}");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("read").count(),
            1,
            "nothing was added"
        );
    }
}

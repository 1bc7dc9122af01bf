//! File-system matchers: globs over workspace-relative paths.
//!
//! A path from a script is judged as the file system will read it. Before any
//! glob sees it, it is normalised: `.` segments and empty segments go, `..` pops
//! a segment, and the text is put in Unicode NFC, so a name spelled with
//! combining marks (NFD, as macOS writes them) meets a rule written with the
//! precomposed letters — and the fs tool then opens that same NFC spelling, so
//! what was judged is what is opened. A path that is absolute, has a backslash,
//! climbs out of the workspace, or holds a character a person cannot see or
//! that reorders text does not normalise at all (`invalid`): C0 and C1 controls,
//! format characters (Unicode `Cf`: zero-width space and joiners, bidi embeddings,
//! overrides and isolates, the BOM, …), other default-ignorable characters
//! (variation selectors, Hangul fillers, …), line and paragraph separators,
//! spaces other than U+0020, and noncharacters. Globs pass the same checks and
//! are put in NFC too.
//!
//! Globs use `*` for one segment and `**` for any depth; they are themselves
//! workspace-relative. A glob ending in `/**` also covers the directory itself
//! (`secrets/**` covers `secrets`, so a deny rule for it also refuses moving or
//! listing the whole directory). Case: allow and ask rules match the spelling
//! exactly, while a deny rule covers every case spelling of its globs
//! (`secrets/**` also refuses `Secrets/key`), because the workspace may sit on a
//! case-insensitive file system (or an ext4 `casefold` directory) where those are
//! one file; being stricter than the file system can only refuse, never widen.
//! What this does not do: follow symlinks. The fs tool confines the actual open
//! to the workspace and refuses links.

use std::fmt;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use unicode_normalization::UnicodeNormalization as _;

/// A workspace-relative path after normalisation (`a/b/c`, or `.` for the root),
/// in Unicode NFC.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkspacePath(String);

/// The first character of `text` a path may not hold, with why.
pub fn refused_character(text: &str) -> Option<String> {
    let c = text
        .chars()
        .find(|&c| crate::unicode::is_refused_in_names(c))?;
    let what = if c == '\0' {
        "a NUL byte"
    } else if c.is_control() {
        "the control character"
    } else if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
    {
        "the bidirectional-text control"
    } else if c.is_whitespace() {
        "the space-like character"
    } else {
        "the invisible character"
    };
    Some(format!("{what} U+{:04X}", u32::from(c)))
}

impl WorkspacePath {
    /// Normalises `raw`, or says why it cannot be a workspace path.
    pub fn normalise(raw: &str) -> Result<Self, String> {
        // Length first, so the work below is bounded; checked again after NFC,
        // which can lengthen a name.
        if raw.len() > MAX_PATH_BYTES {
            return Err(format!(
                "the path is {} bytes long; at most {MAX_PATH_BYTES} are allowed",
                raw.len()
            ));
        }
        if let Some(why) = refused_character(raw) {
            return Err(format!("the path contains {why}"));
        }
        if raw.contains('\\') {
            return Err("the path contains a backslash; use `/`".into());
        }
        if raw.starts_with('/') || raw.as_bytes().get(1) == Some(&b':') {
            return Err(format!(
                "`{raw}` is absolute; paths are relative to the workspace"
            ));
        }
        let composed: String = raw.nfc().collect();
        if composed.len() > MAX_PATH_BYTES {
            return Err(format!(
                "the path is {} bytes long in NFC; at most {MAX_PATH_BYTES} are allowed",
                composed.len()
            ));
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in composed.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Err(format!("`{raw}` leads out of the workspace"));
                    }
                }
                other => {
                    if other.len() > MAX_NAME_BYTES {
                        return Err(format!(
                            "the name `{}…` is {} bytes long; at most {MAX_NAME_BYTES} are allowed",
                            other.chars().take(32).collect::<String>(),
                            other.len()
                        ));
                    }
                    if is_device_name(other) {
                        return Err(format!(
                            "`{other}` is a reserved device name; choose another file name"
                        ));
                    }
                    segments.push(other)
                }
            }
        }
        Ok(Self(if segments.is_empty() {
            ".".into()
        } else {
            segments.join("/")
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The names of the path, root first (none for the root).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| *s != ".")
    }

    /// The last name (`None` for the root).
    pub fn file_name(&self) -> Option<&str> {
        self.segments().last()
    }

    /// Whether this is the workspace root.
    pub fn is_root(&self) -> bool {
        self.0 == "."
    }
}

impl fmt::Display for WorkspacePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest path accepted, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest single name, in bytes (NAME_MAX on every common file system).
pub const MAX_NAME_BYTES: usize = 255;

/// Windows device names (`CON`, `nul.txt`, `COM1`, …): refused everywhere, so a
/// workspace stays portable and a synced copy cannot open a device.
fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.len() == 4
        && upper.as_bytes()[3].is_ascii_digit()
        && upper.as_bytes()[3] != b'0')
}

/// A glob over normalised workspace paths.
#[derive(Debug, Clone)]
pub struct PathGlob {
    pub source: String,
    /// Matches the spelling exactly (allow and ask rules).
    glob: Glob,
    /// For `dir/**`, the glob for `dir` itself.
    dir: Option<Glob>,
    /// The same globs matching any case spelling (deny rules).
    folded: Glob,
    folded_dir: Option<Glob>,
}

impl PartialEq for PathGlob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

const PATH_FORMS: &str = "a workspace-relative glob such as `notes/**`, `*.md` or `**`";

impl PathGlob {
    pub fn parse(source: &str) -> Result<Self, String> {
        if source.trim().is_empty() {
            return Err(format!("empty path pattern; expected {PATH_FORMS}"));
        }
        if let Some(why) = refused_character(source) {
            return Err(format!(
                "the path pattern contains {why}, which no path may hold; expected {PATH_FORMS}"
            ));
        }
        if source.starts_with('/') || source.contains('\\') {
            return Err(format!(
                "`{source}` must be relative, with `/` separators; expected {PATH_FORMS}"
            ));
        }
        if source.split('/').any(|s| s == ".." || s == ".") {
            return Err(format!(
                "`{source}` may not contain `.` or `..` segments; expected {PATH_FORMS}"
            ));
        }
        if non_ascii_in_class(source) {
            return Err(format!(
                "`{source}` has a non-ASCII character inside `[…]`, which the glob matcher \
                 compares byte by byte (it would match nothing); spell such names out, or use `?`"
            ));
        }
        // Paths are judged in NFC, so the pattern is too.
        let text: String = source.nfc().collect();
        let build = |text: &str, fold: bool| {
            GlobBuilder::new(text)
                .literal_separator(true)
                .case_insensitive(fold)
                .build()
                .map_err(|e| format!("`{source}` is not a valid glob: {e}"))
        };
        // globset folds ASCII only, so the deny form is built from the folded
        // text (and matched against folded paths); a class range that folding
        // turns inside out falls back to globset's own folding.
        let folded_build = |text: &str| build(&fold(text), true).or_else(|_| build(text, true));
        let dir_text = text.strip_suffix("/**").filter(|d| !d.is_empty());
        Ok(Self {
            source: source.to_owned(),
            glob: build(&text, false)?,
            dir: dir_text.map(|d| build(d, false)).transpose()?,
            folded: folded_build(&text)?,
            folded_dir: dir_text.map(folded_build).transpose()?,
        })
    }
}

/// Whether a `[…]` class in a glob holds a non-ASCII character.
fn non_ascii_in_class(source: &str) -> bool {
    let mut in_class = false;
    let mut first = false;
    for c in source.chars() {
        match c {
            '[' if !in_class => {
                in_class = true;
                first = true;
                continue;
            }
            // `]` first in a class is a member, not its end.
            ']' if in_class && !first => in_class = false,
            _ if in_class && !c.is_ascii() => return true,
            _ => {}
        }
        first = first && c == '!';
    }
    false
}

/// The one spelling every case spelling of `text` shares, as far as the file
/// systems clambot may run on are concerned: upper- then lower-cased (so `ß`
/// and `SS`, `ſ` and `s`, the Kelvin sign and `k` meet), then NFC. Coarser than
/// Unicode case folding in places (dotless `ı` meets `i`), which only makes a
/// deny rule cover more.
pub fn fold(text: &str) -> String {
    text.to_uppercase().to_lowercase().nfc().collect()
}

/// The argument names fs functions use for paths.
pub const PATH_ARGUMENTS: &[&str] = &["path", "from", "to"];

/// Every rule's path globs in one matcher. `GlobSet` answers for all of them in
/// one pass (with literal prefix and suffix shortcuts), where matching rule by
/// rule would run a regex per glob; this is on the gate's hot path. Two sets:
/// exact spellings for allow and ask rules, any case for deny rules.
#[derive(Debug, Clone)]
pub struct PathIndex {
    exact: GlobSet,
    folded: GlobSet,
    /// The rule (by index) each glob belongs to (the same order in both sets).
    owners: Vec<usize>,
    rules: usize,
}

impl PathIndex {
    /// Indexes `(rule index, its globs)`; `rules` is the number of rules.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (usize, &'a [PathGlob])>,
        rules: usize,
    ) -> Result<Self, String> {
        let mut exact = GlobSetBuilder::new();
        let mut folded = GlobSetBuilder::new();
        let mut owners = Vec::new();
        for (rule, globs) in entries {
            for glob in globs {
                exact.add(glob.glob.clone());
                folded.add(glob.folded.clone());
                owners.push(rule);
                if let (Some(dir), Some(folded_dir)) = (&glob.dir, &glob.folded_dir) {
                    exact.add(dir.clone());
                    folded.add(folded_dir.clone());
                    owners.push(rule);
                }
            }
        }
        let combine = |builder: GlobSetBuilder| {
            builder
                .build()
                .map_err(|e| format!("the path globs do not combine: {e}"))
        };
        Ok(Self {
            exact: combine(exact)?,
            folded: combine(folded)?,
            owners,
            rules,
        })
    }

    /// Which rules' globs cover `paths`: every one of them exactly (for allow and
    /// ask rules), and at least one in any case spelling (for deny rules).
    pub fn coverage(&self, paths: &[WorkspacePath]) -> Coverage {
        let mut coverage = Coverage {
            all: RuleSet::full(self.rules),
            any: RuleSet::empty(self.rules),
        };
        for path in paths {
            let mut hits = RuleSet::empty(self.rules);
            for glob in self.exact.matches(path.as_str()) {
                hits.insert(self.owners[glob]);
            }
            coverage.all.intersect(&hits);
            // A deny rule covers the exact spelling, and every case spelling.
            coverage.any.union(&hits);
            for glob in self.folded.matches(fold(path.as_str())) {
                coverage.any.insert(self.owners[glob]);
            }
        }
        coverage
    }
}

/// The rules whose globs cover a call's paths. An allow or ask rule must cover
/// `all` of them exactly (`fs.move` needs both ends allowed); a deny rule refuses
/// the call if it covers `any` of them in any case spelling (moving a file out of
/// a denied place is as bad as into one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub all: RuleSet,
    pub any: RuleSet,
}

/// A set of rule indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    words: Vec<u64>,
}

impl RuleSet {
    fn empty(rules: usize) -> Self {
        Self {
            words: vec![0; rules.div_ceil(64)],
        }
    }

    fn full(rules: usize) -> Self {
        Self {
            words: vec![u64::MAX; rules.div_ceil(64)],
        }
    }

    fn insert(&mut self, rule: usize) {
        self.words[rule / 64] |= 1 << (rule % 64);
    }

    fn union(&mut self, other: &Self) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    fn intersect(&mut self, other: &Self) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    pub fn contains(&self, rule: usize) -> bool {
        self.words
            .get(rule / 64)
            .is_some_and(|w| w & (1 << (rule % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn index(globs: &[&str]) -> PathIndex {
        let parsed: Vec<PathGlob> = globs
            .iter()
            .map(|g| PathGlob::parse(g).expect("glob"))
            .collect();
        PathIndex::new([(0, parsed.as_slice())], 1).expect("index")
    }

    fn path(raw: &str) -> WorkspacePath {
        WorkspacePath::normalise(raw).expect("normalises")
    }

    #[test]
    fn nfd_spellings_normalise_to_the_nfc_name_and_meet_nfc_globs() {
        // "é" precomposed (U+00E9) and as e + U+0301; "Å" as A + U+030A and the
        // angstrom sign U+212B (which NFC maps to U+00C5).
        for (raw, nfc) in [
            ("caf\u{65}\u{301}/x", "caf\u{e9}/x"),
            ("caf\u{e9}/x", "caf\u{e9}/x"),
            ("\u{41}\u{30a}ngstr\u{f6}m", "\u{c5}ngstr\u{f6}m"),
            ("\u{212b}ngstr\u{6f}\u{308}m", "\u{c5}ngstr\u{f6}m"),
            ("\u{1100}\u{1161}", "\u{ac00}"),
        ] {
            assert_eq!(path(raw).as_str(), nfc, "{raw:?}");
        }
        // A deny glob written in NFD meets the NFC name, and the reverse.
        let nfd_glob = index(&["caf\u{65}\u{301}/**"]);
        let nfc_glob = index(&["caf\u{e9}/**"]);
        for raw in ["caf\u{e9}/secret", "caf\u{65}\u{301}/secret"] {
            assert!(nfd_glob.coverage(&[path(raw)]).any.contains(0), "{raw:?}");
            assert!(nfc_glob.coverage(&[path(raw)]).all.contains(0), "{raw:?}");
        }
    }

    #[test]
    fn invisible_bidi_and_control_characters_are_refused_in_paths_and_globs() {
        let refused = [
            '\u{0}',
            '\u{1}',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{9b}', // C0, DEL, C1
            '\u{ad}',
            '\u{34f}',
            '\u{61c}',
            '\u{115f}',
            '\u{1160}',
            '\u{180e}', //
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}', // zero-width, marks
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}', // embeddings, overrides
            '\u{2060}',
            '\u{2061}',
            '\u{2064}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{206f}',
            '\u{3164}',
            '\u{fe00}',
            '\u{fe0f}',
            '\u{feff}',
            '\u{ffa0}',
            '\u{fff9}',
            '\u{fffe}',
            '\u{ffff}',
            '\u{fdd0}',
            '\u{1d173}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{e0100}',
            '\u{10fffe}', // tags, variation selectors, noncharacters
            '\u{a0}',
            '\u{2000}',
            '\u{2007}',
            '\u{200a}',
            '\u{202f}',
            '\u{205f}',
            '\u{3000}',
            '\u{2028}',
            '\u{2029}',
            '\u{1680}', // spaces other than U+0020, separators
        ];
        for c in refused {
            for raw in [
                format!("a{c}b"),
                format!("{c}secrets/key"),
                format!("dir/x{c}"),
            ] {
                assert!(WorkspacePath::normalise(&raw).is_err(), "{raw:?}");
                assert!(PathGlob::parse(&raw).is_err(), "glob {raw:?}");
            }
        }
        for ok in [
            "a b.txt",
            "notes/café.md",
            "日本/ファイル",
            "🦀.rs",
            "\u{2800}",
        ] {
            assert!(WorkspacePath::normalise(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn deny_globs_cover_every_case_spelling_and_allow_globs_only_the_exact_one() {
        let secrets = index(&["secrets/**"]);
        for raw in ["Secrets/key", "SECRETS/key", "Secrets", "SeCrEtS"] {
            let coverage = secrets.coverage(&[path(raw)]);
            assert!(coverage.any.contains(0), "deny covers {raw}");
            assert!(!coverage.all.contains(0), "allow does not cover {raw}");
        }
        let exact = secrets.coverage(&[path("secrets/key")]);
        assert!(exact.any.contains(0) && exact.all.contains(0));
        // globset matches a class byte by byte, so a non-ASCII class would
        // match nothing: refused rather than silently never denying.
        assert!(PathGlob::parse("[\u{df}]x/**").is_err());
        assert!(PathGlob::parse("[!\u{e9}]/**").is_err());
        let ranged = index(&["[a-c]x/**"]);
        assert!(ranged.coverage(&[path("Bx/a")]).any.contains(0));
        // Beyond ASCII too: the Kelvin sign, long s, sharp s, accented capitals.
        let keys = index(&["keys/**", "stra\u{df}e/**", "caf\u{e9}/**"]);
        for raw in [
            "\u{212a}eys/a",
            "\u{17f}tra\u{df}e/x",
            "STRASSE/x",
            "CAF\u{c9}/x",
            "CAFE\u{301}/x",
        ] {
            assert!(keys.coverage(&[path(raw)]).any.contains(0), "{raw:?}");
        }
    }

    #[test]
    fn names_are_measured_in_bytes_after_nfc() {
        // 70 three-byte characters: 210 bytes, a valid name.
        let name = "日".repeat(70);
        assert_eq!(path(&name).as_str().len(), 210);
        assert!(
            WorkspacePath::normalise(&"日".repeat(86)).is_err(),
            "258 bytes"
        );
        // U+0958 is excluded from composition: NFC decomposes it, 3 bytes to 6.
        let grows = "\u{958}".repeat(50);
        assert!(
            WorkspacePath::normalise(&grows).is_err(),
            "300 bytes in NFC"
        );
    }

    fn path_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a".to_owned()),
                Just("..".to_owned()),
                Just(".".to_owned()),
                Just("/".to_owned()),
                Just("e\u{301}".to_owned()),
                Just("\u{e9}".to_owned()),
                Just("\u{200b}".to_owned()),
                Just("\u{202e}".to_owned()),
                Just("S".to_owned()),
                any::<char>().prop_map(String::from),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn a_normalised_path_is_nfc_clean_and_normalises_to_itself(raw in path_text()) {
            if let Ok(normal) = WorkspacePath::normalise(&raw) {
                let text = normal.as_str();
                prop_assert!(unicode_normalization::is_nfc(text));
                prop_assert!(refused_character(text).is_none());
                prop_assert!(text == "." || text.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
                prop_assert!(text.split('/').all(|s| s.len() <= MAX_NAME_BYTES));
                let again = WorkspacePath::normalise(text);
                prop_assert_eq!(again, Ok(normal.clone()));
            }
        }

        #[test]
        fn a_path_with_an_invisible_character_never_normalises(
            before in "[a-z/]{0,8}",
            after in "[a-z/]{0,8}",
            c in prop_oneof![
                Just('\u{200b}'), Just('\u{200d}'), Just('\u{202e}'), Just('\u{2066}'),
                Just('\u{feff}'), Just('\u{ad}'), Just('\u{e0020}'), Just('\u{9b}'),
            ],
        ) {
            let raw = format!("{before}{c}{after}");
            prop_assert!(WorkspacePath::normalise(&raw).is_err());
        }
    }
}

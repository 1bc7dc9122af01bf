//! File-system matchers: globs over workspace-relative paths.
//!
//! A path from a script is normalised before any glob sees it: `.` segments
//! and empty segments go, `..` pops a segment, and a path that is absolute, has a
//! NUL or a backslash, or climbs out of the workspace does not normalise at all —
//! so it matches no rule and is denied by default. Globs use `*` for one segment
//! and `**` for any depth; they are themselves workspace-relative. A glob ending
//! in `/**` also covers the directory itself (`secrets/**` covers `secrets`, so a
//! deny rule for it also refuses moving or listing the whole directory). What this
//! does not do: follow symlinks. The fs tool confines the actual open to the workspace.

use std::fmt;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// A workspace-relative path after normalisation (`a/b/c`, or `.` for the root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkspacePath(String);

impl WorkspacePath {
    /// Normalises `raw`, or says why it cannot be a workspace path.
    pub fn normalise(raw: &str) -> Result<Self, String> {
        if raw.contains('\0') {
            return Err("the path contains a NUL byte".into());
        }
        if let Some(c) = raw.chars().find(|c| c.is_control()) {
            return Err(format!(
                "the path contains the control character U+{:04X}",
                u32::from(c)
            ));
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(format!(
                "the path is {} bytes long; at most {MAX_PATH_BYTES} are allowed",
                raw.len()
            ));
        }
        if raw.contains('\\') {
            return Err("the path contains a backslash; use `/`".into());
        }
        if raw.starts_with('/') || raw.as_bytes().get(1) == Some(&b':') {
            return Err(format!(
                "`{raw}` is absolute; paths are relative to the workspace"
            ));
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in raw.split('/') {
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
    glob: Glob,
    /// For `dir/**`, the glob for `dir` itself.
    dir: Option<Glob>,
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
        if source.starts_with('/') || source.contains('\\') || source.contains('\0') {
            return Err(format!(
                "`{source}` must be relative, with `/` separators; expected {PATH_FORMS}"
            ));
        }
        if source.split('/').any(|s| s == ".." || s == ".") {
            return Err(format!(
                "`{source}` may not contain `.` or `..` segments; expected {PATH_FORMS}"
            ));
        }
        let build = |text: &str| {
            GlobBuilder::new(text)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("`{source}` is not a valid glob: {e}"))
        };
        let glob = build(source)?;
        let dir = match source.strip_suffix("/**") {
            Some(dir) if !dir.is_empty() => Some(build(dir)?),
            _ => None,
        };
        Ok(Self {
            source: source.to_owned(),
            glob,
            dir,
        })
    }
}

/// The argument names fs functions use for paths.
pub const PATH_ARGUMENTS: &[&str] = &["path", "from", "to"];

/// Every rule's path globs in one matcher. `GlobSet` answers for all of them in
/// one pass (with literal prefix and suffix shortcuts), where matching rule by
/// rule would run a regex per glob; this is on the gate's hot path.
#[derive(Debug, Clone)]
pub struct PathIndex {
    set: GlobSet,
    /// The rule (by index) each glob belongs to.
    owners: Vec<usize>,
    rules: usize,
}

impl PathIndex {
    /// Indexes `(rule index, its globs)`; `rules` is the number of rules.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (usize, &'a [PathGlob])>,
        rules: usize,
    ) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        let mut owners = Vec::new();
        for (rule, globs) in entries {
            for glob in globs
                .iter()
                .flat_map(|g| std::iter::once(&g.glob).chain(&g.dir))
            {
                builder.add(glob.clone());
                owners.push(rule);
            }
        }
        let set = builder
            .build()
            .map_err(|e| format!("the path globs do not combine: {e}"))?;
        Ok(Self { set, owners, rules })
    }

    /// Which rules' globs cover `paths`: every one of them, and at least one.
    pub fn coverage(&self, paths: &[WorkspacePath]) -> Coverage {
        let mut coverage = Coverage {
            all: RuleSet::full(self.rules),
            any: RuleSet::empty(self.rules),
        };
        for path in paths {
            let mut hits = RuleSet::empty(self.rules);
            for glob in self.set.matches(path.as_str()) {
                hits.insert(self.owners[glob]);
            }
            coverage.all.intersect(&hits);
            coverage.any.union(&hits);
        }
        coverage
    }
}

/// The rules whose globs cover a call's paths. An allow or ask rule must cover
/// `all` of them (`fs.move` needs both ends allowed); a deny rule refuses the call
/// if it covers `any` (moving a file out of a denied place is as bad as into one).
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

    fn intersect(&mut self, other: &Self) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    fn union(&mut self, other: &Self) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    pub fn contains(&self, rule: usize) -> bool {
        self.words
            .get(rule / 64)
            .is_some_and(|w| w & (1 << (rule % 64)) != 0)
    }
}

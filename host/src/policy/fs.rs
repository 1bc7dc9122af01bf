//! File-system matchers: globs over workspace-relative paths.
//!
//! A path from a script is normalised before any glob sees it: `.` segments
//! and empty segments go, `..` pops a segment, and a path that is absolute, has a
//! NUL or a backslash, or climbs out of the workspace does not normalise at all —
//! so it matches no rule and is denied by default. Globs use `*` for one segment
//! and `**` for any depth; they are themselves workspace-relative. What this does
//! not do: follow symlinks. The fs tool confines the actual open to the workspace.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};

/// A workspace-relative path after normalisation (`a/b/c`, or `.` for the root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkspacePath(String);

impl WorkspacePath {
    /// Normalises `raw`, or says why it cannot be a workspace path.
    pub fn normalise(raw: &str) -> Result<Self, String> {
        if raw.contains('\0') {
            return Err("the path contains a NUL byte".into());
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
                other => segments.push(other),
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

/// A glob over normalised workspace paths.
#[derive(Debug, Clone)]
pub struct PathGlob {
    pub source: String,
    matcher: GlobMatcher,
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
        let matcher = GlobBuilder::new(source)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("`{source}` is not a valid glob: {e}"))?
            .compile_matcher();
        Ok(Self {
            source: source.to_owned(),
            matcher,
        })
    }

    pub fn matches(&self, path: &WorkspacePath) -> bool {
        self.matcher.is_match(path.as_str())
    }
}

/// The argument names fs functions use for paths.
pub const PATH_ARGUMENTS: &[&str] = &["path", "from", "to"];

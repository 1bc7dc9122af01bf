//! `clambot:host/fs`: files inside the workspace, and nowhere else.
//!
//! Two layers keep a script inside. The gate has already normalised the path
//! (NFC; no absolute paths, no `..` above the root, no NUL, control or
//! invisible characters, no device names, no over-long names) and judged it
//! against policy. This tool then does every operation through
//! [`Workspace`](crate::workspace::Workspace), which refuses links, hard-linked
//! files and anything that is not a regular file on the opened descriptor, never
//! blocks, and cannot resolve a path outside the root (see its threat model).
//!
//! What this module adds is the bound on the host's own work for a script: every
//! transformation it does (an edit, an append, decoding text, listing) has its
//! result size computed and checked against the file cap — and, for an edit,
//! against the run's memory — *before* anything is built, and fails with
//! `limit` without allocating. Host memory for any call stays a small multiple
//! of the file cap.
//!
//! Errors name workspace paths only, never where the workspace is on the host.

use std::path::Path;

use anyhow::Result;
use serde_json::{Value as Json, json};

use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::policy::fs::WorkspacePath;
use crate::workspace::{Kind, Workspace};

pub use crate::workspace::{BOUNDARY_RULE, MAX_FILE_BYTES, MAX_LIST_ENTRIES};

/// The fs tool, rooted at one workspace directory.
#[derive(Debug, Clone)]
pub struct Fs {
    workspace: Workspace,
}

impl Fs {
    /// Opens `workspace` (creating it if needed) as the root of every path.
    pub fn open(workspace: &Path) -> Result<Self> {
        Ok(Self {
            workspace: Workspace::open(workspace)?,
        })
    }

    fn read_text(&self, path: &WorkspacePath) -> Result<Json, ToolError> {
        self.text(path).map(Json::String)
    }

    /// Decoding is in place (`String::from_utf8` reuses the bytes read).
    fn text(&self, path: &WorkspacePath) -> Result<String, ToolError> {
        let bytes = self.workspace.read(path, MAX_FILE_BYTES)?;
        String::from_utf8(bytes).map_err(|e| {
            ToolError::Invalid(format!(
                "`{path}` is not UTF-8 text (invalid byte at offset {}); use fs.readBytes",
                e.utf8_error().valid_up_to()
            ))
        })
    }

    /// Replaces every `find` by `replace`. The result's size is computed from
    /// the match count before it is built, and refused past `cap`; the result
    /// is then built once, at its exact size.
    fn edit(
        &self,
        path: &WorkspacePath,
        find: &str,
        replace: &str,
        cap: u64,
    ) -> Result<Json, ToolError> {
        if find.is_empty() {
            return Err(ToolError::Invalid(
                "`find` is empty; give the text to replace".into(),
            ));
        }
        let text = self.text(path)?;
        let count = text.matches(find).count();
        if count == 0 {
            return Ok(json!(0));
        }
        let size = edited_size(text.len(), count, find.len(), replace.len());
        if size > u128::from(cap) {
            return Err(ToolError::Limit(format!(
                "the edit would make `{path}` {size} bytes ({count} replacements), more than {}, the limit",
                crate::size::show_size(cap)
            )));
        }
        let mut edited = String::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut last = 0;
        for (at, found) in text.match_indices(find) {
            edited.push_str(&text[last..at]);
            edited.push_str(replace);
            last = at + found.len();
        }
        edited.push_str(&text[last..]);
        drop(text);
        self.workspace
            .replace(path, edited.as_bytes(), MAX_FILE_BYTES)?;
        Ok(json!(count))
    }

    fn list(&self, path: &WorkspacePath) -> Result<Json, ToolError> {
        let entries = self.workspace.list(path)?;
        Ok(Json::Array(
            entries
                .into_iter()
                .map(|e| json!({ "name": e.name, "kind": kind(e.kind), "size": e.size }))
                .collect(),
        ))
    }

    fn stat(&self, path: &WorkspacePath) -> Result<Json, ToolError> {
        let status = self.workspace.stat(path)?;
        Ok(json!({
            "kind": kind(status.kind),
            "size": status.size,
            "modified-ms": status.modified_ms,
        }))
    }
}

/// The byte length of a text of `len` bytes after `count` replacements of a
/// `find`-byte needle by a `replace`-byte one (in `u128`: no overflow).
pub fn edited_size(len: usize, count: usize, find: usize, replace: usize) -> u128 {
    let (len, count) = (len as u128, count as u128);
    len - count * find as u128 + count * replace as u128
}

/// The largest result an edit may build: the file cap, or the run's memory
/// if that is smaller.
fn edit_cap(run: &RunContext) -> u64 {
    run.gate
        .policy
        .run()
        .memory
        .map_or(MAX_FILE_BYTES, |memory| memory.min(MAX_FILE_BYTES))
}

impl HostInterface for Fs {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            let path = |name: &str| -> Result<WorkspacePath, ToolError> {
                WorkspacePath::normalise(super::string_arg(&args, name)?)
                    .map_err(ToolError::Invalid)
            };
            let text = |name: &str| super::string_arg(&args, name);
            let done = |r: Result<(), ToolError>| r.map(|()| Json::Null);
            let ws = &self.workspace;
            match function {
                "read-text" => self.read_text(&path("path")?),
                "read-bytes" => Ok(json!(ws.read(&path("path")?, MAX_FILE_BYTES)?)),
                "write-text" => {
                    let (target, content) = (path("path")?, text("content")?);
                    done(ws.replace(&target, content.as_bytes(), MAX_FILE_BYTES))
                }
                "write-bytes" => {
                    let target = path("path")?;
                    let content = bytes_arg(&args, "content")?;
                    done(ws.replace(&target, &content, MAX_FILE_BYTES))
                }
                "append-text" => {
                    let (target, content) = (path("path")?, text("content")?);
                    done(ws.append(&target, content.as_bytes(), MAX_FILE_BYTES))
                }
                "edit" => self.edit(
                    &path("path")?,
                    text("find")?,
                    text("replace")?,
                    edit_cap(run),
                ),
                "list" => self.list(&path("path")?),
                "stat" => self.stat(&path("path")?),
                "remove" => done(ws.remove(&path("path")?)),
                "mkdir" => done(ws.mkdir(&path("path")?)),
                "move" => done(ws.rename(&path("from")?, &path("to")?)),
                other => Err(super::unknown_function("fs", other)),
            }
        })
    }
}

fn bytes_arg(args: &Json, name: &str) -> Result<Vec<u8>, ToolError> {
    args.get(name)
        .and_then(Json::as_array)
        .and_then(|items| {
            items
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
        })
        .ok_or_else(|| ToolError::Invalid(format!("`{name}` must be bytes")))
}

fn kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Symlink => "symlink",
        Kind::Dir => "dir",
        // The WIT enum has no case for FIFOs, sockets and devices; reading one
        // fails with `invalid`.
        Kind::File | Kind::Special => "file",
    }
}

#[cfg(test)]
mod tests {
    use super::edited_size;

    #[test]
    fn edited_size_is_exact_and_never_overflows() {
        assert_eq!(edited_size(10, 2, 3, 5), 14);
        assert_eq!(edited_size(10, 2, 3, 0), 4);
        let huge = edited_size(16 << 20, 16 << 20, 1, usize::MAX);
        assert!(huge > u128::from(u64::MAX));
    }
}

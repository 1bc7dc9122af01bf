//! `clambot:host/fs`: files inside the workspace, and nowhere else.
//!
//! Three layers keep a script inside. The gate has already normalised the path
//! (no absolute paths, no `..` above the root, no NUL or control characters, no
//! device names, no over-long names) and judged it against policy. This tool
//! then refuses any path that passes through a symbolic link — even one that
//! stays inside, because policy judged the path as written, and a link from
//! `notes/` into a denied directory would otherwise be a way around a deny rule
//! — and any regular file with more than one hard link, whose other name may be
//! outside. Underneath, every operation goes through a cap-std `Dir` for the
//! workspace root, which cannot resolve a path to anything outside it, so a race
//! that swaps a directory for a link between the check and the use still cannot
//! escape. Replacing writes go to a temporary file that is renamed into place,
//! so a crash never leaves half a file.
//!
//! Errors name workspace paths only, never where the workspace is on the host.

use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use cap_std::fs::{Dir, MetadataExt as _, OpenOptions};
use serde_json::{Value as Json, json};

use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::policy::fs::WorkspacePath;

/// Largest file a call reads or leaves behind.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most entries `list` returns.
pub const MAX_LIST_ENTRIES: usize = 10_000;

/// The rule named when the workspace boundary (not policy) refuses a path.
pub const BOUNDARY_RULE: &str = "workspace-boundary";

/// The fs tool, rooted at one workspace directory.
#[derive(Debug, Clone)]
pub struct Fs {
    root: Arc<Dir>,
}

impl Fs {
    /// Opens `workspace` (creating it if needed) as the root of every path.
    pub fn open(workspace: &Path) -> Result<Self> {
        std::fs::create_dir_all(workspace)
            .with_context(|| format!("creating the workspace {}", workspace.display()))?;
        let root = Dir::open_ambient_dir(workspace, cap_std::ambient_authority())
            .with_context(|| format!("opening the workspace {}", workspace.display()))?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    fn read_text(&self, path: &WorkspacePath) -> Result<Json, ToolError> {
        let bytes = self.read_bytes(path)?;
        String::from_utf8(bytes).map(Json::String).map_err(|e| {
            ToolError::Invalid(format!(
                "`{path}` is not UTF-8 text (invalid byte at offset {}); use fs.readBytes",
                e.utf8_error().valid_up_to()
            ))
        })
    }

    fn read_bytes(&self, path: &WorkspacePath) -> Result<Vec<u8>, ToolError> {
        let target = self.existing_file(path)?;
        let file = self.root.open(&target).map_err(|e| io_error(path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(path));
        }
        Ok(bytes)
    }

    fn write(&self, path: &WorkspacePath, content: &[u8]) -> Result<(), ToolError> {
        if content.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(path));
        }
        let target = self.writable(path)?;
        self.replace(path, &target, content)
    }

    fn append(&self, path: &WorkspacePath, content: &[u8]) -> Result<(), ToolError> {
        let target = self.writable(path)?;
        let current = match self.root.metadata(&target) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_error(path, e)),
        };
        if current + content.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(path));
        }
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        let mut file = self
            .root
            .open_with(&target, &options)
            .map_err(|e| io_error(path, e))?;
        file.write_all(content).map_err(|e| io_error(path, e))
    }

    fn edit(&self, path: &WorkspacePath, find: &str, replace: &str) -> Result<Json, ToolError> {
        if find.is_empty() {
            return Err(ToolError::Invalid(
                "`find` is empty; give the text to replace".into(),
            ));
        }
        let text = self.read_text(path)?;
        let text = text.as_str().unwrap_or_default();
        let count = text.matches(find).count();
        if count > 0 {
            let edited = text.replace(find, replace);
            self.write(path, edited.as_bytes())?;
        }
        Ok(json!(count))
    }

    fn list(&self, path: &WorkspacePath) -> Result<Json, ToolError> {
        self.no_links(path, true)?;
        let dir = if path.as_str() == "." {
            self.root.try_clone().map_err(|e| io_error(path, e))?
        } else {
            self.root
                .open_dir(relative(path))
                .map_err(|e| io_error(path, e))?
        };
        let mut entries = Vec::new();
        for entry in dir.entries().map_err(|e| io_error(path, e))? {
            let entry = entry.map_err(|e| io_error(path, e))?;
            if entries.len() == MAX_LIST_ENTRIES {
                return Err(ToolError::Limit(format!(
                    "`{path}` has more than {MAX_LIST_ENTRIES} entries"
                )));
            }
            // lstat: a link is reported as a link, never followed.
            let metadata = dir
                .symlink_metadata(entry.file_name())
                .map_err(|e| io_error(path, e))?;
            entries.push(json!({
                "name": entry.file_name().to_string_lossy(),
                "kind": kind(&metadata),
                "size": metadata.len(),
            }));
        }
        entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Ok(Json::Array(entries))
    }

    fn stat(&self, path: &WorkspacePath) -> Result<Json, ToolError> {
        self.no_links(path, false)?;
        let metadata = if path.as_str() == "." {
            self.root.dir_metadata()
        } else {
            self.root.symlink_metadata(relative(path))
        }
        .map_err(|e| io_error(path, e))?;
        let modified_ms = metadata
            .modified()
            .ok()
            .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        Ok(json!({ "kind": kind(&metadata), "size": metadata.len(), "modified-ms": modified_ms }))
    }

    fn remove(&self, path: &WorkspacePath) -> Result<(), ToolError> {
        if path.as_str() == "." {
            return Err(ToolError::Invalid(
                "the workspace root cannot be removed".into(),
            ));
        }
        // Removing a link removes the link, never its target, so the last
        // component may be one.
        self.no_links(path, false)?;
        let target = relative(path);
        let metadata = self
            .root
            .symlink_metadata(&target)
            .map_err(|e| io_error(path, e))?;
        if metadata.is_dir() {
            self.root.remove_dir(&target)
        } else {
            self.root.remove_file(&target)
        }
        .map_err(|e| io_error(path, e))
    }

    fn mkdir(&self, path: &WorkspacePath) -> Result<(), ToolError> {
        if path.as_str() == "." {
            return Ok(());
        }
        self.no_links(path, true)?;
        self.root
            .create_dir_all(relative(path))
            .map_err(|e| io_error(path, e))
    }

    fn rename(&self, from: &WorkspacePath, to: &WorkspacePath) -> Result<(), ToolError> {
        if from.as_str() == "." || to.as_str() == "." {
            return Err(ToolError::Invalid(
                "the workspace root cannot be moved or replaced".into(),
            ));
        }
        self.no_links(from, true)?;
        self.no_links(to, true)?;
        let (source, destination) = (relative(from), relative(to));
        let metadata = self
            .root
            .symlink_metadata(&source)
            .map_err(|e| io_error(from, e))?;
        if metadata.is_file() && metadata.nlink() > 1 {
            return Err(hard_linked(from));
        }
        match self.root.symlink_metadata(&destination) {
            Ok(_) => {
                return Err(ToolError::Invalid(format!(
                    "`{to}` exists; remove it first (fs.move never overwrites)"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(to, e)),
        }
        self.root
            .rename(&source, &self.root, &destination)
            .map_err(|e| io_error(from, e))
    }

    /// The path of an existing regular file that may be read.
    fn existing_file(&self, path: &WorkspacePath) -> Result<PathBuf, ToolError> {
        self.no_links(path, true)?;
        let target = relative(path);
        let metadata = self
            .root
            .symlink_metadata(&target)
            .map_err(|e| io_error(path, e))?;
        if metadata.is_dir() {
            return Err(ToolError::Invalid(format!(
                "`{path}` is a directory; use fs.list"
            )));
        }
        if !metadata.is_file() {
            return Err(ToolError::Invalid(format!(
                "`{path}` is not a regular file"
            )));
        }
        if metadata.nlink() > 1 {
            return Err(hard_linked(path));
        }
        Ok(target)
    }

    /// The path of a file that may be created or replaced.
    fn writable(&self, path: &WorkspacePath) -> Result<PathBuf, ToolError> {
        if path.as_str() == "." {
            return Err(ToolError::Invalid(
                "the workspace root is a directory".into(),
            ));
        }
        self.no_links(path, true)?;
        let target = relative(path);
        match self.root.symlink_metadata(&target) {
            Ok(m) if m.is_dir() => Err(ToolError::Invalid(format!("`{path}` is a directory"))),
            Ok(m) if !m.is_file() => Err(ToolError::Invalid(format!(
                "`{path}` is not a regular file"
            ))),
            Ok(m) if m.nlink() > 1 => Err(hard_linked(path)),
            Ok(_) => Ok(target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
                    self.root
                        .create_dir_all(parent)
                        .map_err(|e| io_error(path, e))?;
                }
                Ok(target)
            }
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Writes `content` to a temporary file beside `target` and renames it over.
    fn replace(
        &self,
        path: &WorkspacePath,
        target: &Path,
        content: &[u8],
    ) -> Result<(), ToolError> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temporary = target.with_file_name(format!(
            ".{}.clambot-{}.tmp",
            name.chars().take(200).collect::<String>(),
            uuid::Uuid::now_v7().simple()
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let result = (|| {
            let mut file = self.root.open_with(&temporary, &options)?;
            file.write_all(content)?;
            file.sync_all()?;
            self.root.rename(&temporary, &self.root, target)
        })();
        if result.is_err() {
            let _ = self.root.remove_file(&temporary);
        }
        result.map_err(|e| io_error(path, e))
    }

    /// Refuses a path any existing component of which is a symbolic link
    /// (`include_last`: the final component too).
    fn no_links(&self, path: &WorkspacePath, include_last: bool) -> Result<(), ToolError> {
        if path.as_str() == "." {
            return Ok(());
        }
        let components: Vec<&str> = path.as_str().split('/').collect();
        let checked = if include_last {
            components.len()
        } else {
            components.len() - 1
        };
        let mut prefix = PathBuf::new();
        for component in &components[..checked] {
            prefix.push(component);
            match self.root.symlink_metadata(&prefix) {
                Ok(m) if m.is_symlink() => {
                    return Err(ToolError::Denied {
                        rule: BOUNDARY_RULE.into(),
                        reason: format!(
                            "`{}` is a symbolic link; the fs tool does not follow links (name the file it points to instead)",
                            prefix.display()
                        ),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(path, e)),
            }
        }
        Ok(())
    }
}

impl HostInterface for Fs {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        _run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            let path = |name: &str| -> Result<WorkspacePath, ToolError> {
                WorkspacePath::normalise(super::string_arg(&args, name)?)
                    .map_err(ToolError::Invalid)
            };
            let text = |name: &str| super::string_arg(&args, name);
            let done = |r: Result<(), ToolError>| r.map(|()| Json::Null);
            match function {
                "read-text" => self.read_text(&path("path")?),
                "read-bytes" => Ok(json!(self.read_bytes(&path("path")?)?)),
                "write-text" => done(self.write(&path("path")?, text("content")?.as_bytes())),
                "write-bytes" => {
                    let content = bytes_arg(&args, "content")?;
                    done(self.write(&path("path")?, &content))
                }
                "append-text" => done(self.append(&path("path")?, text("content")?.as_bytes())),
                "edit" => self.edit(&path("path")?, text("find")?, text("replace")?),
                "list" => self.list(&path("path")?),
                "stat" => self.stat(&path("path")?),
                "remove" => done(self.remove(&path("path")?)),
                "mkdir" => done(self.mkdir(&path("path")?)),
                "move" => done(self.rename(&path("from")?, &path("to")?)),
                other => Err(super::unknown_function("fs", other)),
            }
        })
    }
}

fn relative(path: &WorkspacePath) -> PathBuf {
    PathBuf::from(path.as_str())
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

fn kind(metadata: &cap_std::fs::Metadata) -> &'static str {
    if metadata.is_symlink() {
        "symlink"
    } else if metadata.is_dir() {
        "dir"
    } else {
        "file"
    }
}

fn too_large(path: &WorkspacePath) -> ToolError {
    ToolError::Limit(format!(
        "`{path}` would be larger than {} MiB, the fs tool's limit",
        MAX_FILE_BYTES / (1024 * 1024)
    ))
}

fn hard_linked(path: &WorkspacePath) -> ToolError {
    ToolError::Denied {
        rule: BOUNDARY_RULE.into(),
        reason: format!(
            "`{path}` has more than one hard link, and another name for it may be outside the workspace"
        ),
    }
}

/// Maps an I/O error to the WIT error, naming the workspace path only.
fn io_error(path: &WorkspacePath, error: io::Error) -> ToolError {
    use io::ErrorKind as K;
    const ELOOP: i32 = 40;
    match error.kind() {
        K::NotFound => ToolError::NotFound(format!("`{path}` does not exist")),
        // cap-std's answer to anything that would resolve outside the root.
        K::PermissionDenied if error.to_string().contains("outside") => ToolError::Denied {
            rule: BOUNDARY_RULE.into(),
            reason: format!("`{path}` leads outside the workspace"),
        },
        K::PermissionDenied => ToolError::Failed(format!("`{path}`: permission denied")),
        K::AlreadyExists => ToolError::Invalid(format!("`{path}` already exists")),
        K::IsADirectory => ToolError::Invalid(format!("`{path}` is a directory")),
        K::NotADirectory => {
            ToolError::Invalid(format!("a part of `{path}` is a file, not a directory"))
        }
        K::DirectoryNotEmpty => {
            ToolError::Invalid(format!("`{path}` is a directory that is not empty"))
        }
        K::InvalidFilename => ToolError::Invalid(format!("`{path}` is not a valid file name")),
        K::StorageFull | K::QuotaExceeded => {
            ToolError::Limit(format!("no space left to write `{path}`"))
        }
        _ if error.raw_os_error() == Some(ELOOP) => {
            ToolError::Invalid(format!("`{path}` has too many levels of symbolic links"))
        }
        _ => ToolError::Failed(format!("`{path}`: {}", error.kind())),
    }
}

//! The workspace: the one directory scripts' files live in, and the one type
//! through which the host reads or writes it — the fs tool, Telegram uploads
//! and the heartbeat's `HEARTBEAT.md` all go through [`Workspace`].
//!
//! What it blocks. Paths are [`WorkspacePath`]s, already normalised (NFC, no
//! `..` above the root, no absolute paths, no invisible characters). Any path
//! that passes through a symbolic link is refused — even one that stays inside,
//! because policy judged the path as written and a link from `notes/` into a
//! denied directory would otherwise get round a deny rule — and so is a regular
//! file with more than one hard link, whose other name may be outside. Every
//! operation goes through a cap-std `Dir` for the root, which cannot resolve a
//! path to anything outside it, so a race that swaps a directory for a link
//! still cannot escape. No read or write can block: files are opened with
//! `O_NONBLOCK | O_NOFOLLOW | O_NOCTTY`, and the *opened* descriptor must be a
//! regular file with one link (checked with `fstat`), so a FIFO, socket or
//! device swapped in between the check and the open fails at once with a typed
//! error instead of wedging the run (or the gateway) past its deadline. Every
//! read has a size cap, and is refused before a byte is read when the opened
//! file is larger. Replacing writes go to a temporary file that is renamed into
//! place, so a crash never leaves half a file; missing parent directories are
//! created only as part of a write and removed again if the write fails.
//!
//! [`check_clear_of`] keeps the workspace apart from clambot's own state: a
//! workspace that is, contains or lies inside the home's data, secrets, cache,
//! config, policy, tools or clams (paths canonicalised, symlinks resolved, bind
//! mounts caught by device and inode) is refused at start-up, so no fs call can
//! ever name them.
//!
//! What it does not do: judge policy (the gate has), or defend against another
//! process on the host with write access to the workspace beyond never
//! following its links, never blocking and never escaping the root. Errors name
//! workspace paths only, never where the workspace is on the host.

use std::io::{self, Read as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use cap_std::fs::{Dir, File, MetadataExt as _, OpenOptions, OpenOptionsExt as _};

use crate::gate::ToolError;
use crate::policy::fs::WorkspacePath;

/// Largest file the host reads for a script or leaves behind for one (16 MiB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most entries a directory listing returns. Names are at most 255 bytes, so a
/// listing is at most ~2.5 MB of names; reading stops at the first entry over.
pub const MAX_LIST_ENTRIES: usize = 10_000;
/// The rule named when the workspace boundary (not policy) refuses a path.
pub const BOUNDARY_RULE: &str = "workspace-boundary";
/// Bytes of the target's name kept in a temporary file's name: with the dot,
/// a 32-character id and `.tmp` the temporary name stays far under NAME_MAX.
const TEMPORARY_NAME_BYTES: usize = 64;

/// Flags for every open: never block (FIFOs, devices), never follow a final
/// link, never take a controlling terminal.
const OPEN_FLAGS: i32 = libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY;

/// What a directory entry or path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: listed, never opened.
    Special,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    pub size: u64,
}

/// What `stat` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub kind: Kind,
    pub size: u64,
    pub modified_ms: u64,
}

/// The workspace directory, opened once.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: Arc<Dir>,
}

impl Workspace {
    /// Opens `path` (creating it if needed) as the root of every path.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)
            .with_context(|| format!("creating the workspace {}", path.display()))?;
        Self::open_existing(path)
    }

    /// Opens `path`, which must exist.
    pub fn open_existing(path: &Path) -> anyhow::Result<Self> {
        let root = Dir::open_ambient_dir(path, cap_std::ambient_authority())
            .with_context(|| format!("opening the workspace {}", path.display()))?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    /// The contents of a regular file of at most `max` bytes (`limit` past it).
    pub fn read(&self, path: &WorkspacePath, max: u64) -> Result<Vec<u8>, ToolError> {
        self.existing_file(path)?;
        let (file, size) = self.open_regular(path)?;
        if size > max {
            return Err(too_large(path, max));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // The file may grow after the fstat; never read past the cap.
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        if bytes.len() as u64 > max {
            return Err(too_large(path, max));
        }
        Ok(bytes)
    }

    /// Opens `path` for reading without blocking or following a final link, and
    /// checks the descriptor: a regular file with one link, and its size. Whatever
    /// was checked by name before, this is what was actually opened.
    fn open_regular(&self, path: &WorkspacePath) -> Result<(File, u64), ToolError> {
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(OPEN_FLAGS);
        let file = self
            .root
            .open_with(relative(path), &options)
            .map_err(|e| io_error(path, e))?;
        let size = regular(path, &file)?;
        Ok((file, size))
    }

    /// Creates or replaces a file with `content` (at most `max` bytes).
    pub fn replace(&self, path: &WorkspacePath, content: &[u8], max: u64) -> Result<(), ToolError> {
        if content.len() as u64 > max {
            return Err(too_large(path, max));
        }
        let target = self.writable(path)?;
        self.with_parents(path, || {
            self.write_temporary(path, content, |temporary| {
                self.root.rename(temporary, &self.root, &target)
            })
        })
    }

    /// Creates a new file with `content`; `invalid` (already exists) if the
    /// name is taken, even by a file created a moment ago.
    pub fn create_new(
        &self,
        path: &WorkspacePath,
        content: &[u8],
        max: u64,
    ) -> Result<(), ToolError> {
        if content.len() as u64 > max {
            return Err(too_large(path, max));
        }
        let target = self.writable(path)?;
        // A hard link never replaces an existing name, so two writers of one
        // name cannot overwrite each other; the temporary name then goes.
        self.with_parents(path, || {
            self.write_temporary(path, content, |temporary| {
                self.root.hard_link(temporary, &self.root, &target)?;
                self.root.remove_file(temporary)
            })
        })
    }

    /// Appends `content`, creating the file if needed; the result is at most
    /// `max` bytes.
    pub fn append(&self, path: &WorkspacePath, content: &[u8], max: u64) -> Result<(), ToolError> {
        if content.len() as u64 > max {
            return Err(too_large(path, max));
        }
        let target = self.writable(path)?;
        self.with_parents(path, || self.append_to(path, &target, content, max))
    }

    fn append_to(
        &self,
        path: &WorkspacePath,
        target: &Path,
        content: &[u8],
        max: u64,
    ) -> Result<(), ToolError> {
        let mut options = OpenOptions::new();
        options.append(true).custom_flags(OPEN_FLAGS);
        let mut created_file = false;
        let opened = match self.root.open_with(target, &options) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                options.create_new(true);
                created_file = true;
                self.root.open_with(target, &options)
            }
            other => other,
        };
        let result = opened.map_err(|e| io_error(path, e)).and_then(|mut file| {
            let current = regular(path, &file)?;
            if current + content.len() as u64 > max {
                return Err(too_large(path, max));
            }
            file.write_all(content).map_err(|e| io_error(path, e))
        });
        if result.is_err() && created_file {
            let _ = self.root.remove_file(target);
        }
        result
    }

    /// Whether anything (a link included) has this name.
    pub fn exists(&self, path: &WorkspacePath) -> bool {
        path.is_root() || self.root.symlink_metadata(relative(path)).is_ok()
    }

    /// The entries of a directory, sorted by name; `limit` past
    /// [`MAX_LIST_ENTRIES`].
    pub fn list(&self, path: &WorkspacePath) -> Result<Vec<Entry>, ToolError> {
        self.no_links(path, true)?;
        let dir = if path.is_root() {
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
            entries.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                kind: kind(&metadata),
                size: metadata.len(),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Describes a path (a final link is described, not followed).
    pub fn stat(&self, path: &WorkspacePath) -> Result<Status, ToolError> {
        self.no_links(path, false)?;
        let metadata = if path.is_root() {
            self.root.dir_metadata()
        } else {
            self.root.symlink_metadata(relative(path))
        }
        .map_err(|e| io_error(path, e))?;
        let modified_ms = metadata
            .modified()
            .ok()
            .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Ok(Status {
            kind: kind(&metadata),
            size: metadata.len(),
            modified_ms,
        })
    }

    /// Removes a file, a link (never its target) or an empty directory.
    pub fn remove(&self, path: &WorkspacePath) -> Result<(), ToolError> {
        if path.is_root() {
            return Err(ToolError::Invalid(
                "the workspace root cannot be removed".into(),
            ));
        }
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

    /// Creates a directory and any missing parents; on failure, none of them
    /// is left behind.
    pub fn mkdir(&self, path: &WorkspacePath) -> Result<(), ToolError> {
        if path.is_root() {
            return Ok(());
        }
        self.no_links(path, true)?;
        self.create_parents(path, true).map(drop)
    }

    /// Moves a file or directory; never overwrites.
    pub fn rename(&self, from: &WorkspacePath, to: &WorkspacePath) -> Result<(), ToolError> {
        if from.is_root() || to.is_root() {
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

    /// Checks that `path` names an existing regular file with one link (by
    /// lstat, before anything is opened; the open re-checks the descriptor).
    fn existing_file(&self, path: &WorkspacePath) -> Result<(), ToolError> {
        self.no_links(path, true)?;
        let metadata = self
            .root
            .symlink_metadata(relative(path))
            .map_err(|e| io_error(path, e))?;
        if metadata.is_dir() {
            return Err(ToolError::Invalid(format!(
                "`{path}` is a directory; use fs.list"
            )));
        }
        if !metadata.is_file() {
            return Err(not_regular(path));
        }
        if metadata.nlink() > 1 {
            return Err(hard_linked(path));
        }
        Ok(())
    }

    /// The path of a file that may be created or replaced (nothing is created).
    fn writable(&self, path: &WorkspacePath) -> Result<PathBuf, ToolError> {
        if path.is_root() {
            return Err(ToolError::Invalid(
                "the workspace root is a directory".into(),
            ));
        }
        self.no_links(path, true)?;
        let target = relative(path);
        match self.root.symlink_metadata(&target) {
            Ok(m) if m.is_dir() => Err(ToolError::Invalid(format!("`{path}` is a directory"))),
            Ok(m) if !m.is_file() => Err(not_regular(path)),
            Ok(m) if m.nlink() > 1 => Err(hard_linked(path)),
            Ok(_) => Ok(target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(target),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Runs `write` with the missing directories above `path` created, and
    /// removes them again if it fails: a failed write leaves nothing behind.
    fn with_parents<T>(
        &self,
        path: &WorkspacePath,
        write: impl FnOnce() -> Result<T, ToolError>,
    ) -> Result<T, ToolError> {
        let created = self.create_parents(path, false)?;
        let result = write();
        if result.is_err() {
            self.remove_created(&created);
        }
        result
    }

    /// Creates the missing directories above `path` (and `path` itself when
    /// `include_last`); returns those it created, to undo a failed write. On
    /// failure it removes what it created.
    fn create_parents(
        &self,
        path: &WorkspacePath,
        include_last: bool,
    ) -> Result<Vec<PathBuf>, ToolError> {
        let segments: Vec<&str> = path.segments().collect();
        let wanted = if include_last {
            segments.len()
        } else {
            segments.len().saturating_sub(1)
        };
        let mut created = Vec::new();
        let mut prefix = PathBuf::new();
        for segment in &segments[..wanted] {
            prefix.push(segment);
            match self.root.create_dir(&prefix) {
                Ok(()) => created.push(prefix.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match self.root.symlink_metadata(&prefix) {
                        Ok(m) if m.is_dir() => {}
                        Ok(m) if m.is_symlink() => {
                            self.remove_created(&created);
                            return Err(linked(&prefix));
                        }
                        _ => {
                            self.remove_created(&created);
                            return Err(ToolError::Invalid(format!(
                                "a part of `{path}` is a file, not a directory"
                            )));
                        }
                    }
                }
                Err(e) => {
                    self.remove_created(&created);
                    return Err(io_error(path, e));
                }
            }
        }
        Ok(created)
    }

    /// Removes directories [`Self::create_parents`] made, deepest first (only
    /// while empty: never anything another writer put there meanwhile).
    fn remove_created(&self, created: &[PathBuf]) {
        for dir in created.iter().rev() {
            let _ = self.root.remove_dir(dir);
        }
    }

    /// Writes `content` to a fresh temporary file beside `path`, flushes it,
    /// then hands its name to `finish`; the temporary file never outlives a
    /// failure.
    fn write_temporary(
        &self,
        path: &WorkspacePath,
        content: &[u8],
        finish: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<(), ToolError> {
        let target = relative(path);
        let temporary = target.with_file_name(temporary_name(path.file_name().unwrap_or("file")));
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create_new(true)
            .custom_flags(OPEN_FLAGS);
        let result = (|| {
            let mut file = self.root.open_with(&temporary, &options)?;
            file.write_all(content)?;
            file.sync_all()?;
            finish(&temporary)
        })();
        if result.is_err() {
            let _ = self.root.remove_file(&temporary);
        }
        result.map_err(|e| io_error(path, e))
    }

    /// Refuses a path any existing component of which is a symbolic link
    /// (`include_last`: the final component too).
    fn no_links(&self, path: &WorkspacePath, include_last: bool) -> Result<(), ToolError> {
        let segments: Vec<&str> = path.segments().collect();
        let checked = if include_last {
            segments.len()
        } else {
            segments.len().saturating_sub(1)
        };
        let mut prefix = PathBuf::new();
        for segment in &segments[..checked] {
            prefix.push(segment);
            match self.root.symlink_metadata(&prefix) {
                Ok(m) if m.is_symlink() => return Err(linked(&prefix)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(path, e)),
            }
        }
        Ok(())
    }
}

/// `.{name cut to TEMPORARY_NAME_BYTES on a character boundary}.{id}.tmp`.
pub fn temporary_name(name: &str) -> String {
    let mut end = name.len().min(TEMPORARY_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}.{}.tmp", &name[..end], uuid::Uuid::now_v7().simple())
}

/// The size of an opened file, which must be a regular file with one link:
/// the check that counts, because it is made on the descriptor itself.
fn regular(path: &WorkspacePath, file: &File) -> Result<u64, ToolError> {
    let metadata = file.metadata().map_err(|e| io_error(path, e))?;
    if metadata.is_dir() {
        return Err(ToolError::Invalid(format!("`{path}` is a directory")));
    }
    if !metadata.is_file() {
        return Err(not_regular(path));
    }
    if metadata.nlink() > 1 {
        return Err(hard_linked(path));
    }
    Ok(metadata.len())
}

fn relative(path: &WorkspacePath) -> PathBuf {
    PathBuf::from(path.as_str())
}

fn kind(metadata: &cap_std::fs::Metadata) -> Kind {
    if metadata.is_symlink() {
        Kind::Symlink
    } else if metadata.is_dir() {
        Kind::Dir
    } else if metadata.is_file() {
        Kind::File
    } else {
        Kind::Special
    }
}

/// `limit`: the file would be larger than `max`.
pub fn too_large(path: &WorkspacePath, max: u64) -> ToolError {
    ToolError::Limit(format!(
        "`{path}` would be larger than {}, the limit",
        crate::size::show_size(max)
    ))
}

fn not_regular(path: &WorkspacePath) -> ToolError {
    ToolError::Invalid(format!(
        "`{path}` is not a regular file (a FIFO, socket or device is never opened)"
    ))
}

fn linked(prefix: &Path) -> ToolError {
    ToolError::Denied {
        rule: BOUNDARY_RULE.into(),
        reason: format!(
            "`{}` is a symbolic link; the fs tool does not follow links (name the file it points to instead)",
            prefix.display()
        ),
    }
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
        K::WouldBlock => not_regular(path),
        // O_NOFOLLOW met a link swapped in after the check.
        _ if error.raw_os_error() == Some(libc::ELOOP) => ToolError::Denied {
            rule: BOUNDARY_RULE.into(),
            reason: format!("`{path}` is or passes through a symbolic link"),
        },
        // A FIFO opened for writing with no reader, or a device with none behind it.
        _ if matches!(
            error.raw_os_error(),
            Some(libc::ENXIO | libc::ENODEV | libc::EOPNOTSUPP)
        ) =>
        {
            not_regular(path)
        }
        _ => ToolError::Failed(format!("`{path}`: {}", error.kind())),
    }
}

/// The workspace overlaps clambot's own state, so it is not used.
#[derive(Debug, thiserror::Error)]
#[error(
    "the workspace {workspace} {how} {what} ({path}); a script's fs calls could reach it. \
     Choose a workspace apart from clambot's state (set CLAMBOT_WORKSPACE, or leave it unset \
     for $CLAMBOT_HOME/workspace)"
)]
pub struct Overlap {
    pub workspace: PathBuf,
    pub what: String,
    pub path: PathBuf,
    pub how: &'static str,
}

/// One piece of clambot's state the workspace must stay apart from.
#[derive(Debug, Clone)]
pub struct Protected {
    /// What it is, for the message ("the secrets file").
    pub what: String,
    pub path: PathBuf,
    /// The workspace may lie inside it (the home: `workspace/` is a directory
    /// of its own there), but never be it or contain it.
    pub may_contain_workspace: bool,
}

impl Protected {
    pub fn new(what: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            what: what.into(),
            path: path.into(),
            may_contain_workspace: false,
        }
    }
}

/// Refuses a `workspace` that is, contains, or lies inside any of `protected`,
/// judged on canonical paths (symlinks resolved, for the parts that exist) and
/// on device and inode (so a bind mount of a protected directory is caught).
pub fn check_clear_of(workspace: &Path, protected: &[Protected]) -> Result<(), Overlap> {
    let w = resolve(workspace);
    let (w_id, w_ancestry) = (identity(&w), ancestry(&w));
    for item in protected {
        let p = resolve(&item.path);
        let (p_id, p_ancestry) = (identity(&p), ancestry(&p));
        let overlap = |how: &'static str| Overlap {
            workspace: workspace.to_owned(),
            what: item.what.clone(),
            path: item.path.clone(),
            how,
        };
        if w == p || (w_id.is_some() && w_id == p_id) {
            return Err(overlap("is"));
        }
        // `p` inside `w`: `w` is an ancestor of `p`, by path or by identity.
        if p.starts_with(&w) || w_id.is_some_and(|id| p_ancestry.contains(&id)) {
            return Err(overlap("contains"));
        }
        if !item.may_contain_workspace
            && (w.starts_with(&p) || p_id.is_some_and(|id| w_ancestry.contains(&id)))
        {
            return Err(overlap("is inside"));
        }
    }
    Ok(())
}

/// `path` made absolute, with its longest existing prefix canonicalised and
/// the rest (which cannot hold links) normalised lexically.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            break canonical;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            // `..` at the end, or nothing exists: judge the text as written.
            _ => break lexical(&absolute),
        }
    };
    let mut out = base;
    for name in rest.iter().rev() {
        match Path::new(name).components().next() {
            Some(Component::ParentDir) => {
                out.pop();
            }
            Some(Component::CurDir) | None => {}
            Some(_) => out.push(name),
        }
    }
    lexical(&out)
}

fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// (device, inode) of `path`, if it exists.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The identities of `path` and of each of its existing ancestors.
fn ancestry(path: &Path) -> Vec<(u64, u64)> {
    path.ancestors().filter_map(identity).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_cut_on_a_character_boundary_under_name_max() {
        for name in [
            "a".repeat(255),
            "é".repeat(127),
            "日".repeat(85),
            "🦀".repeat(63),
        ] {
            let temporary = temporary_name(&name);
            assert!(temporary.len() <= 255, "{} bytes", temporary.len());
            assert!(temporary.starts_with('.') && temporary.ends_with(".tmp"));
        }
    }

    #[test]
    fn the_opened_descriptor_must_be_a_regular_file_whatever_the_name_check_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::open(dir.path()).expect("open");
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let _socket =
            std::os::unix::net::UnixListener::bind(dir.path().join("sock")).expect("socket");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).expect("link");
        std::fs::create_dir(dir.path().join("dir")).expect("dir");
        let started = std::time::Instant::now();
        // Skipping the check by name, as a swap between check and open would.
        for (name, code) in [
            ("pipe", "invalid"),
            ("sock", "invalid"),
            ("zero", "denied"),
            ("dir", "invalid"),
        ] {
            let path = WorkspacePath::normalise(name).expect("path");
            let error = workspace.open_regular(&path).expect_err(name);
            assert_eq!(error.code(), code, "{name}: {error}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "nothing blocked"
        );
    }

    #[test]
    fn a_failed_write_leaves_no_directories_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::open(dir.path()).expect("open");
        std::fs::create_dir(dir.path().join("kept")).expect("kept");
        let path = WorkspacePath::normalise("kept/new/deeper/file.txt").expect("path");
        let failed: Result<(), ToolError> =
            workspace.with_parents(&path, || Err(ToolError::Failed("the disk failed".into())));
        assert!(failed.is_err());
        assert!(dir.path().join("kept").is_dir(), "what existed stays");
        assert!(!dir.path().join("kept/new").exists(), "what was made goes");
        // A parent that is a file stops the walk and undoes what it made.
        std::fs::write(dir.path().join("kept/file"), "x").expect("file");
        let through_file = WorkspacePath::normalise("kept/file/sub/x").expect("path");
        assert!(workspace.replace(&through_file, b"x", 10).is_err());
        workspace
            .replace(&path, b"x", 10)
            .expect("a write that succeeds keeps its parents");
        assert_eq!(
            std::fs::read(dir.path().join("kept/new/deeper/file.txt")).expect("read"),
            b"x"
        );
    }

    #[test]
    fn a_missing_workspace_inside_the_home_is_clear_but_the_home_itself_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("data")).expect("data");
        let protected = [
            Protected {
                may_contain_workspace: true,
                ..Protected::new("the clambot home", &home)
            },
            Protected::new("the data directory", home.join("data")),
        ];
        assert!(check_clear_of(&home.join("workspace"), &protected).is_ok());
        assert!(check_clear_of(&home.join("x/../workspace"), &protected).is_ok());
        for bad in [
            home.clone(),
            dir.path().to_owned(),
            home.join("data"),
            home.join("data/sub"),
            home.join("workspace/../data"),
        ] {
            assert!(
                check_clear_of(&bad, &protected).is_err(),
                "{}",
                bad.display()
            );
        }
        // A symlink to the home is the home.
        std::os::unix::fs::symlink(&home, dir.path().join("alias")).expect("link");
        assert!(check_clear_of(&dir.path().join("alias"), &protected).is_err());
        assert!(check_clear_of(&dir.path().join("alias/data/x"), &protected).is_err());
    }
}

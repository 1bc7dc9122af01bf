//! State: one embedded SQLite database (`$CLAMBOT_HOME/data/clambot.db`) for
//! memory, history, cron jobs, grants and the audit index.
//!
//! WAL mode, so readers never wait for the writer and another clambot process
//! (the CLI next to a running gateway) can use the same file; `synchronous=FULL`,
//! so a transaction that returned is on disk — a crash loses nothing committed.
//! Within one process the connection sits behind a mutex: every use is a short
//! statement or transaction, so the lock is held for microseconds. Migrations are
//! numbered SQL steps, applied in one transaction each at open, by one process at a
//! time (an exclusive lock on `clambot.db.lock` beside the file); a database from a
//! newer clambot is refused rather than guessed at. Transactions that read and
//! then write begin `IMMEDIATE`: a deferred one would fail with "database is
//! locked" instead of waiting when another connection wrote in between.

pub mod audit;
pub mod cron;
pub mod memory;
pub mod sessions;
pub mod snapshots;
pub mod telegram;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};

/// How long a statement waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one step per version. Never edit a step that has shipped: add one.
const MIGRATIONS: &[&str] = &[
    // 1: facts, history (with full-text indexes), cron jobs, grants, audit index.
    r#"
    CREATE TABLE facts (
        id          TEXT PRIMARY KEY,
        text        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE VIRTUAL TABLE facts_fts USING fts5(
        text, content='facts', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER facts_ai AFTER INSERT ON facts BEGIN
        INSERT INTO facts_fts(rowid, text) VALUES (new.rowid, new.text);
    END;
    CREATE TRIGGER facts_ad AFTER DELETE ON facts BEGIN
        INSERT INTO facts_fts(facts_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    END;

    CREATE TABLE history (
        id          INTEGER PRIMARY KEY,
        session     TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX history_by_session ON history(session, id);
    CREATE VIRTUAL TABLE history_fts USING fts5(
        text, content='history', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER history_ai AFTER INSERT ON history BEGIN
        INSERT INTO history_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER history_ad AFTER DELETE ON history BEGIN
        INSERT INTO history_fts(history_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;

    CREATE TABLE cron_jobs (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        schedule     TEXT NOT NULL,
        action       TEXT NOT NULL,
        once         INTEGER NOT NULL,
        enabled      INTEGER NOT NULL,
        created_ms   INTEGER NOT NULL,
        next_run_ms  INTEGER,
        last_run_ms  INTEGER,
        channel      TEXT
    );

    CREATE TABLE grants (
        fingerprint  TEXT PRIMARY KEY,
        function     TEXT NOT NULL,
        scope        TEXT NOT NULL,
        rule         TEXT NOT NULL,
        created      TEXT NOT NULL
    );

    CREATE TABLE audit (
        id           INTEGER PRIMARY KEY,
        time         TEXT NOT NULL,
        run          TEXT NOT NULL,
        function     TEXT NOT NULL,
        decision     TEXT NOT NULL,
        rule         TEXT NOT NULL,
        fingerprint  TEXT NOT NULL,
        error        TEXT,
        duration_us  INTEGER NOT NULL
    );
    CREATE INDEX audit_by_run ON audit(run);
    CREATE INDEX audit_by_time ON audit(time);
    "#,
    // 2: agent sessions. A session's turns are its rows in `history` after
    // `start_after`; compaction moves that mark forward and keeps a summary, so
    // the searchable history loses nothing.
    r#"
    CREATE TABLE sessions (
        key          TEXT PRIMARY KEY,
        summary      TEXT,
        start_after  INTEGER NOT NULL DEFAULT 0,
        updated_ms   INTEGER NOT NULL
    );
    "#,
    // 3: rights do not travel. Who made each job (`origin`: JSON, see
    // `cron::Origin`; NULL for jobs stored before this step, which are not run
    // until the owner adopts them — except those with a channel, which only
    // `clambot cron add --channel` ever set, so the owner made them), and the
    // policy texts runs made jobs under, by SHA-256, so a job's calls can be
    // judged by them when it fires.
    r#"
    ALTER TABLE cron_jobs ADD COLUMN origin TEXT;
    UPDATE cron_jobs SET origin = '{"by":"owner"}' WHERE channel IS NOT NULL;
    CREATE TABLE policy_snapshots (
        sha256      TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        text        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    "#,
    // 4: the Telegram gateway's outbox (answer pieces not yet delivered, and status
    // messages to delete after them), the turns under way (so a turn a crash
    // cut short is reported and its status message removed at the next start), and the
    // update ids it has handled (so a redelivered update is not answered twice).
    r#"
    CREATE TABLE telegram_outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        chat        INTEGER NOT NULL,
        markdown    TEXT NOT NULL,
        plain       TEXT NOT NULL,
        delete_id   INTEGER,
        created_ms  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT
    );
    CREATE INDEX telegram_outbox_by_chat ON telegram_outbox(chat, id);
    CREATE TABLE telegram_turns (
        id          INTEGER PRIMARY KEY,
        chat        INTEGER NOT NULL,
        status_id   INTEGER,
        started_ms  INTEGER NOT NULL
    );
    CREATE TABLE telegram_updates (
        bot         INTEGER NOT NULL,
        update_id   INTEGER NOT NULL,
        handled_ms  INTEGER NOT NULL,
        PRIMARY KEY (bot, update_id)
    ) WITHOUT ROWID;
    "#,
];

/// The database.
#[derive(Debug)]
pub struct Store {
    path: Option<PathBuf>,
    connection: Mutex<Connection>,
    /// A second connection for the audit index, with `synchronous=NORMAL`: an
    /// index row is written for every host call, and an fsync per call would
    /// dominate a run. In WAL mode a crash of the process still loses nothing;
    /// a power cut may drop the last rows, which the JSONL audit log still has.
    bulk: Mutex<Connection>,
}

impl Store {
    /// Opens (creating, migrating) the database at `path`; its directory is made
    /// private to the user.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::atomic::create_private_dir(dir)?;
        }
        // Several clambot processes may open a fresh home at once (parallel first
        // runs, the CLI beside a starting gateway). Switching to WAL and migrating
        // are each one writer's job: the others wait here on an exclusive lock of a
        // file beside the database, then find the schema current. (SQLite's own
        // busy handler is not consulted while the journal mode changes, so
        // busy_timeout alone does not serialise this.)
        let lock_path = path.with_extension("db.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("creating the lock file {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
        create_private_file(path)?;
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening the database {}", path.display()))?;
        let bulk = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening the database {}", path.display()))?;
        let store = Self::prepare(connection, Some(bulk), Some(path.to_owned()))
            .with_context(|| format!("preparing the database {}", path.display()));
        // Released on drop too; said here so the lock's extent is plain.
        drop(lock);
        store
    }

    /// A database that lives only as long as this value (tests, one-off runs).
    pub fn in_memory() -> Result<Self> {
        Self::prepare(
            Connection::open_in_memory().context("opening an in-memory database")?,
            None,
            None,
        )
    }

    /// `bulk` is a second connection to the same file; without one (in memory)
    /// the main connection serves both.
    fn prepare(
        mut connection: Connection,
        bulk: Option<Connection>,
        path: Option<PathBuf>,
    ) -> Result<Self> {
        connection.busy_timeout(BUSY_TIMEOUT)?;
        if path.is_some() {
            let mode: String =
                connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                bail!("the database refused write-ahead logging (journal mode {mode})");
            }
        }
        connection.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;",
        )?;
        let newest = MIGRATIONS.len();
        let version: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > newest {
            bail!(
                "the database has schema version {version}, newer than this clambot knows ({newest}); \
                 use a newer clambot"
            );
        }
        migrations()
            .to_latest(&mut connection)
            .context("migrating the schema")?;
        let bulk = match bulk {
            Some(bulk) => {
                bulk.busy_timeout(BUSY_TIMEOUT)?;
                bulk.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA trusted_schema = OFF;")?;
                bulk
            }
            // An in-memory database is private to its connection: share it.
            None => Connection::open_in_memory()?,
        };
        Ok(Self {
            bulk: Mutex::new(bulk),
            path,
            connection: Mutex::new(connection),
        })
    }

    /// The file, if the database has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<usize> {
        self.with(|c| c.query_row("PRAGMA user_version", [], |row| row.get(0)))
    }

    /// Runs `f` with the bulk connection (frequent, less precious writes: the
    /// audit index). Falls back to the main connection for in-memory databases.
    pub fn with_bulk<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        if self.path.is_none() {
            return self.with(f);
        }
        let mut connection = self.bulk.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut connection)?)
    }

    /// Runs `f` with the connection, holding the lock for its duration.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut connection)?)
    }
}

/// Creates the database file 0600 if it is not there (SQLite gives its -wal
/// and -shm files the database's mode). An existing file is never opened
/// here: closing any descriptor of a file drops every POSIX lock this process
/// holds on it, SQLite's included, and without its locks another process's
/// last close deletes the write-ahead log this process still reads and writes
/// (a gateway would then never see a job `clambot cron add` stored). The lock
/// on `clambot.db.lock` keeps another thread of this process from connecting
/// between the check and the create.
fn create_private_file(path: &Path) -> Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => {
            Err(error).with_context(|| format!("creating the database {}", path.display()))
        }
    }
}

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[test]
    fn a_file_is_migrated_once_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data/clambot.db");
        let store = Store::open(&path).expect("open");
        assert_eq!(store.schema_version().expect("version"), MIGRATIONS.len());
        for file in ["clambot.db", "clambot.db-wal"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.with_file_name(file))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let mode: String = store
            .with(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .expect("mode");
        assert_eq!(mode, "wal");
        drop(store);
        Store::open(&path).expect("reopening is a no-op");
        Connection::open(&path)
            .and_then(|c| c.execute_batch("PRAGMA user_version = 999"))
            .expect("pretend a newer clambot wrote it");
        let error = Store::open(&path).expect_err("refused");
        assert!(format!("{error:#}").contains("newer"), "{error:#}");
    }

    #[test]
    fn concurrent_first_opens_never_race_the_migration() {
        // Twenty openers of one fresh file at once (as parallel first runs of
        // `clambot run` are): every one finds the schema current, none fails.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("data/clambot.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(20));
            let threads: Vec<_> = (0..20)
                .map(|_| {
                    let (path, barrier) = (path.clone(), std::sync::Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        Store::open(&path).and_then(|s| s.schema_version())
                    })
                })
                .collect();
            for thread in threads {
                let version = thread.join().expect("thread").expect("open and migrate");
                assert_eq!(version, MIGRATIONS.len());
            }
        }
    }

    #[test]
    fn concurrent_writers_in_one_process_lose_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clambot.db");
        // Two handles on one file (as the CLI beside a running gateway) and
        // several threads on each.
        let stores = [
            std::sync::Arc::new(Store::open(&path).expect("a")),
            std::sync::Arc::new(Store::open(&path).expect("b")),
        ];
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let memory = memory::Memory::new(std::sync::Arc::clone(&stores[t % 2]));
                std::thread::spawn(move || {
                    for i in 0..50 {
                        memory.remember(&format!("fact {t}-{i}")).expect("remember");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let all = memory::Memory::new(std::sync::Arc::clone(&stores[0]))
            .all_facts()
            .expect("all");
        assert_eq!(all.len(), 400);
    }
}

//! Opening a database: read-only when the file cannot be written, the layout found or
//! chosen, WAL, the schema, and retries while other processes set up the same file.

use std::path::Path;
use std::time::{Duration, Instant};

use memory_fs_storage::{Result, StorageError};
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::config::MIN_CHUNK_SIZE;
use crate::error::{BACKEND, db};
use crate::rows::{NATIVE_SCHEMA, PY_SCHEMA, ROW_ROOM, Values};
use crate::{Layout, SqliteConfig};

/// How long a statement waits for another connection's lock, and how long opening
/// keeps retrying while other processes set the file up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of the database file is read through a memory map (SQLite's
/// `mmap_size`): a store of this size or less is read with no copy per page.
const MMAP_SIZE: u64 = 256 * 1024 * 1024;

/// An opened, set-up database.
pub(crate) struct Opened {
    pub(crate) conn: Connection,
    pub(crate) values: Values,
    pub(crate) read_only: bool,
}

/// Whether table `name` exists.
fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([name])
}

/// Whether this process may write the file at `path` (`None`: there is none yet).
fn writable(path: &Path) -> Option<bool> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(!matches!(
            e.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        )),
    }
}

/// Whether `e` means another connection holds a lock right now.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Opens the database `config` names and sets it up.
pub(crate) fn open(config: &SqliteConfig) -> Result<Opened> {
    let shown = config.path.as_ref().map(|p| p.display().to_string());
    let err = |e| db(shown.as_deref(), e);
    let read_only = match &config.path {
        Some(path) => config.read_only || writable(path) == Some(false),
        None => false,
    };
    let conn = match &config.path {
        Some(path) if read_only => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ),
        Some(path) => Connection::open(path),
        None => Connection::open_in_memory(),
    }
    .map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    let limit = conn
        .limit(Limit::SQLITE_LIMIT_LENGTH)
        .map_err(err)
        .map(|n| usize::try_from(n).unwrap_or(0))?;
    let row_max = limit.saturating_sub(ROW_ROOM);
    if config.chunk_size < MIN_CHUNK_SIZE || config.chunk_size > row_max {
        return Err(StorageError::Unsupported {
            backend: BACKEND,
            operation: format!(
                "a chunk size of {} bytes (it must be between {MIN_CHUNK_SIZE} and {row_max})",
                config.chunk_size
            ),
        });
    }
    // Setting up takes locks that a busy timeout does not always cover (switching a new
    // file to WAL needs it alone, and SQLite reports `SQLITE_BUSY` at once when another
    // process is doing the same): the whole setup is retried until the timeout.
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let layout = loop {
        match set_up(&conn, config, read_only) {
            Ok(layout) => break layout,
            Err(Setup::Sqlite(e)) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(Setup::Sqlite(e)) => return Err(err(e)),
            Err(Setup::Storage(e)) => return Err(e),
        }
    };
    Ok(Opened {
        conn,
        values: Values {
            layout,
            chunk_size: config.chunk_size,
            row_max,
        },
        read_only,
    })
}

/// Why one setup attempt failed.
enum Setup {
    Sqlite(rusqlite::Error),
    Storage(StorageError),
}

impl From<rusqlite::Error> for Setup {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// One attempt at setting the database up; returns the layout in use.
fn set_up(
    conn: &Connection,
    config: &SqliteConfig,
    read_only: bool,
) -> std::result::Result<Layout, Setup> {
    let python_table = has_table(conn, "memory_fs_files")?;
    let native_table = has_table(conn, "files")?;
    let layout = match config.layout {
        Some(layout) => layout,
        None if python_table && !native_table => Layout::Python,
        None => Layout::Native,
    };
    let shown = || {
        config
            .path
            .as_ref()
            .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string())
    };
    if read_only {
        let present = match layout {
            Layout::Native => native_table,
            Layout::Python => python_table,
        };
        if !present {
            return Err(Setup::Storage(StorageError::Unsupported {
                backend: BACKEND,
                operation: format!(
                    "opening {}: the file is read-only and holds no memory-fs table to read",
                    shown()
                ),
            }));
        }
        conn.execute_batch(&format!("PRAGMA mmap_size = {MMAP_SIZE};"))?;
        return Ok(layout);
    }
    // A database the Python package already wrote keeps its journal mode; one this
    // provider creates (or its own layout) uses WAL.
    let keep_journal = layout == Layout::Python && python_table;
    if config.path.is_some() && !keep_journal {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Setup::Storage(StorageError::Unsupported {
                backend: BACKEND,
                operation: format!("WAL journal (the database stays in {mode} mode)"),
            }));
        }
    }
    let sync = if config.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    let schema = match layout {
        Layout::Native => NATIVE_SCHEMA,
        Layout::Python => PY_SCHEMA,
    };
    // Pages read through a memory map rather than copied by `read` (a lookup in a large
    // store touches pages the page cache has not kept).
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA mmap_size = {MMAP_SIZE}; {schema};"
    ))?;
    Ok(layout)
}

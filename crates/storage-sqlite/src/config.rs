//! Options of the SQLite provider.

use std::path::PathBuf;

/// Options for a [`SqliteStorage`](crate::SqliteStorage).
///
/// ```
/// use memory_fs_storage_sqlite::SqliteConfig;
/// let config = SqliteConfig::file("store.db").synchronous_normal();
/// assert!(!config.synchronous_full);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file, or `None` for a private in-memory database.
    pub path: Option<PathBuf>,
    /// `PRAGMA synchronous = FULL` (durable across power loss) rather than `NORMAL`.
    pub synchronous_full: bool,
    /// The table layout; `None` uses the one the database already has (the Python
    /// package's when only its table exists), else [`Layout::Native`].
    pub layout: Option<Layout>,
}

/// How keys are laid out in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// `files(path TEXT PRIMARY KEY, data BLOB) WITHOUT ROWID`, in WAL mode.
    Native,
    /// The Python `memory-fs` package's `Storage_FS__Sqlite` table:
    /// `memory_fs_files(id INTEGER PRIMARY KEY, path TEXT, data BLOB, created_at
    /// INTEGER, updated_at INTEGER)` with an index on `path`, timestamps in
    /// milliseconds. A database the Python package wrote keeps its journal mode; a new
    /// one is created in WAL mode (which Python's `sqlite3` reads as well).
    Python,
}

impl SqliteConfig {
    /// A database file at `path` (created if missing), fully synchronous.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
            synchronous_full: true,
            layout: None,
        }
    }

    /// A private in-memory database.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            synchronous_full: true,
            layout: None,
        }
    }

    /// Uses `synchronous = NORMAL`: faster; in WAL mode still safe against a killed
    /// process, but the last saves may roll back after a power loss.
    pub fn synchronous_normal(mut self) -> Self {
        self.synchronous_full = false;
        self
    }

    /// Uses `layout` (creating its table if missing) whatever the database holds.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = Some(layout);
        self
    }
}

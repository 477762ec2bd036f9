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
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file, or `None` for a private in-memory database.
    pub path: Option<PathBuf>,
    /// `PRAGMA synchronous = FULL` (durable across power loss) rather than `NORMAL`.
    pub synchronous_full: bool,
    /// The table layout; `None` uses the one the database already has (the Python
    /// package's when only its table exists), else [`Layout::Native`].
    pub layout: Option<Layout>,
    /// Open the file read-only even if it is writable. A file this process cannot
    /// write is always opened read-only; [`SqliteStorage::read_only`] tells which.
    ///
    /// [`SqliteStorage::read_only`]: crate::SqliteStorage::read_only
    pub read_only: bool,
    /// Values longer than this are stored in chunks of this many bytes (native layout
    /// only), which lifts SQLite's limit of about 10^9 bytes on one value and lets a
    /// value be read and written piece by piece. At least 1 KiB; default 16 MiB.
    pub chunk_size: usize,
}

/// The default [`SqliteConfig::chunk_size`].
pub(crate) const DEFAULT_CHUNK_SIZE: usize = 16 << 20;

/// The smallest [`SqliteConfig::chunk_size`] accepted.
pub(crate) const MIN_CHUNK_SIZE: usize = 1 << 10;

/// How keys are laid out in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// `files(path TEXT PRIMARY KEY, data BLOB) WITHOUT ROWID`, in WAL mode.
    ///
    /// A value longer than [`SqliteConfig::chunk_size`] keeps its length (an
    /// `INTEGER`) in `files.data` and its bytes in `file_chunks(path, seq, data)`, a
    /// rowid table, so SQLite's incremental blob I/O can reach each chunk; triggers
    /// remove a value's chunks when its row is replaced or deleted.
    Native,
    /// The Python `memory-fs` package's `Storage_FS__Sqlite` table:
    /// `memory_fs_files(id INTEGER PRIMARY KEY, path TEXT, data BLOB, created_at
    /// INTEGER, updated_at INTEGER)` with an index on `path`, timestamps in
    /// milliseconds. A database the Python package wrote keeps its journal mode; a new
    /// one is created in WAL mode (which Python's `sqlite3` reads as well).
    ///
    /// Python reads one `BLOB` per value, so this layout cannot chunk: a value longer
    /// than SQLite's length limit is refused with an error naming the limit.
    Python,
}

impl SqliteConfig {
    /// A database file at `path` (created if missing), fully synchronous.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
            synchronous_full: true,
            layout: None,
            read_only: false,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    /// A private in-memory database.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            synchronous_full: true,
            layout: None,
            read_only: false,
            chunk_size: DEFAULT_CHUNK_SIZE,
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

    /// Opens the file read-only (see [`read_only`](Self::read_only)).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Sets [`chunk_size`](Self::chunk_size).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }
}

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
}

impl SqliteConfig {
    /// A database file at `path` (created if missing), fully synchronous.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
            synchronous_full: true,
        }
    }

    /// A private in-memory database.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            synchronous_full: true,
        }
    }

    /// Uses `synchronous = NORMAL`: faster; in WAL mode still safe against a killed
    /// process, but the last saves may roll back after a power loss.
    pub fn synchronous_normal(mut self) -> Self {
        self.synchronous_full = false;
        self
    }
}

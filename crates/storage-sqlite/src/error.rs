//! The SQLite provider's own error, converted into `StorageError` at the boundary.

use memory_fs_storage::StorageError;

/// A failure of the SQLite library under a [`SqliteStorage`](crate::SqliteStorage).
///
/// Callers see it as the `source` of a [`StorageError::Backend`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SqliteError(#[from] rusqlite::Error);

impl SqliteError {
    /// The rusqlite error.
    pub fn rusqlite(&self) -> &rusqlite::Error {
        &self.0
    }
}

/// The provider's name in errors and capabilities.
pub(crate) const BACKEND: &str = "sqlite";

/// Wraps a rusqlite error for the caller.
pub(crate) fn db(path: Option<&str>, err: rusqlite::Error) -> StorageError {
    StorageError::backend(BACKEND, path, SqliteError(err))
}

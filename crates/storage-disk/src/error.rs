//! The disk provider's own error, converted into `StorageError` at the boundary.

use memory_fs_storage::StorageError;

/// An I/O failure of a [`DiskStorage`](crate::DiskStorage), with what it was doing.
///
/// Callers see it as the `source` of a [`StorageError::Backend`].
#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
pub struct DiskError {
    action: &'static str,
    #[source]
    source: std::io::Error,
}

impl DiskError {
    /// The underlying I/O error.
    pub fn io(&self) -> &std::io::Error {
        &self.source
    }
}

/// The provider's name in errors and capabilities.
pub(crate) const BACKEND: &str = "disk";

/// Wraps an I/O error for the caller.
pub(crate) fn io(action: &'static str, path: &str, source: std::io::Error) -> StorageError {
    StorageError::backend(BACKEND, Some(path), DiskError { action, source })
}

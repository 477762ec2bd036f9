//! The memory provider's own error, converted into `StorageError` at the boundary.

use memory_fs_posix::PosixError;
use memory_fs_storage::StorageError;

/// What failed inside the POSIX tree under a [`MemoryStorage`](crate::MemoryStorage).
///
/// Callers see it as the `source` of a [`StorageError::Backend`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct MemoryError(#[from] PosixError);

impl MemoryError {
    /// The error of the POSIX core.
    pub fn posix(&self) -> &PosixError {
        &self.0
    }
}

/// The provider's name in errors and capabilities.
pub(crate) const BACKEND: &str = "memory";

/// Wraps an unexpected core error for the caller.
pub(crate) fn backend(path: &str, err: PosixError) -> StorageError {
    StorageError::backend(BACKEND, Some(path), MemoryError(err))
}

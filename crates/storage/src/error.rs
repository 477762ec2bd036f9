//! `StorageError`: the one error every provider reports, with a kind callers can match on.

use std::fmt;

use crate::{InvalidPath, SafePath};

/// A boxed error from a provider's underlying library (I/O, SQLite, HTTP…).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, independent of the provider that reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key does not exist where it had to.
    NotFound,
    /// The key was refused by [`SafePath`](crate::SafePath) validation or by the provider.
    InvalidPath,
    /// A conditional create found the key already present.
    AlreadyExists,
    /// A conditional write found the key changed since the version it expected.
    PreconditionFailed,
    /// The key collides with another one in a way this provider cannot hold
    /// (for example `a` and `a/b` on a tree-shaped provider).
    Conflict,
    /// The provider cannot do this operation.
    Unsupported,
    /// Stored bytes could not be decoded as asked (not UTF-8, not JSON).
    InvalidData,
    /// Stored bytes failed a check of a storage layer: an encrypted value that does not
    /// authenticate (wrong key, altered, truncated, reordered, or moved from another
    /// key), a corrupt compressed value, a broken audit chain, or a store written
    /// through a layer that is not open here. Retrying does not help; nothing is
    /// returned in place of the bytes.
    Integrity,
    /// The value handed in to be saved could not be read: the caller's reader or
    /// stream failed part-way. Nothing was saved; the key holds what it held before.
    Input,
    /// The backend itself failed (I/O error, database error, network error…).
    Backend,
}

/// The error of every [`Storage`](crate::Storage) operation.
///
/// Providers keep their own error types private and convert them into this one,
/// always naming the key involved when there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The key does not exist where it had to.
    #[error("no such key: {path}")]
    NotFound {
        /// The missing key.
        path: String,
    },
    /// The key is not a valid [`SafePath`](crate::SafePath).
    #[error(transparent)]
    InvalidPath(#[from] InvalidPath),
    /// A conditional create found the key already present.
    #[error("key already exists: {path}")]
    AlreadyExists {
        /// The existing key.
        path: String,
    },
    /// A conditional write found the key changed since the version it expected.
    #[error("key {path} changed since it was read")]
    PreconditionFailed {
        /// The key that changed.
        path: String,
    },
    /// The key collides with another key in a way this provider cannot hold.
    #[error("key {path} conflicts with an existing key: {reason}")]
    Conflict {
        /// The key that could not be written.
        path: String,
        /// What it collides with, in words.
        reason: String,
    },
    /// The provider cannot do this operation.
    #[error("the {backend} storage does not support {operation}")]
    Unsupported {
        /// The provider's name, as in [`Capabilities::backend`](crate::Capabilities::backend).
        backend: &'static str,
        /// The operation refused.
        operation: String,
    },
    /// Stored bytes could not be decoded as asked.
    #[error("key {path} holds invalid data: {reason}")]
    InvalidData {
        /// The key whose bytes could not be decoded.
        path: String,
        /// What was wrong with them.
        reason: String,
    },
    /// Stored bytes failed a check of a storage layer (see [`ErrorKind::Integrity`]).
    #[error("integrity check failed on {path}: {reason}")]
    Integrity {
        /// The key whose bytes failed the check.
        path: String,
        /// Which check failed, in words.
        reason: String,
    },
    /// The caller's reader or stream failed while a value was being saved; the key
    /// still holds what it held before.
    #[error("reading the value to save at {path} failed: {source}")]
    Input {
        /// The key being saved.
        path: String,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
    /// The backend failed.
    #[error("{backend} storage failed{}: {source}", OnPath(.path))]
    Backend {
        /// The provider's name.
        backend: &'static str,
        /// The key involved, if any.
        path: Option<String>,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

/// Formats an optional key as ` on KEY` for error messages.
struct OnPath<'a>(&'a Option<String>);

impl fmt::Display for OnPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, " on {path}"),
            None => Ok(()),
        }
    }
}

impl StorageError {
    /// The kind of failure, for matching without caring about the provider.
    ///
    /// ```
    /// use memory_fs_storage::{ErrorKind, StorageError};
    ///
    /// let err = StorageError::NotFound { path: "a".into() };
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::InvalidPath(_) => ErrorKind::InvalidPath,
            Self::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Self::PreconditionFailed { .. } => ErrorKind::PreconditionFailed,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::InvalidData { .. } => ErrorKind::InvalidData,
            Self::Integrity { .. } => ErrorKind::Integrity,
            Self::Input { .. } => ErrorKind::Input,
            Self::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// The key involved, when the error names one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::NotFound { path }
            | Self::AlreadyExists { path }
            | Self::PreconditionFailed { path }
            | Self::Conflict { path, .. }
            | Self::InvalidData { path, .. }
            | Self::Integrity { path, .. }
            | Self::Input { path, .. } => Some(path),
            Self::InvalidPath(e) => Some(e.input()),
            Self::Backend { path, .. } => path.as_deref(),
            Self::Unsupported { .. } => None,
        }
    }

    /// A [`StorageError::Integrity`] on `path`.
    ///
    /// ```
    /// use memory_fs_storage::{ErrorKind, StorageError};
    ///
    /// let err = StorageError::integrity("a/b", "chunk 0 failed authentication");
    /// assert_eq!(err.kind(), ErrorKind::Integrity);
    /// assert_eq!(err.to_string(), "integrity check failed on a/b: chunk 0 failed authentication");
    /// ```
    pub fn integrity(path: &str, reason: impl Into<String>) -> Self {
        Self::Integrity {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// A [`StorageError::Input`]: the reader of the value to save at `path` failed.
    pub fn input(path: &SafePath, source: std::io::Error) -> Self {
        Self::Input {
            path: path.to_string(),
            source,
        }
    }

    /// Wraps a provider's own error as [`StorageError::Backend`].
    ///
    /// ```
    /// use memory_fs_storage::{ErrorKind, StorageError};
    ///
    /// let io = std::io::Error::other("disk on fire");
    /// let err = StorageError::backend("disk", Some("a/b"), io);
    /// assert_eq!(err.kind(), ErrorKind::Backend);
    /// assert_eq!(err.to_string(), "disk storage failed on a/b: disk on fire");
    /// ```
    pub fn backend(backend: &'static str, path: Option<&str>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            backend,
            path: path.map(str::to_owned),
            source: source.into(),
        }
    }
}

impl From<StorageError> for std::io::Error {
    fn from(err: StorageError) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            ErrorKind::NotFound => Io::NotFound,
            ErrorKind::InvalidPath => Io::InvalidInput,
            ErrorKind::AlreadyExists => Io::AlreadyExists,
            ErrorKind::Unsupported => Io::Unsupported,
            ErrorKind::InvalidData | ErrorKind::Integrity => Io::InvalidData,
            ErrorKind::Conflict
            | ErrorKind::PreconditionFailed
            | ErrorKind::Input
            | ErrorKind::Backend => Io::Other,
        };
        std::io::Error::new(kind, err)
    }
}

/// The result of every [`Storage`](crate::Storage) operation.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

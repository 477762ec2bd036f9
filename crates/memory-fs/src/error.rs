//! `Error`: what the facade reports, wrapping the layers below.

use memory_fs_target::ProjectError;
use memory_fs_target::file::FileError;
use memory_fs_target::file::storage::{InvalidPath, StorageError};

/// The error of every facade operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A store URL with a known scheme is malformed.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A store URL names a scheme no backend has.
    #[error(
        "unknown store scheme {scheme:?} in {url:?}; use memory://, file:///dir, sqlite://file.db or s3://bucket/prefix"
    )]
    UnknownScheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The backend a URL names is not compiled in.
    #[error(
        "the {scheme}:// backend is not compiled in: enable the cargo feature `{feature}` of memory-fs"
    )]
    FeatureDisabled {
        /// The URL's scheme.
        scheme: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// The backend could not be opened (missing directory rights, unreachable server…).
    #[error("cannot open store {url}: {source}")]
    Open {
        /// The store, as a canonical URL (never with credentials).
        url: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// No logical file has this id.
    #[error("no file with id {id:?} in this store")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// A key or prefix is not a valid storage path.
    #[error(transparent)]
    InvalidPath(#[from] InvalidPath),
    /// The file layer failed (bad id, encoding, serialization, corrupt file, storage…).
    #[error(transparent)]
    File(#[from] FileError),
    /// A project has no such strategy.
    #[error(transparent)]
    Project(#[from] ProjectError),
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Self::File(FileError::Storage(e))
    }
}

impl Error {
    /// Whether the error means "not there" (an unknown id), as opposed to a failure.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// The result of every facade operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

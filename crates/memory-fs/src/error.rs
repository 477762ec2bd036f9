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
    /// A storage layer named in the store URL cannot be set up (a key that cannot be
    /// had, a bad compression level), or is needed and missing.
    #[error("the {layer} layer: {reason}")]
    Layer {
        /// The layer (`encrypt`, `compress`, `audit`).
        layer: &'static str,
        /// What is wrong, in words.
        reason: String,
    },
    /// No logical file has this id.
    #[error(
        "no file with id {id:?} in this store (a file another program wrote is found after `reindex`)"
    )]
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
    /// A key cannot be a file in a POSIX tree (a store holding `a` and `a/b`).
    #[cfg(feature = "memory")]
    #[error("key {key} cannot be a file in the tree: {source}")]
    Tree {
        /// The key.
        key: String,
        /// The tree's error.
        #[source]
        source: memory_fs_posix::PosixError,
    },
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Self::File(FileError::Storage(e))
    }
}

/// What kind of failure an [`Error`] is, whichever layer raised it: one enum to match
/// on instead of unwrapping the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such file, version or key.
    NotFound,
    /// A create found the file already there.
    AlreadyExists,
    /// The input is not acceptable: a bad id, URL, key, path handler, or a value the
    /// file type does not take.
    InvalidInput,
    /// Stored data is damaged or disagrees with its metadata (a hash mismatch, a corrupt
    /// config, metadata or record).
    Integrity,
    /// Another writer holds or keeps changing the file; trying again may succeed.
    Busy,
    /// The backend is not compiled in, or cannot do this.
    Unsupported,
    /// The storage itself failed (I/O, database, network).
    Storage,
}

impl Error {
    /// Whether the error means "not there" (an unknown id), as opposed to a failure.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// The kind of failure.
    ///
    /// ```
    /// use memory_fs::{ErrorKind, MemoryFs};
    /// let fs = MemoryFs::in_memory();
    /// assert_eq!(fs.file("nope").unwrap_err().kind(), ErrorKind::NotFound);
    /// assert_eq!(fs.file("bad id").unwrap_err().kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        use memory_fs_target::file::storage::ErrorKind as S;
        match self {
            Self::InvalidUrl { .. } | Self::UnknownScheme { .. } | Self::InvalidPath(_) => {
                ErrorKind::InvalidInput
            }
            Self::FeatureDisabled { .. } => ErrorKind::Unsupported,
            Self::Open { .. } => ErrorKind::Storage,
            Self::Layer { .. } => ErrorKind::InvalidInput,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Project(_) => ErrorKind::InvalidInput,
            #[cfg(feature = "memory")]
            Self::Tree { .. } => ErrorKind::InvalidInput,
            Self::File(e) => match e {
                FileError::InvalidFileId { .. }
                | FileError::Encoding { .. }
                | FileError::Serialization { .. }
                | FileError::InvalidPath(_)
                | FileError::Placement { .. } => ErrorKind::InvalidInput,
                FileError::CorruptConfig { .. }
                | FileError::CorruptMetadata { .. }
                | FileError::CorruptRecord { .. }
                | FileError::HashMismatch { .. }
                | FileError::StaleMetadata { .. } => ErrorKind::Integrity,
                FileError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
                FileError::NotFound { .. } | FileError::NoVersion { .. } => ErrorKind::NotFound,
                FileError::Busy { .. } | FileError::Contended { .. } => ErrorKind::Busy,
                FileError::Storage(s) => match s.kind() {
                    S::NotFound => ErrorKind::NotFound,
                    S::InvalidPath => ErrorKind::InvalidInput,
                    S::AlreadyExists => ErrorKind::AlreadyExists,
                    S::PreconditionFailed => ErrorKind::Busy,
                    S::Unsupported => ErrorKind::Unsupported,
                    S::InvalidData | S::Integrity => ErrorKind::Integrity,
                    _ => ErrorKind::Storage,
                },
                _ => ErrorKind::Storage,
            },
        }
    }

    /// Whether trying the same call again may succeed (another writer was in the way,
    /// or the storage failed in a way that may pass).
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Busy | ErrorKind::Storage)
    }
}

/// The result of every facade operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

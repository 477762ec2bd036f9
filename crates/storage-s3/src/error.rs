//! `S3Error`: what can go wrong in the S3 provider, converted into `StorageError`.

use memory_fs_storage::StorageError;

/// The provider's name in errors and capabilities.
pub(crate) const BACKEND: &str = "s3";

/// An error of the S3 provider.
///
/// Every storage operation reports a [`StorageError`]; this type is its source for
/// backend failures, and the error of [`S3Storage::new`](crate::S3Storage::new).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The configuration cannot work (empty bucket name, bad endpoint…).
    #[error("invalid S3 configuration: {reason}")]
    InvalidConfig {
        /// What is wrong, in words.
        reason: String,
    },
    /// The bucket does not exist on the server.
    #[error("bucket {bucket:?} does not exist at {endpoint}")]
    BucketNotFound {
        /// The bucket asked for.
        bucket: String,
        /// The server asked.
        endpoint: String,
    },
    /// The server refused the credentials or the access.
    #[error(
        "access to bucket {bucket:?} at {endpoint} was denied (check the access key and secret): {source}"
    )]
    AccessDenied {
        /// The bucket asked for.
        bucket: String,
        /// The server asked.
        endpoint: String,
        /// The server's answer.
        #[source]
        source: object_store::Error,
    },
    /// The store's own IO runtime could not be started.
    #[error("cannot start the S3 IO runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A request task ended without an answer (it panicked or was cancelled).
    #[error("an S3 request task ended without an answer: {0}")]
    Task(String),
    /// A key listed by the server is not a valid Memory-FS key.
    #[error("the bucket holds a key that is not a valid Memory-FS key: {key:?}")]
    ForeignKey {
        /// The raw object key.
        key: String,
    },
    /// The server answered a read or a write without the `ETag` that versions need.
    #[error("the server sent no ETag for {key:?}, so it cannot be versioned")]
    NoETag {
        /// The object key.
        key: String,
    },
    /// The client or the server failed.
    #[error(transparent)]
    Client(#[from] object_store::Error),
}

impl S3Error {
    /// Wraps this error as a [`StorageError`] naming `path`.
    pub(crate) fn at(self, path: Option<&str>) -> StorageError {
        StorageError::backend(BACKEND, path, self)
    }
}

impl From<S3Error> for StorageError {
    fn from(err: S3Error) -> Self {
        StorageError::backend(BACKEND, None, err)
    }
}

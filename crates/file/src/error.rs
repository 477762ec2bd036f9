//! `FileError`: what can go wrong with a logical file, wrapping the storage layer's error.

use memory_fs_storage::StorageError;

/// The error of every file-layer operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// A file id breaks the rules (`[A-Za-z0-9_-]`, 1 to 128 characters).
    #[error("invalid file id {id:?}: {reason} (FileId::sanitize maps any string to a valid id)")]
    InvalidFileId {
        /// The rejected id.
        id: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// Text cannot be represented in the file type's encoding, or bytes cannot be decoded.
    #[error("cannot {action} as {encoding}: {detail}")]
    Encoding {
        /// `encode` or `decode`.
        action: &'static str,
        /// The encoding.
        encoding: &'static str,
        /// The first offending character or byte.
        detail: String,
    },
    /// Content cannot be (de)serialized as the file type says.
    #[error("cannot {action} {path}: {detail}")]
    Serialization {
        /// `serialize` or `deserialize`.
        action: &'static str,
        /// The content path, or the file id when saving.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// A stored config file is not valid JSON of the expected shape.
    #[error("corrupt config {path}: {detail}")]
    CorruptConfig {
        /// The config path.
        path: String,
        /// The parse error.
        detail: String,
    },
    /// A stored metadata file is not valid JSON of the expected shape.
    #[error("corrupt metadata {path}: {detail}")]
    CorruptMetadata {
        /// The metadata path.
        path: String,
        /// The parse error.
        detail: String,
    },
    /// The content's MD5 prefix disagrees with its metadata.
    #[error(
        "content {path} does not match its metadata: hash {actual} where {expected} was recorded (File::bytes_unverified reads it anyway)"
    )]
    HashMismatch {
        /// The content path.
        path: String,
        /// The hash in the metadata.
        expected: String,
        /// The hash of the stored bytes.
        actual: String,
    },
    /// A path built from the file's settings is not a valid storage key.
    #[error("invalid path for this file: {0}")]
    InvalidPath(#[from] memory_fs_storage::InvalidPath),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The result of every file-layer operation.
pub type Result<T, E = FileError> = std::result::Result<T, E>;

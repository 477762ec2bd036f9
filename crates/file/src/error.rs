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
    /// A stored record (the library's own index entry of a file) is damaged.
    #[error(
        "corrupt record {path}: {detail} (memory-fs reindex rebuilds records from the configs)"
    )]
    CorruptRecord {
        /// The record's key.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The content was rewritten without its metadata: by another program (the
    /// Python package's `update()` leaves the metadata stale) or by damage.
    #[error(
        "content {path} was changed without its metadata (hash {actual}, the metadata says {expected}): another program rewrote it — the Python package's update() leaves the metadata stale — or it is damaged; if the content is right, `memory-fs verify --repair {id}` re-hashes it"
    )]
    StaleMetadata {
        /// The file's id.
        id: String,
        /// The content path.
        path: String,
        /// The hash in the metadata.
        expected: String,
        /// The hash of the stored bytes.
        actual: String,
    },
    /// A create-if-absent found the file already there.
    #[error("file {id:?} already exists")]
    AlreadyExists {
        /// The file's id.
        id: String,
    },
    /// No logical file has this id (in the index).
    #[error("no file with id {id:?} in this store")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The file holds no such version.
    #[error("file {id:?} holds no version {version} (versions: {held})")]
    NoVersion {
        /// The file.
        id: String,
        /// The version asked for.
        version: u32,
        /// The versions it holds, as `1-3, 5`.
        held: String,
    },
    /// Another process is committing a change to the file and did not finish in time.
    #[error("file {id:?} is being changed by process {pid} since {since_ms} ms; try again")]
    Busy {
        /// The file's id.
        id: String,
        /// The writer's process id.
        pid: u32,
        /// How long it has been writing.
        since_ms: i64,
    },
    /// Other writers kept changing the file while a commit was retried.
    #[error("file {id:?} changed under {attempts} attempts to commit; try again")]
    Contended {
        /// The file's id.
        id: String,
        /// How many times the commit was planned.
        attempts: usize,
    },
    /// A commit did not finish; the store is left for recovery (the next write or
    /// `verify --repair` finishes or undoes it).
    #[error("the commit of {id:?} was interrupted: {reason}")]
    Interrupted {
        /// The file's id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A path handler cannot place this file.
    #[error("cannot place {id:?}: {reason}")]
    Placement {
        /// The file's id.
        id: String,
        /// Why, in words.
        reason: String,
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
    /// The writer a content was being loaded into failed.
    #[error("writing the content of {path} out failed: {source}")]
    Output {
        /// The content path being read.
        path: String,
        /// The writer's error.
        #[source]
        source: std::io::Error,
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

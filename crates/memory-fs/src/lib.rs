//! Memory-FS: one typed file API over memory, disk, SQLite and S3.
#![doc = include_str!("../README.md")]

#[cfg(feature = "async")]
mod async_fs;
mod audit;
mod error;
mod fs;
mod open;
#[cfg(feature = "memory")]
mod tree;
mod url;
mod watch;

#[cfg(feature = "async")]
pub use async_fs::{AsyncMemoryFs, ByteStream};
pub use audit::{LogEntry, LogQuery, LoggedContent};
/// The byte buffer streamed values arrive in (feature `async`).
#[cfg(feature = "async")]
pub use bytes::Bytes;
pub use error::{Error, ErrorKind, Result};
pub use fs::{Create, Data, Delete, Edit, Load, MemoryFs, Save};
pub use url::{LayerParams, S3Location, StoreUrl};

pub use memory_fs_target::file::storage::layers::audit::{AuditChange, AuditOp, AuditRecord};
pub use memory_fs_target::file::storage::layers::encrypt::RekeyReport;
pub use memory_fs_target::file::storage::layers::operation::{Operation, OperationFile};
pub use memory_fs_target::file::storage::{
    Capabilities, ErrorKind as StorageErrorKind, InvalidPath, SafePath, Storage, StorageError,
};
pub use memory_fs_target::file::{
    ChainFault, ChainProblem, Clock, Content, DeleteReport, Diff, DiffSide, Encoding,
    ExistsStrategy, File, FileConfig, FileError, FileId, FileInfo, FileMetadata, FilePrune,
    FileRecord, FileSpec, FileType, FileVersion, FixedClock, HandlerKind, PathHandler, Placed,
    Problem, Retention, Serialization, SystemClock, Transaction,
};
pub use memory_fs_target::{
    Catalog, ChainReport, CopyReport, Listing, Project, ProjectError, PruneReport, Query,
    ReindexReport, Target, TargetCreate, VerifyReport,
};
pub use memory_fs_target::{Change, ChangeKind, Watch};
pub use watch::WatchChannel;

/// The in-memory provider (feature `memory`, on by default).
#[cfg(feature = "memory")]
pub use memory_fs_storage_memory as memory;

/// The POSIX core under the in-memory provider (feature `memory`).
#[cfg(feature = "memory")]
pub use memory_fs_posix as posix;

/// The local-disk provider (feature `disk`).
#[cfg(feature = "disk")]
pub use memory_fs_storage_disk as disk;

/// The SQLite provider (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use memory_fs_storage_sqlite as sqlite;

/// The S3 provider (feature `s3`).
#[cfg(feature = "s3")]
pub use memory_fs_storage_s3 as s3;

/// The lower layers, for what the facade does not cover.
pub mod layers {
    /// The target and project layer.
    pub use memory_fs_target as target;
    /// The file layer.
    pub use memory_fs_target::file;
    /// The storage trait and its conformance kit.
    pub use memory_fs_target::file::storage;
}

/// Everything a typical user imports: `use memory_fs::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Content, ExistsStrategy, File, FileConfig, FileId, FileSpec, FileType, MemoryFs,
        PathHandler, Project, Query, SafePath, Storage, StoreUrl,
    };
}

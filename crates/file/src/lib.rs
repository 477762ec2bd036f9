//! The file layer: logical files as config, content and metadata files, committed
//! with their record.
#![doc = include_str!("../README.md")]

mod clock;
mod commit;
mod content;
mod error;
mod file;
mod file_type;
mod handlers;
mod history;
mod id;
pub mod index;
mod layout;
mod plan;
mod pyjson;
mod record;
mod schema;
mod spec;
mod stream;
mod transaction;

pub use clock::{Clock, FixedClock, SystemClock};
pub use commit::sweep_journals;
pub use content::{Content, chain_hash, content_hash};
pub use error::{FileError, Result};
pub use file::{
    DeleteReport, File, FileInfo, FileVersion, Placed, Problem, is_version_folder, to_json,
};
pub use file_type::{Encoding, FileType, Serialization};
pub use handlers::{HandlerKind, PathHandler};
pub use history::{ChainFault, ChainProblem, Diff, DiffSide, FilePrune, Retention};
pub use id::{FileId, MAX_FILE_ID_LEN};
pub use layout::{FolderKeys, RESERVED, is_reserved};
pub use plan::Create;
pub use pyjson::python_json;
pub use record::{ChainAnchor, FileRecord, IntentWrite, Owner, Pending, Placement, Versions};
pub use schema::{ExistsStrategy, FileConfig, FileMetadata};
pub use spec::{FileSpec, Placing};
pub use transaction::Transaction;

/// The storage layer this crate is built on, re-exported so the layers above need
/// only this crate.
pub use memory_fs_storage as storage;

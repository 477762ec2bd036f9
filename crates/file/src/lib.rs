//! The file layer: logical files as config, content and metadata files.
#![doc = include_str!("../README.md")]

mod clock;
mod error;
mod file;
mod file_type;
mod handlers;
mod id;
mod pyjson;
mod schema;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{FileError, Result};
pub use file::{DeleteReport, File, FileBuilder, FileInfo, chain_hash, content_hash};
pub use file_type::{Encoding, FileType, Serialization};
pub use handlers::{HandlerKind, PathHandler};
pub use id::{FileId, MAX_FILE_ID_LEN};
pub use pyjson::python_json;
pub use schema::{ExistsStrategy, FileConfig, FileMetadata};

/// The storage layer this crate is built on, re-exported so the layers above need
/// only this crate.
pub use memory_fs_storage as storage;

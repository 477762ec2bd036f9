//! The store as a whole: its logical files found by id, listed and queried through
//! their records, rebuilt from stored configs, checked, copied and changed together;
//! targets rebuilt from configs; projects with named path strategies.
#![doc = include_str!("../README.md")]

mod catalog;
mod project;
mod prune;
mod query;
mod snapshot;
mod target;
mod watch;

pub use catalog::{
    Catalog, ChainReport, CopyReport, Listing, RecoverReport, ReindexReport, VerifyReport,
};
pub use project::{Project, ProjectError};
pub use prune::PruneReport;
pub use query::Query;
pub use target::{Scan, Target, TargetCreate};
pub use watch::{Change, ChangeKind, Watch};

/// The file layer this crate is built on (and, as `file::storage`, the storage layer),
/// re-exported so the layers above need only this crate.
pub use memory_fs_file as file;

//! Targets (a file config bound to a storage) and projects (named path strategies).
#![doc = include_str!("../README.md")]

mod project;
mod target;

pub use project::{Project, ProjectError};
pub use target::{Target, TargetCreate};

/// The file layer this crate is built on (and, as `file::storage`, the storage layer),
/// re-exported so the layers above need only this crate.
pub use memory_fs_file as file;

//! Targets (a file config bound to a storage) and projects (named path strategies).
#![doc = include_str!("../README.md")]

mod project;
mod target;

pub use project::{Project, ProjectError};
pub use target::{Target, TargetCreate};

//! The local-disk storage provider.
#![doc = include_str!("../README.md")]

mod beneath;
mod config;
mod error;
mod store;

pub use config::DiskConfig;
pub use error::DiskError;
pub use store::DiskStorage;

//! The local-disk storage provider.
#![doc = include_str!("../README.md")]

mod beneath;
mod config;
mod error;
mod listing;
#[cfg(target_os = "linux")]
mod opened;
mod store;

pub use config::DiskConfig;
pub use error::DiskError;
pub use store::DiskStorage;

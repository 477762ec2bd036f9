//! The S3 provider of Memory-FS (the crate documentation is the README below).
#![doc = include_str!("../README.md")]

mod config;
mod error;
mod store;
#[cfg(feature = "test-server")]
pub mod testing;

pub use config::S3Config;
pub use error::S3Error;
pub use store::{S3AsyncStorage, S3Storage};

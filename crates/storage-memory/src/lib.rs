//! The in-memory storage provider, on the POSIX core.
#![doc = include_str!("../README.md")]

mod apply;
mod config;
mod error;
mod store;

pub use config::MemoryConfig;
pub use error::MemoryError;
pub use store::MemoryStorage;

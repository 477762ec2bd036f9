//! The SQLite storage provider.
#![doc = include_str!("../README.md")]

mod config;
mod error;
mod open;
mod reader;
mod rows;
mod store;

pub use config::{Layout, SqliteConfig};
pub use error::SqliteError;
pub use store::SqliteStorage;

//! Shared code for the cross-crate tests of the Memory-FS workspace.

pub mod difftest;

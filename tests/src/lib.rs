//! Shared helpers for the cross-crate tests of the Memory-FS workspace.

//! Shared code for the cross-crate tests of the Memory-FS workspace.

pub mod difftest;

/// The workspace README's Rust examples, compiled and run as doctests so the front page
/// stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeExamples;

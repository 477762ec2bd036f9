//! The cross-crate tests of the Memory-FS workspace live in `tests/`; this library only
//! carries the workspace README's examples as doctests.

/// The workspace README's Rust examples, compiled and run as doctests so the front page
/// stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeExamples;

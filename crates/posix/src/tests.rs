//! Unit tests of the public operations.

//! Conformance suite for storage providers (filled in by the provider work).

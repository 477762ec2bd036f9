//! An in-memory POSIX filesystem core that behaves like Linux on tmpfs.

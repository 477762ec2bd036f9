//! Requests the kernel sent a mount, counted by kind: what tests assert on (a cached
//! status costs no request; a core-checked mount asks at every step), never timings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! ops {
    ($($op:ident => $name:literal,)*) => {
        /// A kind of FUSE request the adapter serves.
        #[derive(Debug, Clone, Copy)]
        pub(crate) enum Op { $($op,)* }

        /// The name of each kind, by its index.
        const NAMES: &[&str] = &[$($name,)*];
    };
}

ops! {
    Lookup => "lookup",
    Forget => "forget",
    Getattr => "getattr",
    Setattr => "setattr",
    Readlink => "readlink",
    Mknod => "mknod",
    Mkdir => "mkdir",
    Unlink => "unlink",
    Rmdir => "rmdir",
    Symlink => "symlink",
    Rename => "rename",
    Link => "link",
    Open => "open",
    Read => "read",
    Write => "write",
    Flush => "flush",
    Release => "release",
    Fsync => "fsync",
    Opendir => "opendir",
    Readdir => "readdir",
    Releasedir => "releasedir",
    Fsyncdir => "fsyncdir",
    Statfs => "statfs",
    Access => "access",
    Create => "create",
    Fallocate => "fallocate",
    Ioctl => "ioctl",
}

/// The live counters of one mount.
#[derive(Debug)]
pub(crate) struct Counts([AtomicU64; NAMES.len()]);

impl Default for Counts {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Counts {
    pub(crate) fn add(&self, op: Op) {
        self.0[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        RequestCounts(
            NAMES
                .iter()
                .zip(&self.0)
                .map(|(&name, n)| (name, n.load(Ordering::Relaxed)))
                .filter(|&(_, n)| n > 0)
                .collect(),
        )
    }
}

/// How many requests of each kind (`"lookup"`, `"getattr"`, `"write"`…) a mount has
/// received, as [`Mount::requests`](crate::Mount::requests) reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts(BTreeMap<&'static str, u64>);

impl RequestCounts {
    /// Requests of kind `op` (0 for a kind never received or unknown).
    pub fn get(&self, op: &str) -> u64 {
        self.0.get(op).copied().unwrap_or(0)
    }

    /// Requests of every kind.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The requests received since `earlier` was taken.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts(
            self.0
                .iter()
                .map(|(&op, &n)| (op, n.saturating_sub(earlier.get(op))))
                .filter(|&(_, n)| n > 0)
                .collect(),
        )
    }

    /// Every kind received, with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(&op, &n)| (op, n))
    }
}

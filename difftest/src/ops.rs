//! The operations of the differential test and what they returned.

use serde::{Deserialize, Serialize};

/// One filesystem call. Descriptors are named by `id`, the id of the `Open` that made
/// them, so removing operations while shrinking never renumbers the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Op {
    Mkdir {
        path: String,
        mode: u32,
    },
    /// `flags` are `memory_fs_posix::OpenFlags` bits.
    Open {
        id: u32,
        path: String,
        flags: u32,
        mode: u32,
    },
    Close {
        id: u32,
    },
    Write {
        id: u32,
        len: usize,
        byte: u8,
    },
    Read {
        id: u32,
        len: usize,
    },
    Pread {
        id: u32,
        len: usize,
        offset: i64,
    },
    Pwrite {
        id: u32,
        len: usize,
        byte: u8,
        offset: i64,
    },
    /// `whence`: 0 set, 1 current, 2 end.
    Lseek {
        id: u32,
        offset: i64,
        whence: u8,
    },
    Ftruncate {
        id: u32,
        len: u64,
    },
    Fstat {
        id: u32,
    },
    Unlink {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Link {
        from: String,
        to: String,
    },
    Symlink {
        target: String,
        path: String,
    },
    Readlink {
        path: String,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    Stat {
        path: String,
    },
    Lstat {
        path: String,
    },
    Readdir {
        path: String,
    },
    Truncate {
        path: String,
        len: u64,
    },
    Access {
        path: String,
        mode: u32,
    },
    Chdir {
        path: String,
    },
    Fchdir {
        id: u32,
    },
    Getcwd,
}

/// A successful result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Val {
    Unit,
    Num(u64),
    Bytes(Vec<u8>),
    Str(String),
    Names(Vec<String>),
    /// The deterministic part of a stat: mode, nlink, uid, gid, size.
    Stat {
        mode: u32,
        nlink: u64,
        uid: u32,
        gid: u32,
        size: u64,
    },
}

/// What one operation returned: a value or an errno.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Success.
    Ok(Val),
    /// Failure with this Linux errno number.
    Err(i32),
}

/// One entry of the final tree (walked as root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// Absolute path.
    pub path: String,
    /// Mode with type bits.
    pub mode: u32,
    /// Link count.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Owner and group.
    pub owner: (u32, u32),
    /// File content or symlink target.
    pub data: Vec<u8>,
}

/// Everything one run of a sequence produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// One outcome per operation.
    pub outcomes: Vec<Outcome>,
    /// The final tree, sorted by path.
    pub tree: Vec<Entry>,
}

/// The bytes a `Write`/`Pwrite` of `len` bytes of `byte` writes.
pub fn payload(len: usize, byte: u8) -> Vec<u8> {
    vec![byte; len]
}

//! An in-memory POSIX filesystem core that behaves like Linux on tmpfs.
#![doc = include_str!("../README.md")]

mod changes;
mod clock;
mod cwd;
mod data;
mod dcache;
mod error;
mod file;
mod flags;
mod fs;
mod inode;
mod name;
mod path;
mod stat;
mod state;
mod temp;
mod watch;

pub use changes::{ChangeObserver, InodeChange};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Errno, PosixError, Result};
pub use file::File;
pub use flags::{AccessMode, OpenFlags, Whence};
pub use fs::{
    Builder, Credentials, DEFAULT_READ_FILE_LIMIT, Fd, MemoryFileSystem, NAME_MAX_BYTES,
    PATH_MAX_BYTES, SYMLINK_LIMIT, Usage,
};
pub use inode::{DirEntry, Inodes, ROOT_INO, RenameFlags, StatFs, UNLIMITED_FREE};
pub use stat::{
    S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID, S_ISUID,
    S_ISVTX, SetTime, Stat, Timespec,
};
pub use watch::{EventKind, WatchEvent, Watcher};

#[cfg(test)]
mod tests;

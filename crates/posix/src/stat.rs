//! `Stat`, `Timespec` and `SetTime`: what the core reports about an inode.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Mask of the file-type bits of [`Stat::mode`].
pub const S_IFMT: u32 = 0o170_000;
/// File type: regular file.
pub const S_IFREG: u32 = 0o100_000;
/// File type: directory.
pub const S_IFDIR: u32 = 0o040_000;
/// File type: symbolic link.
pub const S_IFLNK: u32 = 0o120_000;
/// File type: named pipe (FIFO).
pub const S_IFIFO: u32 = 0o010_000;
/// File type: character device.
pub const S_IFCHR: u32 = 0o020_000;
/// File type: block device.
pub const S_IFBLK: u32 = 0o060_000;
/// File type: Unix domain socket.
pub const S_IFSOCK: u32 = 0o140_000;
/// Set-user-id bit.
pub const S_ISUID: u32 = 0o4000;
/// Set-group-id bit.
pub const S_ISGID: u32 = 0o2000;
/// Sticky bit (restricted deletion in directories).
pub const S_ISVTX: u32 = 0o1000;

/// A point in time with nanoseconds, as seconds since the Unix epoch.
///
/// ```
/// use memory_fs_posix::Timespec;
/// let t = Timespec::new(1_700_000_000, 5);
/// assert!(t > Timespec::new(1_700_000_000, 4));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    pub sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nsec: u32,
}

impl Timespec {
    /// A time of `sec` seconds and `nsec` nanoseconds (nanoseconds are clamped below 10^9).
    pub const fn new(sec: i64, nsec: u32) -> Self {
        Self {
            sec,
            nsec: if nsec >= 1_000_000_000 {
                999_999_999
            } else {
                nsec
            },
        }
    }

    /// This time as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let nanos = Duration::from_nanos(u64::from(self.nsec));
        if self.sec >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.sec.unsigned_abs()) + nanos
        } else {
            UNIX_EPOCH - Duration::from_secs(self.sec.unsigned_abs()) + nanos
        }
    }
}

impl From<SystemTime> for Timespec {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self::new(
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(e) => {
                let d = e.duration();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    Self::new(-secs, 0)
                } else {
                    Self::new(-secs - 1, 1_000_000_000 - d.subsec_nanos())
                }
            }
        }
    }
}

/// How `utimens` sets one timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetTime {
    /// The clock's current time (`UTIME_NOW`).
    Now,
    /// Leave it unchanged (`UTIME_OMIT`).
    Omit,
    /// This exact time.
    At(Timespec),
}

/// What `stat`, `lstat` and `fstat` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stat {
    /// Inode number, unique among live inodes of the tree.
    pub ino: u64,
    /// File type ([`S_IFREG`], [`S_IFDIR`], [`S_IFLNK`], [`S_IFIFO`], [`S_IFSOCK`],
    /// [`S_IFCHR`], [`S_IFBLK`]) and permission bits.
    pub mode: u32,
    /// Number of hard links (for a directory: 2 plus its subdirectories).
    pub nlink: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (for a symlink: its target's length; for a directory: as tmpfs reports).
    pub size: u64,
    /// 512-byte blocks actually allocated (holes cost nothing).
    pub blocks: u64,
    /// Preferred I/O size.
    pub blksize: u32,
    /// Device number of a character or block device node (0 for everything else).
    pub rdev: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last content change.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
}

impl Stat {
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    /// The file-type bits alone (`mode & S_IFMT`), such as [`S_IFREG`] or [`S_IFIFO`].
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// Whether this is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    /// The permission bits, including set-id and sticky bits (`mode & 0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

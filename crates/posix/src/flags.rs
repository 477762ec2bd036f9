//! Flags for `open` and `access`, and `Whence` for `lseek`.

bitflags::bitflags! {
    /// How to open a file, as the `O_*` flags of `open(2)`.
    ///
    /// `READ | WRITE` is `O_RDWR`, `WRITE` alone is `O_WRONLY`, and neither is
    /// `O_RDONLY` (which is 0 on Linux, so an empty set opens for reading).
    ///
    /// ```
    /// use memory_fs_posix::OpenFlags;
    /// let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNC;
    /// assert!(flags.contains(OpenFlags::CREATE));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// Open for reading.
        const READ = 1;
        /// Open for writing.
        const WRITE = 1 << 1;
        /// Every write goes to the end of the file (`O_APPEND`).
        const APPEND = 1 << 2;
        /// Create the file if it does not exist (`O_CREAT`).
        const CREATE = 1 << 3;
        /// With `CREATE`, fail with `EEXIST` if it exists (`O_EXCL`).
        const EXCL = 1 << 4;
        /// Truncate a regular file to length 0 (`O_TRUNC`).
        const TRUNC = 1 << 5;
        /// Fail with `ENOTDIR` unless the path is a directory (`O_DIRECTORY`).
        const DIRECTORY = 1 << 6;
        /// Fail with `ELOOP` if the last component is a symlink (`O_NOFOLLOW`).
        const NOFOLLOW = 1 << 7;
    }
}

impl OpenFlags {
    /// Whether a descriptor opened with these flags may be read (`O_RDONLY` or `O_RDWR`).
    pub fn readable(self) -> bool {
        self.contains(Self::READ) || !self.contains(Self::WRITE)
    }

    /// Whether a descriptor opened with these flags may be written.
    pub fn writable(self) -> bool {
        self.contains(Self::WRITE)
    }
}

bitflags::bitflags! {
    /// What `access(2)` checks: `F` (existence, the empty set), `R`, `W`, `X`.
    ///
    /// ```
    /// use memory_fs_posix::AccessMode;
    /// assert!(AccessMode::F.is_empty());
    /// let rw = AccessMode::R | AccessMode::W;
    /// assert!(rw.contains(AccessMode::W));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct AccessMode: u32 {
        /// Execute / search permission (`X_OK`).
        const X = 1;
        /// Write permission (`W_OK`).
        const W = 2;
        /// Read permission (`R_OK`).
        const R = 4;
    }
}

impl AccessMode {
    /// Existence only (`F_OK`), the empty set.
    pub const F: Self = Self::empty();
}

/// Where `lseek` counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Whence {
    /// From the start of the file (`SEEK_SET`).
    Set,
    /// From the current offset (`SEEK_CUR`).
    Cur,
    /// From the end of the file (`SEEK_END`).
    End,
}

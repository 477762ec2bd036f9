//! Options of the disk provider.

use std::path::PathBuf;

/// Options for a [`DiskStorage`](crate::DiskStorage).
///
/// ```
/// use memory_fs_storage_disk::DiskConfig;
/// let config = DiskConfig { fsync: false, ..DiskConfig::new("/var/lib/app/store") };
/// assert_eq!(config.root.to_str(), Some("/var/lib/app/store"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskConfig {
    /// The directory holding every key; created if missing.
    pub root: PathBuf,
    /// `fsync` each file and its directory on save (default `true`).
    pub fsync: bool,
    /// How many directories below the root the store keeps open between calls, so a
    /// key's directory is found without walking to it (default
    /// [`DiskConfig::DEFAULT_OPEN_DIRS`]; `0` walks every time). Each holds a file
    /// descriptor. Kept directories are watched with inotify and forgotten as soon as
    /// anything moves, removes or replaces them, so the answers are the same either
    /// way; without inotify or `/proc` nothing is kept.
    pub open_dirs: usize,
}

impl DiskConfig {
    /// How many directories a store keeps open unless told otherwise.
    pub const DEFAULT_OPEN_DIRS: usize = 256;

    /// Defaults for a store at `root`: `fsync` on, up to
    /// [`DEFAULT_OPEN_DIRS`](Self::DEFAULT_OPEN_DIRS) directories kept open.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            fsync: true,
            open_dirs: Self::DEFAULT_OPEN_DIRS,
        }
    }
}

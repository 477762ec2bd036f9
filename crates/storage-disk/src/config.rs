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
}

impl DiskConfig {
    /// Defaults for a store at `root`: `fsync` on.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            fsync: true,
        }
    }
}

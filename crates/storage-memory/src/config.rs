//! Options of the memory provider.

/// Options for a [`MemoryStorage`](crate::MemoryStorage).
///
/// ```
/// use memory_fs_storage_memory::{MemoryConfig, MemoryStorage};
/// let store = MemoryStorage::with_config(MemoryConfig { capacity: Some(1 << 20) });
/// # let _ = store;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Most bytes of content the store may hold; a save past it fails with a backend
    /// error carrying `ENOSPC` (and changes nothing).
    pub capacity: Option<u64>,
}

//! Where things live in a store: the three keys of a file in a folder (the Python
//! layout) and the keys this crate keeps of its own under [`RESERVED`].

use memory_fs_storage::SafePath;

use crate::{FileId, FileType, Result};

/// The folder of every key the library keeps for itself (records, index postings,
/// transaction journals). No logical file lives under it, and the Python package
/// ignores it.
pub const RESERVED: &str = ".memory-fs";

/// Where the record of each logical file is kept: `.memory-fs/files/<id>`.
pub(crate) const RECORDS: &str = ".memory-fs/files";

/// The key of the record of `id`.
pub(crate) fn record_key(id: &FileId) -> Result<SafePath> {
    Ok(SafePath::new(format!("{RECORDS}/{id}"))?)
}

/// Whether `key` is one the library keeps for itself.
///
/// ```
/// use memory_fs_file::is_reserved;
/// use memory_fs_file::storage::SafePath;
/// assert!(is_reserved(&SafePath::new(".memory-fs/files/report")?));
/// assert!(!is_reserved(&SafePath::new("latest/report.json")?));
/// # Ok::<(), memory_fs_file::storage::InvalidPath>(())
/// ```
pub fn is_reserved(key: &SafePath) -> bool {
    key.segments().next() == Some(RESERVED)
}

/// The content file's name: `<id>.<ext>` (or `<id>` for a type without extension).
pub(crate) fn content_name(id: &FileId, ty: &FileType) -> String {
    if ty.file_extension.is_empty() {
        id.to_string()
    } else {
        format!("{id}.{}", ty.file_extension)
    }
}

/// `folder/name`, or `name` at the storage root.
pub(crate) fn join(folder: &str, name: &str) -> Result<SafePath> {
    Ok(if folder.is_empty() {
        SafePath::new(name)?
    } else {
        SafePath::new(format!("{folder}/{name}"))?
    })
}

/// The three keys of a logical file in one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderKeys {
    /// The content key.
    pub content: SafePath,
    /// The config key (`None` for content-only types).
    pub config: Option<SafePath>,
    /// The metadata key (`None` for content-only types).
    pub metadata: Option<SafePath>,
}

impl FolderKeys {
    /// The keys of file `id` of type `ty` in `folder` (`""` is the storage root).
    ///
    /// # Errors
    /// [`FileError::InvalidPath`](crate::FileError::InvalidPath) when the folder does not
    /// make valid keys (`/etc`, `../x`, an empty segment…).
    pub fn new(folder: &str, id: &FileId, ty: &FileType) -> Result<Self> {
        let name = content_name(id, ty);
        let content = join(folder, &name)?;
        let (config, metadata) = if ty.content_only() {
            (None, None)
        } else {
            (
                Some(join(folder, &format!("{name}.config"))?),
                Some(join(folder, &format!("{name}.metadata"))?),
            )
        };
        Ok(Self {
            content,
            config,
            metadata,
        })
    }

    /// The keys that exist for this type, content first.
    pub fn all(&self) -> impl Iterator<Item = &SafePath> {
        std::iter::once(&self.content)
            .chain(self.config.as_ref())
            .chain(self.metadata.as_ref())
    }
}

/// The number of a version folder: `Some(n)` for a last segment `v<n>` (n ≥ 1).
pub(crate) fn version_of(folder: &str) -> Option<u32> {
    let last = folder.rsplit('/').next()?;
    let digits = last.strip_prefix('v')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The base of a version folder (`"reports/"` for `reports/v3`, `""` for `v3`).
pub(crate) fn version_base(folder: &str) -> &str {
    let last = folder.rsplit('/').next().unwrap_or(folder);
    &folder[..folder.len() - last.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_folders() {
        assert_eq!(version_of("v1"), Some(1));
        assert_eq!(version_of("a/b/v12"), Some(12));
        assert_eq!(version_of("v0"), None);
        assert_eq!(version_of("v01"), None);
        assert_eq!(version_of("v"), None);
        assert_eq!(version_of("latest"), None);
        assert_eq!(version_of("v1x"), None);
        assert_eq!(version_base("a/b/v12"), "a/b/");
        assert_eq!(version_base("v3"), "");
    }
}

//! `Target` and `TargetCreate`: files found by their stored configs, whoever wrote them.

use std::sync::{Arc, OnceLock};

use memory_fs_file::storage::{SafePath, Storage};
use memory_fs_file::{FileConfig, FileError, Placed, Result, is_reserved};

/// A file config bound to a storage; hands out (and caches) the [`Placed`] file it
/// describes.
#[derive(Debug, Clone)]
pub struct Target {
    config: FileConfig,
    storage: Arc<dyn Storage>,
    file: OnceLock<Placed>,
}

impl Target {
    /// A target for `config` on `storage`.
    pub fn new(storage: Arc<dyn Storage>, config: FileConfig) -> Self {
        Self {
            config,
            storage,
            file: OnceLock::new(),
        }
    }

    /// The config.
    pub fn config(&self) -> &FileConfig {
        &self.config
    }

    /// The file in exactly the config's folders (made on first use, then shared).
    pub fn file(&self) -> &Placed {
        self.file
            .get_or_init(|| Placed::new(self.storage.clone(), self.config.clone()))
    }
}

/// What [`TargetCreate::scan_all`] found: the targets, and the configs it could not
/// read (with the error), so one damaged config never hides the others.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every distinct config found, sorted by id then folders.
    pub targets: Vec<Target>,
    /// The config keys that did not parse, and why.
    pub unreadable: Vec<(SafePath, FileError)>,
}

/// Rebuilds [`Target`]s from the `.config` files in a storage.
#[derive(Debug, Clone)]
pub struct TargetCreate {
    storage: Arc<dyn Storage>,
}

impl TargetCreate {
    /// A factory over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The target whose config is stored at `path`, or `None` if nothing is there.
    ///
    /// # Errors
    /// `FileError::CorruptConfig` naming `path` when the bytes there are not a config;
    /// storage errors.
    pub fn from_config_path(&self, path: &SafePath) -> Result<Option<Target>> {
        match self.storage.file_bytes(path)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(Target::new(
                self.storage.clone(),
                FileConfig::from_json(path.as_str(), &bytes)?,
            ))),
        }
    }

    /// Every logical file under `prefix` (the whole store for `None`), found through its
    /// config files; a file stored at several folders is listed once. Sorted by id,
    /// then folders.
    ///
    /// # Errors
    /// `FileError::CorruptConfig` for the first config that does not parse (see
    /// [`scan_all`](Self::scan_all) to go on past it); storage errors.
    pub fn scan(&self, prefix: Option<&SafePath>) -> Result<Vec<Target>> {
        let scan = self.scan_all(prefix)?;
        match scan.unreadable.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(scan.targets),
        }
    }

    /// As [`scan`](Self::scan), but a config that cannot be read is set aside with its
    /// error instead of failing the scan.
    ///
    /// # Errors
    /// Storage errors of the listing.
    pub fn scan_all(&self, prefix: Option<&SafePath>) -> Result<Scan> {
        let mut scan = Scan::default();
        for key in self.storage.files_paths(prefix)? {
            if !key.as_str().ends_with(".config") || is_reserved(&key) {
                continue;
            }
            let target = match self.from_config_path(&key) {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(e @ (FileError::CorruptConfig { .. } | FileError::Storage(_))) => {
                    scan.unreadable.push((key, e));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let c = target.config();
            if !scan
                .targets
                .iter()
                .any(|t| t.config().file_id == c.file_id && t.config().file_paths == c.file_paths)
            {
                scan.targets.push(target);
            }
        }
        scan.targets.sort_by(|a, b| {
            (&a.config().file_id, &a.config().file_paths)
                .cmp(&(&b.config().file_id, &b.config().file_paths))
        });
        Ok(scan)
    }
}

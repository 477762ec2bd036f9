//! `Target` and `TargetCreate`: files found by their stored configs.

use std::sync::{Arc, OnceLock};

use memory_fs_file::storage::{SafePath, Storage};
use memory_fs_file::{File, FileConfig, Result};

/// A file config bound to a storage; hands out (and caches) its [`File`].
#[derive(Debug, Clone)]
pub struct Target {
    config: FileConfig,
    storage: Arc<dyn Storage>,
    file: OnceLock<File>,
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

    /// The file (made on first use, then shared).
    pub fn file(&self) -> &File {
        self.file
            .get_or_init(|| File::from_config(self.storage.clone(), self.config.clone()))
    }
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
    /// `FileError::CorruptConfig` for the first config that does not parse; storage
    /// errors.
    pub fn scan(&self, prefix: Option<&SafePath>) -> Result<Vec<Target>> {
        let mut targets: Vec<Target> = Vec::new();
        for key in self.storage.files_paths(prefix)? {
            if !key.as_str().ends_with(".config") {
                continue;
            }
            let Some(target) = self.from_config_path(&key)? else {
                continue;
            };
            let c = target.config();
            if !targets
                .iter()
                .any(|t| t.config().file_id == c.file_id && t.config().file_paths == c.file_paths)
            {
                targets.push(target);
            }
        }
        targets.sort_by(|a, b| {
            (&a.config().file_id, &a.config().file_paths)
                .cmp(&(&b.config().file_id, &b.config().file_paths))
        });
        Ok(targets)
    }
}

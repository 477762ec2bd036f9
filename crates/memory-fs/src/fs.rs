//! `MemoryFs`: the one-stop API, and its operation groups (save, load, data, edit, delete).

use std::sync::Arc;

use memory_fs_target::file::storage::{SafePath, Storage};
use memory_fs_target::file::{
    Clock, DeleteReport, File, FileBuilder, FileConfig, FileId, FileInfo, FileMetadata, FileType,
    PathHandler, SystemClock,
};
use memory_fs_target::{Project, Target, TargetCreate};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Error, Result, StoreUrl};

/// Logical files on one storage: the entry point of Memory-FS.
///
/// A `MemoryFs` is cheap to clone (an `Arc` to the storage and one to the clock) and can
/// be shared between threads. Files are described by a [`FileConfig`] (id, type,
/// folders) — the operation groups [`save`](Self::save), [`load`](Self::load),
/// [`data`](Self::data), [`edit`](Self::edit) and [`delete`](Self::delete) take one —
/// or handled directly as a [`File`] from [`file`](Self::file) /
/// [`file_at`](Self::file_at).
///
/// ```
/// use memory_fs::prelude::*;
/// use serde_json::json;
///
/// let fs = MemoryFs::open("memory://")?;
/// let settings = FileConfig::new(FileId::new("user-settings")?, FileType::json())
///     .with_paths(["config", "backup"]);
/// fs.save().json(&settings, &json!({"theme": "dark"}))?;
/// assert_eq!(fs.load().json(&settings)?, Some(json!({"theme": "dark"})));
/// assert_eq!(fs.list(None)?.len(), 1);
/// # Ok::<(), memory_fs::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryFs {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
}

impl MemoryFs {
    /// Logical files on `storage`, with the system clock.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            clock: Arc::new(SystemClock),
        }
    }

    /// A fresh in-memory store (the same as `MemoryFs::open("memory://")`).
    #[cfg(feature = "memory")]
    pub fn in_memory() -> Self {
        Self::new(Arc::new(memory_fs_storage_memory::MemoryStorage::new()))
    }

    /// Opens the store `url` names; see [`StoreUrl`] for the forms.
    ///
    /// ```
    /// # fn main() -> Result<(), memory_fs::Error> {
    /// let fs = memory_fs::MemoryFs::open("memory://")?;
    /// # let _ = fs;
    /// let err = memory_fs::MemoryFs::open("gopher://x").unwrap_err();
    /// assert!(err.to_string().contains("unknown store scheme"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownScheme`], [`Error::InvalidUrl`], [`Error::FeatureDisabled`],
    /// [`Error::Open`].
    pub fn open(url: &str) -> Result<Self> {
        StoreUrl::parse(url)?.open()
    }

    /// The same store, with `clock` for metadata timestamps and temporal folders.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The storage underneath.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    // ----- files -----------------------------------------------------------------------

    /// The file `id` of `file_type` at the storage root.
    ///
    /// # Errors
    /// [`Error::File`] for an invalid id.
    pub fn file(&self, id: &str, file_type: FileType) -> Result<File> {
        Ok(self.builder(id, file_type)?.build()?)
    }

    /// The file `id` of `file_type` in the folders `handlers` choose (for example
    /// `[PathHandler::latest(), PathHandler::versioned()]`; a versioned handler picks the
    /// next free version now, reading the storage).
    ///
    /// # Errors
    /// [`Error::File`] for an invalid id or a storage failure while looking for versions.
    pub fn file_at<I: IntoIterator<Item = PathHandler>>(
        &self,
        id: &str,
        file_type: FileType,
        handlers: I,
    ) -> Result<File> {
        Ok(self.builder(id, file_type)?.handlers(handlers).build()?)
    }

    /// A builder for the file `id`, for the options beyond [`file_at`](Self::file_at)
    /// (key, exists strategy).
    ///
    /// # Errors
    /// [`Error::File`] for an invalid id.
    pub fn builder(&self, id: &str, file_type: FileType) -> Result<FileBuilder> {
        Ok(
            File::builder(self.storage.clone(), FileId::new(id)?, file_type)
                .clock(self.clock.clone()),
        )
    }

    /// The file `config` describes.
    pub fn file_for(&self, config: &FileConfig) -> File {
        File::from_config(self.storage.clone(), config.clone()).with_clock(self.clock.clone())
    }

    /// A project on this store (add strategies with [`Project::with_strategy`]).
    pub fn project(&self) -> Project {
        Project::new(self.storage.clone()).with_clock(self.clock.clone())
    }

    /// Every logical file under `prefix` (the whole store for `None`), found through
    /// its config files — whoever wrote the store. Sorted by id, then folders; a file
    /// kept at several folders is listed once. Types stored without a config
    /// (`json_single`) are not listed.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a bad prefix; [`Error::File`] for a corrupt config or a
    /// storage failure.
    pub fn list(&self, prefix: Option<&str>) -> Result<Vec<Target>> {
        let prefix = prefix
            .filter(|p| !p.is_empty())
            .map(SafePath::new)
            .transpose()?;
        Ok(TargetCreate::new(self.storage.clone()).scan(prefix.as_ref())?)
    }

    /// Every placement of the logical file `id` (one per distinct folder set), as
    /// [`list`](Self::list) finds them.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no config names `id`; as [`list`](Self::list).
    pub fn find(&self, id: &str) -> Result<Vec<Target>> {
        let found: Vec<Target> = self
            .list(None)?
            .into_iter()
            .filter(|t| t.config().file_id.as_str() == id)
            .collect();
        if found.is_empty() {
            return Err(Error::NotFound { id: id.to_owned() });
        }
        Ok(found)
    }

    /// The versions stored for the file `config` describes (see [`File::versions`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn versions(&self, config: &FileConfig) -> Result<Vec<u32>> {
        Ok(self.file_for(config).versions()?)
    }

    /// The physical keys under `prefix` (the whole store for `None`), sorted.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a bad prefix; storage errors.
    pub fn keys(&self, prefix: Option<&str>) -> Result<Vec<SafePath>> {
        let prefix = prefix
            .filter(|p| !p.is_empty())
            .map(SafePath::new)
            .transpose()?;
        let mut keys = self.storage.files_paths(prefix.as_ref())?;
        keys.sort();
        Ok(keys)
    }

    /// Copies every physical key under `prefix` to `destination`, key by key (each key
    /// is written whole: an interrupted copy leaves every destination key either as it
    /// was or as the source's). `progress(done_keys, total_keys, bytes_so_far)` is
    /// called after each key. Keys at the destination that the source lacks are left
    /// alone.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a bad prefix; storage errors of either side (the keys
    /// copied before stay copied).
    pub fn copy_to(
        &self,
        destination: &MemoryFs,
        prefix: Option<&str>,
        mut progress: impl FnMut(usize, usize, u64),
    ) -> Result<CopyReport> {
        let keys = self.keys(prefix)?;
        let mut report = CopyReport::default();
        for (i, key) in keys.iter().enumerate() {
            // A key removed since the listing is skipped, not an error.
            if let Some(bytes) = self.storage.file_bytes(key)? {
                destination.storage.file_save(key, &bytes)?;
                report.keys += 1;
                report.bytes += bytes.len() as u64;
            }
            progress(i + 1, keys.len(), report.bytes);
        }
        Ok(report)
    }

    // ----- operation groups --------------------------------------------------------------

    /// Saving values.
    pub fn save(&self) -> Save<'_> {
        Save { fs: self }
    }

    /// Loading values.
    pub fn load(&self) -> Load<'_> {
        Load { fs: self }
    }

    /// Read-only questions: existence, info, metadata, paths.
    pub fn data(&self) -> Data<'_> {
        Data { fs: self }
    }

    /// Changing metadata in place.
    pub fn edit(&self) -> Edit<'_> {
        Edit { fs: self }
    }

    /// Deleting files.
    pub fn delete(&self) -> Delete<'_> {
        Delete { fs: self }
    }
}

/// What [`MemoryFs::copy_to`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Keys written to the destination.
    pub keys: usize,
    /// Bytes written to the destination.
    pub bytes: u64,
}

/// Saving values ([`MemoryFs::save`]). Each method writes content, then config, then
/// metadata at every folder, and returns the keys written.
#[derive(Debug, Clone, Copy)]
pub struct Save<'a> {
    fs: &'a MemoryFs,
}

impl Save<'_> {
    /// Saves a JSON value (serialized as the file type says).
    ///
    /// # Errors
    /// [`Error::File`]: serialization, encoding or storage failures.
    pub fn json(&self, config: &FileConfig, value: &Value) -> Result<Vec<SafePath>> {
        Ok(self.fs.file_for(config).save_json(value)?)
    }

    /// Saves any serializable value.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn typed<T: Serialize>(&self, config: &FileConfig, value: &T) -> Result<Vec<SafePath>> {
        Ok(self.fs.file_for(config).save_typed(value)?)
    }

    /// Saves text (encoded as the file type says).
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn text(&self, config: &FileConfig, text: &str) -> Result<Vec<SafePath>> {
        Ok(self.fs.file_for(config).save_text(text)?)
    }

    /// Saves bytes (for binary types; text types check that they decode).
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn bytes(&self, config: &FileConfig, bytes: &[u8]) -> Result<Vec<SafePath>> {
        Ok(self.fs.file_for(config).save_bytes(bytes)?)
    }
}

/// Loading values ([`MemoryFs::load`]). Each method returns `None` when the file is
/// absent, and checks the content against its metadata hash.
#[derive(Debug, Clone, Copy)]
pub struct Load<'a> {
    fs: &'a MemoryFs,
}

impl Load<'_> {
    /// The file, if it exists.
    ///
    /// # Errors
    /// Storage errors.
    pub fn file(&self, config: &FileConfig) -> Result<Option<File>> {
        let file = self.fs.file_for(config);
        Ok(file.exists()?.then_some(file))
    }

    /// The content as JSON.
    ///
    /// # Errors
    /// [`Error::File`]: hash mismatch, decoding, deserialization or storage failures.
    pub fn json(&self, config: &FileConfig) -> Result<Option<Value>> {
        Ok(self.fs.file_for(config).load_json()?)
    }

    /// The content deserialized as `T`.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn typed<T: DeserializeOwned>(&self, config: &FileConfig) -> Result<Option<T>> {
        Ok(self.fs.file_for(config).load_typed()?)
    }

    /// The content as text.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn text(&self, config: &FileConfig) -> Result<Option<String>> {
        Ok(self.fs.file_for(config).load_text()?)
    }

    /// The content bytes as stored.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn bytes(&self, config: &FileConfig) -> Result<Option<Vec<u8>>> {
        Ok(self.fs.file_for(config).load_bytes()?)
    }
}

/// Read-only questions ([`MemoryFs::data`]).
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    fs: &'a MemoryFs,
}

impl Data<'_> {
    /// Whether the content exists (by the config's exists strategy).
    ///
    /// # Errors
    /// Storage errors.
    pub fn exists(&self, config: &FileConfig) -> Result<bool> {
        Ok(self.fs.file_for(config).exists()?)
    }

    /// Size, hash, timestamp, type and keys.
    ///
    /// # Errors
    /// A corrupt metadata file; storage errors.
    pub fn info(&self, config: &FileConfig) -> Result<FileInfo> {
        Ok(self.fs.file_for(config).info()?)
    }

    /// The metadata, if stored.
    ///
    /// # Errors
    /// As [`info`](Self::info).
    pub fn metadata(&self, config: &FileConfig) -> Result<Option<FileMetadata>> {
        Ok(self.fs.file_for(config).metadata()?)
    }

    /// Every key the file uses (present or not), sorted.
    ///
    /// # Errors
    /// [`Error::File`] when a folder makes an invalid key.
    pub fn paths(&self, config: &FileConfig) -> Result<Vec<SafePath>> {
        Ok(self.fs.file_for(config).paths()?)
    }

    /// The user data of the metadata (empty when none).
    ///
    /// # Errors
    /// As [`info`](Self::info).
    pub fn user_data(&self, config: &FileConfig) -> Result<Map<String, Value>> {
        Ok(self.metadata(config)?.map(|m| m.data).unwrap_or_default())
    }
}

/// Changing metadata in place ([`MemoryFs::edit`]); the content is untouched.
#[derive(Debug, Clone, Copy)]
pub struct Edit<'a> {
    fs: &'a MemoryFs,
}

impl Edit<'_> {
    /// Replaces the user data at every folder that has metadata; returns the keys rewritten.
    ///
    /// # Errors
    /// A corrupt metadata file; storage errors.
    pub fn data(&self, config: &FileConfig, data: Map<String, Value>) -> Result<Vec<SafePath>> {
        Ok(self.fs.file_for(config).update_data(data)?)
    }

    /// Adds tags (in order, without duplicates); returns the keys rewritten.
    ///
    /// # Errors
    /// As [`data`](Self::data).
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(
        &self,
        config: &FileConfig,
        tags: I,
    ) -> Result<Vec<SafePath>> {
        Ok(self.fs.file_for(config).add_tags(tags)?)
    }
}

/// Deleting ([`MemoryFs::delete`]).
#[derive(Debug, Clone, Copy)]
pub struct Delete<'a> {
    fs: &'a MemoryFs,
}

impl Delete<'_> {
    /// Deletes the file's content, config and metadata at every folder; says which existed.
    ///
    /// # Errors
    /// Storage errors (keys deleted before the failure stay deleted).
    pub fn file(&self, config: &FileConfig) -> Result<DeleteReport> {
        Ok(self.fs.file_for(config).delete()?)
    }

    /// Deletes every placement of the logical file `id`; says which keys existed.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no config names `id`; storage errors.
    pub fn id(&self, id: &str) -> Result<DeleteReport> {
        let mut report = DeleteReport::default();
        for target in self.fs.find(id)? {
            report.deleted.extend(target.file().delete()?.deleted);
        }
        report.deleted.sort();
        Ok(report)
    }

    /// Deletes every physical key under `prefix` (which must name something: use
    /// [`all`](Self::all) for the whole store); returns how many there were.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a bad or empty prefix; storage errors.
    pub fn prefix(&self, prefix: &str) -> Result<usize> {
        let prefix = SafePath::new(prefix)?;
        let keys = self.fs.storage.files_paths(Some(&prefix))?;
        Ok(self.fs.storage.files_delete(&keys)?)
    }

    /// Deletes every key in the store.
    ///
    /// # Errors
    /// Storage errors.
    pub fn all(&self) -> Result<()> {
        Ok(self.fs.storage.clear()?)
    }
}

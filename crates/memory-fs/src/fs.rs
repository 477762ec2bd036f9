//! `MemoryFs`: the one-stop API, and its operation groups (save, create, load, data,
//! edit, delete).

use std::sync::Arc;

use memory_fs_target::file::storage::{SafePath, Storage};
use memory_fs_target::file::{
    Clock, Content, Create as CreateWhat, DeleteReport, File, FileConfig, FileId, FileMetadata,
    FileSpec, Placed, Retention, SystemClock, Transaction, is_reserved, to_json,
};
use memory_fs_target::{
    Catalog, ChainReport, CopyReport, Listing, PruneReport, Query, ReindexReport, VerifyReport,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Error, Result, StoreUrl};

/// Logical files on one storage: the entry point of Memory-FS.
///
/// A `MemoryFs` is cheap to clone (an `Arc` to the storage and one to the clock) and
/// can be shared between threads. A file is described for saving by a [`FileSpec`]
/// (id, type, path handlers) or a [`FileConfig`] (id, type, folders); the operation
/// groups [`save`](Self::save), [`create`](Self::create), [`load`](Self::load),
/// [`data`](Self::data), [`edit`](Self::edit) and [`delete`](Self::delete) take
/// one. A stored file is reached by id with [`file`](Self::file), which reads its
/// record — one request, whatever the size of the store.
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
/// assert_eq!(fs.file("user-settings")?.load_json()?, Some(json!({"theme": "dark"})));
/// assert_eq!(fs.list()?.files.len(), 1);
/// # Ok::<(), memory_fs::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryFs {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    retention: Option<Retention>,
}

impl MemoryFs {
    /// Logical files on `storage`, with the system clock.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            clock: Arc::new(SystemClock),
            retention: None,
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
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same store, with `policy` as the retention of every versioned file without
    /// a policy of its own: saves and restores through this value prune the versions
    /// it does not keep (in the same commit), and so does [`prune`](Self::prune).
    /// Not stored: a file's own policy ([`FileSpec::with_retention`]) is. A
    /// [`transaction`](Self::transaction) applies the policies its specs carry (and the
    /// files' own), not this default.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use memory_fs::prelude::*;
    /// use memory_fs::Retention;
    ///
    /// let fs = MemoryFs::in_memory().with_retention(Retention::keep_last(NonZeroU32::new(2).unwrap()));
    /// let spec = FileSpec::new(FileId::new("doc")?, FileType::text())
    ///     .handlers([PathHandler::versioned()]);
    /// for text in ["one", "two", "three"] {
    ///     fs.save().text(spec.clone(), text)?;
    /// }
    /// assert_eq!(fs.file("doc")?.versions(), [2, 3]);
    /// assert!(fs.verify_chains()?.problems.is_empty());
    /// # Ok::<(), memory_fs::Error>(())
    /// ```
    #[must_use]
    pub fn with_retention(mut self, policy: Retention) -> Self {
        self.retention = Some(policy);
        self
    }

    /// The default retention of this value.
    pub fn retention(&self) -> Option<&Retention> {
        self.retention.as_ref()
    }

    /// The storage underneath.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The store as a whole (the layer below): listing, queries, reindex, verify.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(self.storage.clone(), self.clock.clone())
    }

    // ----- files -----------------------------------------------------------------------

    /// The logical file `id`, found through its record: its folders, versions and last
    /// save, ready to load, edit, delete, verify or copy.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the store has no record of `id` (files another program
    /// wrote are found after [`reindex`](Self::reindex)); an invalid id; a damaged
    /// record; storage errors.
    pub fn file(&self, id: &str) -> Result<File> {
        let file_id = FileId::new(id)?;
        self.catalog()
            .get(&file_id)?
            .map(|f| f.with_default_retention(self.retention))
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })
    }

    /// Every logical file, sorted by id (and the records that could not be read).
    ///
    /// # Errors
    /// Storage errors.
    pub fn list(&self) -> Result<Listing> {
        Ok(self.catalog().list()?)
    }

    /// The logical files `query` selects (by tag, type, folder, time, user data).
    ///
    /// # Errors
    /// Storage errors.
    pub fn query(&self, query: &Query) -> Result<Listing> {
        Ok(self.catalog().query(query)?)
    }

    /// The physical keys under `prefix` (the whole store for `None`), sorted; keys
    /// the library keeps for itself (under `.memory-fs/`) only when `reserved` is set.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a bad prefix; storage errors.
    pub fn keys(&self, prefix: Option<&str>, reserved: bool) -> Result<Vec<SafePath>> {
        let prefix = prefix
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(SafePath::new)
            .transpose()?;
        let mut keys = self.storage.files_paths(prefix.as_ref())?;
        if !reserved {
            keys.retain(|k| !is_reserved(k));
        }
        keys.sort();
        Ok(keys)
    }

    /// The physical keys [`keys`](Self::keys) lists, each with the size of its value
    /// in bytes (a key removed meanwhile is left out). Reads every value.
    ///
    /// # Errors
    /// As [`keys`](Self::keys).
    pub fn key_sizes(&self, prefix: Option<&str>, reserved: bool) -> Result<Vec<(SafePath, u64)>> {
        let mut sized = Vec::new();
        for key in self.keys(prefix, reserved)? {
            if let Some(bytes) = self.storage.file_bytes(&key)? {
                sized.push((key, bytes.len() as u64));
            }
        }
        Ok(sized)
    }

    /// Runs `build` on a fresh [`Transaction`], then commits it: every save, edit and
    /// delete it holds applies, or none does. Returns what `build` returned.
    ///
    /// ```
    /// use memory_fs::prelude::*;
    ///
    /// let fs = MemoryFs::in_memory();
    /// let a = FileSpec::new(FileId::new("a")?, FileType::text()).folders(["docs"]);
    /// let b = FileSpec::new(FileId::new("b")?, FileType::text()).folders(["docs"]);
    /// fs.transaction(|tx| {
    ///     tx.save(&a, Content::Text("one"))?.save(&b, Content::Text("two"))?;
    ///     Ok(())
    /// })?;
    /// assert_eq!(fs.list()?.files.len(), 2);
    /// # Ok::<(), memory_fs::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `build` returns, or the commit's error; then nothing is changed.
    pub fn transaction<T>(&self, build: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        let mut tx = self.catalog().transaction();
        let out = build(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Rebuilds the index from the configs in the store (see [`Catalog::reindex`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn reindex(&self) -> Result<ReindexReport> {
        Ok(self.catalog().reindex()?)
    }

    /// Checks the store, or what lies under `prefix` (see [`Catalog::verify`]).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a bad prefix; storage errors.
    pub fn verify(&self, prefix: Option<&str>) -> Result<VerifyReport> {
        let prefix = prefix
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(SafePath::new)
            .transpose()?;
        Ok(self.catalog().verify(prefix.as_ref())?)
    }

    /// A watch of the logical files (of file `only`, or of all): the saves, edits and
    /// deletes committed from now on, by this process or any other, as
    /// [`Watch::wait`](crate::Watch::wait) or as an iterator (see [`crate::Watch`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use memory_fs::{ChangeKind, FileId, FileSpec, FileType, MemoryFs};
    ///
    /// let fs = MemoryFs::in_memory();
    /// let mut watch = fs.watch(None)?;
    /// fs.save().text(FileSpec::new(FileId::new("doc")?, FileType::text()), "hi")?;
    /// let changes = watch.wait(Duration::from_secs(10))?;
    /// assert_eq!(changes[0].kind, ChangeKind::Saved);
    /// # Ok::<(), memory_fs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::File`] for an invalid id; storage errors.
    pub fn watch(&self, only: Option<&str>) -> Result<crate::Watch> {
        let only = only.map(FileId::new).transpose()?;
        Ok(self.catalog().watch(only.as_ref())?)
    }

    /// The changes a [`watch`](Self::watch) reports, delivered on a channel by a
    /// thread of its own (which ends when the channel is dropped).
    ///
    /// # Errors
    /// As [`watch`](Self::watch).
    pub fn watch_channel(&self, only: Option<&str>) -> Result<crate::WatchChannel> {
        Ok(crate::WatchChannel::spawn(self.watch(only)?))
    }

    /// Walks the version chain of every versioned file (see
    /// [`Catalog::verify_chains`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn verify_chains(&self) -> Result<ChainReport> {
        Ok(self.catalog().verify_chains()?)
    }

    /// Saves version `version` of file `id` again as its newest version (see
    /// [`File::restore`]); returns the file after.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id; [`FileError::NoVersion`](crate::FileError::NoVersion) (as
    /// [`Error::File`]) for a version the file does not hold; as [`File::restore`].
    pub fn restore(&self, id: &str, version: u32) -> Result<File> {
        Ok(self.file(id)?.restore(version)?)
    }

    /// Applies retention (see [`Catalog::prune`]) to every versioned file, or to `id`:
    /// each file's own policy, else this value's default
    /// ([`with_retention`](Self::with_retention)). With `dry_run` nothing is written.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown `id`; storage errors.
    pub fn prune(&self, id: Option<&str>, dry_run: bool) -> Result<PruneReport> {
        let only = id.map(FileId::new).transpose()?;
        if let (Some(only), Some(id)) = (&only, id)
            && self.catalog().get(only)?.is_none()
        {
            return Err(Error::NotFound { id: id.to_owned() });
        }
        Ok(self
            .catalog()
            .prune(only.as_ref(), self.retention.as_ref(), dry_run)?)
    }

    /// Copies the files `query` selects to `destination`, each in one commit there.
    ///
    /// # Errors
    /// Storage errors of either side (files copied before stay copied).
    pub fn copy_to(
        &self,
        destination: &MemoryFs,
        query: &Query,
        progress: impl FnMut(usize, usize, u64),
    ) -> Result<CopyReport> {
        Ok(self
            .catalog()
            .copy_to(&destination.catalog(), query, progress)?)
    }

    /// Copies physical keys under `prefix` one by one (each key written whole), the
    /// library's own keys left out: for stores that are not logical files. Returns the
    /// keys and bytes copied.
    ///
    /// # Errors
    /// [`Error::InvalidPath`]; storage errors of either side.
    pub fn copy_keys_to(
        &self,
        destination: &MemoryFs,
        prefix: Option<&str>,
        mut progress: impl FnMut(usize, usize, u64),
    ) -> Result<(usize, u64)> {
        let keys = self.keys(prefix, false)?;
        let (mut copied, mut bytes) = (0, 0u64);
        for (i, key) in keys.iter().enumerate() {
            // A key removed since the listing is skipped, not an error.
            if let Some(value) = self.storage.file_bytes(key)? {
                destination.storage.file_save(key, &value)?;
                copied += 1;
                bytes += value.len() as u64;
            }
            progress(i + 1, keys.len(), bytes);
        }
        Ok((copied, bytes))
    }

    // ----- operation groups --------------------------------------------------------------

    /// Saving values.
    pub fn save(&self) -> Save<'_> {
        Save { fs: self }
    }

    /// Creating files that must not exist yet.
    pub fn create(&self) -> Create<'_> {
        Create { fs: self }
    }

    /// Loading values of a file in the folders its config names.
    pub fn load(&self) -> Load<'_> {
        Load { fs: self }
    }

    /// Read-only questions: existence, metadata, keys.
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

    fn commit_save(&self, spec: &FileSpec, content: Content<'_>) -> Result<File> {
        let with_default;
        let spec = match (self.retention, spec.default_retention()) {
            (Some(policy), None) => {
                with_default = spec.clone().with_default_retention(policy);
                &with_default
            }
            _ => spec,
        };
        Ok(
            File::save_with_clock(self.storage.clone(), self.clock.clone(), spec, content)?
                .with_default_retention(self.retention),
        )
    }

    fn placed(&self, config: &FileConfig) -> Placed {
        Placed::new(self.storage.clone(), config.clone())
    }

    fn indexed(&self, id: &FileId) -> Result<Option<File>> {
        Ok(self
            .catalog()
            .get(id)?
            .map(|f| f.with_default_retention(self.retention)))
    }
}

/// Saving values ([`MemoryFs::save`]). Each method commits content, metadata, config
/// (in new folders) and the file's record together, and returns the file after.
#[derive(Debug, Clone, Copy)]
pub struct Save<'a> {
    fs: &'a MemoryFs,
}

impl Save<'_> {
    /// Saves a JSON value (serialized as the file type says).
    ///
    /// # Errors
    /// [`Error::File`]: serialization, encoding or storage failures; the file then
    /// reads as before.
    pub fn json(&self, file: impl Into<FileSpec>, value: &Value) -> Result<File> {
        self.fs.commit_save(&file.into(), Content::Json(value))
    }

    /// Saves any serializable value.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn typed<T: Serialize>(&self, file: impl Into<FileSpec>, value: &T) -> Result<File> {
        let spec = file.into();
        let value = to_json(spec.id(), value)?;
        self.fs.commit_save(&spec, Content::Json(&value))
    }

    /// Saves text (encoded as the file type says).
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn text(&self, file: impl Into<FileSpec>, text: &str) -> Result<File> {
        self.fs.commit_save(&file.into(), Content::Text(text))
    }

    /// Saves bytes (for binary and base64 types).
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn bytes(&self, file: impl Into<FileSpec>, bytes: &[u8]) -> Result<File> {
        self.fs.commit_save(&file.into(), Content::Bytes(bytes))
    }

    /// Saves a value in whatever form it is.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn content(&self, file: impl Into<FileSpec>, content: Content<'_>) -> Result<File> {
        self.fs.commit_save(&file.into(), content)
    }

    /// Saves the bytes `reader` yields, streamed: the value is never held in memory
    /// whole (a `binary` or `base64` type; see [`File::save_from`]). A reader that
    /// fails part-way leaves the file as it was.
    ///
    /// ```
    /// use std::io::Read as _;
    /// use memory_fs::{FileId, FileSpec, FileType, MemoryFs};
    ///
    /// let fs = MemoryFs::in_memory();
    /// let spec = FileSpec::new(FileId::new("big")?, FileType::binary());
    /// let file = fs.save().from_reader(spec, &mut std::io::repeat(7).take(3 << 20))?;
    /// assert_eq!(file.metadata().map(|m| m.content_size), Some(3 << 20));
    ///
    /// let mut out = Vec::new();
    /// assert_eq!(file.load_to(&mut out)?, Some(3 << 20));
    /// assert!(out.iter().all(|&b| b == 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`File::save_from`].
    pub fn from_reader(
        &self,
        file: impl Into<FileSpec>,
        reader: &mut dyn std::io::Read,
    ) -> Result<File> {
        Ok(File::save_from(
            self.fs.storage.clone(),
            self.fs.clock.clone(),
            &file.into(),
            reader,
        )?)
    }
}

/// Creating files that must not exist yet ([`MemoryFs::create`]): the Python
/// package's `create`, `create__content` and `create__both`, which fail instead of
/// overwriting.
#[derive(Debug, Clone, Copy)]
pub struct Create<'a> {
    fs: &'a MemoryFs,
}

impl Create<'_> {
    fn make(&self, file: impl Into<FileSpec>, what: CreateWhat<'_>) -> Result<File> {
        Ok(File::create(
            self.fs.storage.clone(),
            self.fs.clock.clone(),
            &file.into(),
            what,
        )?)
    }

    /// Declares the file: its config (and record), no content yet.
    ///
    /// # Errors
    /// [`Error::File`] with `FileError::AlreadyExists` when the id is taken; as
    /// [`Save::json`].
    pub fn config(&self, file: impl Into<FileSpec>) -> Result<File> {
        self.make(file, CreateWhat::Config)
    }

    /// The content and its metadata, without a config.
    ///
    /// # Errors
    /// As [`config`](Self::config).
    pub fn content(&self, file: impl Into<FileSpec>, content: Content<'_>) -> Result<File> {
        self.make(file, CreateWhat::Content(content))
    }

    /// Config, content and metadata.
    ///
    /// # Errors
    /// As [`config`](Self::config).
    pub fn both(&self, file: impl Into<FileSpec>, content: Content<'_>) -> Result<File> {
        self.make(file, CreateWhat::Both(content))
    }
}

/// Loading values ([`MemoryFs::load`]) of a file in exactly the folders its config
/// names. Each method returns `None` when the content is absent, and checks it against
/// its metadata. (To load a file by id, use [`MemoryFs::file`].)
#[derive(Debug, Clone, Copy)]
pub struct Load<'a> {
    fs: &'a MemoryFs,
}

impl Load<'_> {
    /// The content as JSON.
    ///
    /// # Errors
    /// [`Error::File`]: hash mismatch, decoding, deserialization or storage failures.
    pub fn json(&self, config: &FileConfig) -> Result<Option<Value>> {
        Ok(self.fs.placed(config).load_json()?)
    }

    /// The content deserialized as `T`.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn typed<T: DeserializeOwned>(&self, config: &FileConfig) -> Result<Option<T>> {
        Ok(self.fs.placed(config).load_typed()?)
    }

    /// The content as text.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn text(&self, config: &FileConfig) -> Result<Option<String>> {
        Ok(self.fs.placed(config).load_text()?)
    }

    /// The bytes that were saved.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    pub fn bytes(&self, config: &FileConfig) -> Result<Option<Vec<u8>>> {
        Ok(self.fs.placed(config).load_bytes()?)
    }

    /// Writes the bytes that were saved to `out` as a stream, and returns how many;
    /// see [`File::load_to`] (the bytes are checked once they have passed).
    ///
    /// # Errors
    /// As [`File::load_to`].
    pub fn to_writer(
        &self,
        config: &FileConfig,
        out: &mut dyn std::io::Write,
    ) -> Result<Option<u64>> {
        Ok(self.fs.placed(config).load_to(out)?)
    }

    /// The bytes `offset..offset + len` of what was saved, read as a range where
    /// the store can; see [`File::load_range`].
    ///
    /// # Errors
    /// As [`File::load_range`].
    pub fn range(&self, config: &FileConfig, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.fs.placed(config).load_range(offset, len)?)
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
        Ok(self.fs.placed(config).exists()?)
    }

    /// The metadata in the config's first folder that has some.
    ///
    /// # Errors
    /// A corrupt metadata file; storage errors.
    pub fn metadata(&self, config: &FileConfig) -> Result<Option<FileMetadata>> {
        Ok(self.fs.placed(config).metadata()?)
    }

    /// The user data of that metadata (empty when none).
    ///
    /// # Errors
    /// As [`metadata`](Self::metadata).
    pub fn user_data(&self, config: &FileConfig) -> Result<Map<String, Value>> {
        Ok(self.metadata(config)?.map(|m| m.data).unwrap_or_default())
    }
}

/// Changing metadata in place ([`MemoryFs::edit`]), in one commit per call; the
/// content is untouched.
#[derive(Debug, Clone, Copy)]
pub struct Edit<'a> {
    fs: &'a MemoryFs,
}

impl Edit<'_> {
    fn file(&self, id: &FileId) -> Result<File> {
        self.fs
            .indexed(id)?
            .ok_or_else(|| Error::NotFound { id: id.to_string() })
    }

    /// Replaces the user data of the file's last save; returns the file after.
    ///
    /// # Errors
    /// [`Error::NotFound`]; storage errors.
    pub fn data(&self, config: &FileConfig, data: Map<String, Value>) -> Result<File> {
        Ok(self.file(&config.file_id)?.update_data(data)?)
    }

    /// Adds tags (in order, without duplicates) to the file's last save.
    ///
    /// # Errors
    /// As [`data`](Self::data).
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(
        &self,
        config: &FileConfig,
        tags: I,
    ) -> Result<File> {
        Ok(self.file(&config.file_id)?.add_tags(tags)?)
    }
}

/// Deleting ([`MemoryFs::delete`]).
#[derive(Debug, Clone, Copy)]
pub struct Delete<'a> {
    fs: &'a MemoryFs,
}

impl Delete<'_> {
    /// Deletes the logical file the config names (every folder and version, and its
    /// record) in one commit; a file the index does not know is deleted in the
    /// config's folders. Says which keys were deleted.
    ///
    /// # Errors
    /// Storage errors (the file then reads as before).
    pub fn file(&self, config: &FileConfig) -> Result<DeleteReport> {
        if let Some(file) = self.fs.indexed(&config.file_id)? {
            return Ok(file.delete()?);
        }
        let mut deleted = Vec::new();
        for folder in config.folders() {
            let keys = memory_fs_target::file::FolderKeys::new(
                folder,
                &config.file_id,
                &config.file_type,
            )?;
            for key in keys.all() {
                if self.fs.storage.file_delete(key)? {
                    deleted.push(key.clone());
                }
            }
        }
        deleted.sort();
        Ok(DeleteReport { deleted })
    }

    /// Deletes the logical file `id` (every folder and version) in one commit.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the store has no record of `id`; storage errors.
    pub fn id(&self, id: &str) -> Result<DeleteReport> {
        Ok(self.fs.file(id)?.delete()?)
    }

    /// Deletes every physical key under `prefix` (which must name something: use
    /// [`all`](Self::all) for the whole store) and reindexes, so no record names a
    /// file that is gone; returns how many keys there were.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a bad or empty prefix; storage errors.
    pub fn prefix(&self, prefix: &str) -> Result<usize> {
        let prefix = SafePath::new(prefix)?;
        let keys = self.fs.storage.files_paths(Some(&prefix))?;
        let n = self.fs.storage.files_delete(&keys)?;
        self.fs.reindex()?;
        Ok(n)
    }

    /// Deletes every key in the store.
    ///
    /// # Errors
    /// Storage errors.
    pub fn all(&self) -> Result<()> {
        Ok(self.fs.storage.clear()?)
    }
}

//! `File`: one logical file, found by id through its record — its placements, its
//! versions, reading, editing, deleting, verifying and copying it — and the saves that
//! make one.

use std::sync::Arc;

use memory_fs_storage::{SafePath, Storage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::commit::{self, Body};
use crate::content::{saved_bytes, stored_json};
use crate::history;
use crate::layout::{self, FolderKeys, version_of};
use crate::plan::{self, Create};
use crate::stream;
use crate::{
    Clock, Content, ExistsStrategy, FileConfig, FileError, FileId, FileMetadata, FileRecord,
    FileSpec, Result, SystemClock, content_hash,
};

/// A summary of a logical file, from its record alone.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// The id.
    pub id: FileId,
    /// The config of the last save (type, key, strategy, its folders).
    pub config: FileConfig,
    /// The metadata of the last save (its first folder's).
    pub metadata: Option<FileMetadata>,
    /// Every folder holding the file, version folders last.
    pub folders: Vec<String>,
    /// The versions held, ascending.
    pub versions: Vec<u32>,
    /// Every key of the file, sorted.
    pub keys: Vec<SafePath>,
}

/// What a delete removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteReport {
    /// The keys of the file that were deleted, sorted.
    pub deleted: Vec<SafePath>,
}

/// One problem [`File::verify`] found, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key (or record) concerned.
    pub key: String,
    /// What is wrong, in words.
    pub problem: String,
}

/// A logical file: an id with its placements (folders), versions and history, found
/// through its record in the store.
///
/// A `File` is a snapshot of the record as it was read; reads go to the keys it names,
/// changes go through a commit (and return the file as it is after).
///
/// ```
/// use std::sync::Arc;
/// use memory_fs_file::{Content, File, FileId, FileSpec, FileType, PathHandler};
/// use memory_fs_storage_memory::MemoryStorage;
///
/// let storage = Arc::new(MemoryStorage::new());
/// let spec = FileSpec::new(FileId::new("report")?, FileType::json())
///     .handlers([PathHandler::latest()]);
/// let json = serde_json::json!({"total": 3});
/// File::save(storage.clone(), &spec, Content::Json(&json))?;
/// let file = File::open(storage, &FileId::new("report")?)?.expect("saved");
/// assert_eq!(file.load_json()?, Some(json));
/// assert_eq!(file.metadata().map(|m| m.content_size), Some(16));
/// # Ok::<(), memory_fs_file::FileError>(())
/// ```
#[derive(Debug, Clone)]
pub struct File {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) record: FileRecord,
    /// The version of the record as read, when it had no commit in flight: a change
    /// made through this file is first planned on it (one read fewer).
    version: Option<memory_fs_storage::Version>,
    /// The retention policy saves and prunes made through this file apply when the
    /// file has none of its own.
    pub(crate) default_retention: Option<crate::Retention>,
}

impl File {
    /// The file `id`, from its record, or `None` when the store has no record of it.
    /// Reads one key. A commit in flight is not waited for: one more read (the head's
    /// content) tells whether the file is seen as it was before or as it is after.
    ///
    /// # Errors
    /// [`FileError::CorruptRecord`]; storage errors.
    pub fn open(storage: Arc<dyn Storage>, id: &FileId) -> Result<Option<Self>> {
        let read = commit::read_record(&*storage, id)?;
        let Some(record) = read.record else {
            return Ok(None);
        };
        Self::seen(storage, record, read.version)
    }

    /// The file `id` from its record's bytes as read elsewhere (a listing's snapshot),
    /// at `version`, the version of the record those bytes were read at; as
    /// [`open`](Self::open) from there (a commit in flight costs one more read).
    ///
    /// # Errors
    /// [`FileError::CorruptRecord`]; storage errors.
    pub fn from_record(
        storage: Arc<dyn Storage>,
        id: &FileId,
        bytes: &[u8],
        version: memory_fs_storage::Version,
    ) -> Result<Option<Self>> {
        let key = layout::record_key(id)?;
        let record = FileRecord::from_bytes(key.as_str(), bytes)?;
        Self::seen(storage, record, Some(version))
    }

    /// The file as a reader sees `record`, read at `version`.
    fn seen(
        storage: Arc<dyn Storage>,
        record: FileRecord,
        version: Option<memory_fs_storage::Version>,
    ) -> Result<Option<Self>> {
        let version = version.filter(|_| record.pending.is_none());
        let Some(record) = visible(&*storage, record)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            storage,
            clock: Arc::new(SystemClock),
            record,
            version,
            default_retention: None,
        }))
    }

    /// The version of the record this file was read from, when it had no commit in
    /// flight (`None` otherwise, and after a change made through this value).
    pub fn record_version(&self) -> Option<&memory_fs_storage::Version> {
        self.version.as_ref()
    }

    /// Saves `content` as the file `spec` describes (creating it or adding a new save),
    /// in one commit, and returns the file after.
    ///
    /// # Errors
    /// Serialization, encoding and storage errors; [`FileError::Contended`] when other
    /// writers kept changing the file. On any error the file reads as before.
    pub fn save(storage: Arc<dyn Storage>, spec: &FileSpec, content: Content<'_>) -> Result<Self> {
        Self::save_with_clock(storage, Arc::new(SystemClock), spec, content)
    }

    /// [`save`](Self::save) with `clock` for metadata timestamps and temporal folders.
    ///
    /// # Errors
    /// As [`save`](Self::save).
    pub fn save_with_clock(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        spec: &FileSpec,
        content: Content<'_>,
    ) -> Result<Self> {
        let stored = content.stored(spec.id(), spec.file_type())?;
        let record = plan::commit_one(&*storage, &*clock, spec.id(), |before, attempt| {
            plan::save(
                &*storage,
                &*clock,
                before,
                spec,
                Body::Bytes(&stored),
                attempt,
                None,
            )
        })?;
        Self::after(storage, clock, spec.id(), record)
    }

    /// Saves the content `reader` yields as the file `spec` describes, streamed: the
    /// value is never held in memory whole. For a `binary` type the reader yields the
    /// bytes stored; for a `base64` type the bytes saved, stored as base64 text on the
    /// way. Text and JSON types are saved from a value ([`save`](Self::save)): their
    /// content is parsed or encoded first.
    ///
    /// The bytes go once to a staging key as they arrive (hashed as they pass), then
    /// one commit places them: a reader that fails part-way, an error or a crash at
    /// any point leave the file as it was before.
    ///
    /// # Errors
    /// [`FileError::Serialization`] for a text or JSON type (nothing is read);
    /// [`FileError::Storage`] of kind [`ErrorKind::Input`] when `reader` fails;
    /// otherwise as [`save`](Self::save).
    ///
    /// [`ErrorKind::Input`]: memory_fs_storage::ErrorKind::Input
    pub fn save_from(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        spec: &FileSpec,
        reader: &mut dyn std::io::Read,
    ) -> Result<Self> {
        let base64 = stream::streamable(spec)?;
        let read = commit::settled_record(&*storage, &*clock, spec.id())?;
        let seeds = stream::seeds(read.record.as_ref());
        let staged = stream::stage_as(&*storage, &*clock, reader, base64, &seeds)?;
        let committed = plan::commit_one_from(
            &*storage,
            &*clock,
            spec.id(),
            Some(read),
            |before, attempt| {
                plan::save(
                    &*storage,
                    &*clock,
                    before,
                    spec,
                    Body::Staged(&staged),
                    attempt,
                    None,
                )
            },
        );
        match committed {
            Ok(record) => Self::after(storage, clock, spec.id(), record),
            Err(e) => {
                stream::discard(&*storage, spec.id(), &staged);
                Err(e)
            }
        }
    }

    /// Creates the file `spec` describes only if the store has no file of that id:
    /// its config only, its content (and metadata) only, or both — the seed's
    /// `create`, `create__content` and `create__both`.
    ///
    /// # Errors
    /// [`FileError::AlreadyExists`] when the id is taken (nothing is written); as
    /// [`save`](Self::save).
    pub fn create(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        spec: &FileSpec,
        what: Create<'_>,
    ) -> Result<Self> {
        let stored = match what {
            Create::Config => None,
            Create::Content(c) | Create::Both(c) => Some(c.stored(spec.id(), spec.file_type())?),
        };
        let mode = what.mode();
        let record = plan::commit_one(&*storage, &*clock, spec.id(), |before, attempt| {
            if before.is_some() {
                return Err(FileError::AlreadyExists {
                    id: spec.id().to_string(),
                });
            }
            plan::save(
                &*storage,
                &*clock,
                None,
                spec,
                Body::Bytes(stored.as_deref().unwrap_or_default()),
                attempt,
                Some(mode),
            )
        })?;
        Self::after(storage, clock, spec.id(), record)
    }

    /// Writes `record` as the record of a file already stored (what a reindex of a
    /// store another program wrote does), unless the store's record says the same.
    /// Returns the file.
    ///
    /// # Errors
    /// Storage errors.
    pub fn index(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        record: &FileRecord,
    ) -> Result<Self> {
        let id = record.id().clone();
        let after = plan::commit_one(&*storage, &*clock, &id, |before, _| {
            if before.is_some_and(|b| b.same_content(record)) {
                return Ok(None);
            }
            Ok(Some(plan::index(before, record)))
        })?;
        Self::after(storage, clock, &id, after)
    }

    /// Finishes or undoes a commit of file `id` that was left in flight (its writer
    /// died or gave up), waiting for one whose writer may still be at work. Says
    /// whether there was one. Every write does this first; this is for a store that is
    /// only read, or checked.
    ///
    /// # Errors
    /// [`FileError::Busy`] when a live writer does not finish within the lease; storage
    /// errors.
    pub fn settle(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>, id: &FileId) -> Result<bool> {
        commit::settle(&*storage, &*clock, id)
    }

    /// Removes the record of a file whose keys are all gone (no key is touched).
    ///
    /// # Errors
    /// Storage errors.
    pub fn unindex(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>, id: &FileId) -> Result<()> {
        plan::commit_one(&*storage, &*clock, id, |before, _| {
            Ok(before.map(plan::unindex))
        })?;
        Ok(())
    }

    fn after(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        id: &FileId,
        record: Option<FileRecord>,
    ) -> Result<Self> {
        let record = record.ok_or_else(|| FileError::NotFound { id: id.to_string() })?;
        Ok(Self {
            storage,
            clock,
            record,
            version: None,
            default_retention: None,
        })
    }

    /// The record as read, for a change made through this file.
    pub(crate) fn known(&self) -> Option<commit::Read> {
        self.version.as_ref().map(|v| commit::Read {
            record: Some(self.record.clone()),
            version: Some(v.clone()),
        })
    }

    /// The same file with `clock` for the changes made through it.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The id.
    pub fn id(&self) -> &FileId {
        self.record.id()
    }

    /// The config of the last save.
    pub fn config(&self) -> &FileConfig {
        &self.record.head.config
    }

    /// The record this file was read from.
    pub fn record(&self) -> &FileRecord {
        &self.record
    }

    /// The storage it lives on.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The metadata of the last save (its first folder's).
    pub fn metadata(&self) -> Option<&FileMetadata> {
        self.record.head.first_metadata()
    }

    /// A summary, from the record alone (no storage request).
    pub fn info(&self) -> FileInfo {
        FileInfo {
            id: self.id().clone(),
            config: self.config().clone(),
            metadata: self.metadata().cloned(),
            folders: self.record.all_folders(),
            versions: self.versions(),
            keys: self.record.keys().unwrap_or_default(),
        }
    }

    /// The file's copy in `folder` (one of [`FileInfo::folders`], surrounding slashes
    /// ignored), read through that folder's own metadata; `None` when the file has no
    /// copy there.
    pub fn in_folder(&self, folder: &str) -> Option<Placed> {
        let folder = folder.trim_matches('/');
        self.record
            .all_folders()
            .iter()
            .any(|f| f == folder)
            .then(|| {
                let config = FileConfig {
                    file_paths: vec![folder.to_owned()],
                    ..self.config().clone()
                };
                Placed::new(self.storage.clone(), config)
            })
    }

    /// The versions held, ascending (empty without a versioned folder).
    pub fn versions(&self) -> Vec<u32> {
        self.record
            .versions
            .as_ref()
            .map(|v| v.numbers.clone())
            .unwrap_or_default()
    }

    // ----- reading ---------------------------------------------------------------------

    fn head(&self) -> Reader<'_> {
        Reader {
            storage: &*self.storage,
            config: &self.record.head.config,
            expected: Some(&self.record.head.metadata),
            staged: self.record.pending.as_ref(),
        }
    }

    /// Runs a read of the head; when the content disagrees with this snapshot of the
    /// record because another writer committed meanwhile, reads again with the record
    /// as it is now (a few times), so a reader racing a writer sees one of the two.
    fn read<T>(&self, read: impl Fn(&Reader<'_>) -> Result<T>) -> Result<T> {
        let first = read(&self.head());
        let mut err = match first {
            Err(e @ (FileError::HashMismatch { .. } | FileError::StaleMetadata { .. })) => e,
            other => return other,
        };
        let mut seen = self.record.clone();
        for _ in 0..3 {
            let Some(now) = Self::open(self.storage.clone(), self.id())? else {
                return Err(err);
            };
            if now.record == seen {
                return Err(err);
            }
            match read(&now.head()) {
                Err(e @ (FileError::HashMismatch { .. } | FileError::StaleMetadata { .. })) => {
                    err = e;
                    seen = now.record;
                }
                other => return other,
            }
        }
        Err(err)
    }

    /// Whether the content exists, as the exists strategy decides.
    ///
    /// # Errors
    /// Storage errors.
    pub fn exists(&self) -> Result<bool> {
        self.head().exists()
    }

    /// The stored content bytes, checked against the metadata of their folder.
    ///
    /// # Errors
    /// [`FileError::StaleMetadata`] when the content was rewritten without its
    /// metadata, [`FileError::HashMismatch`] when it disagrees with it otherwise;
    /// storage errors.
    pub fn bytes(&self) -> Result<Option<Vec<u8>>> {
        self.read(|r| r.bytes())
    }

    /// The content as the bytes that were saved (base64 decoded for `base64` types).
    ///
    /// # Errors
    /// As [`bytes`](Self::bytes), and [`FileError::Serialization`] for bad base64.
    pub fn load_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.read(|r| r.load_bytes())
    }

    /// Writes the content, as the bytes that were saved (base64 decoded for `base64`
    /// types), to `out` as a stream, never holding it in memory whole; returns how
    /// many bytes were written, or `None` when the file has no content.
    ///
    /// The content is checked against its metadata once it has passed: on an error
    /// the bytes already written are not to be trusted (write to a temporary file and
    /// keep it only on success, as `memory-fs load -o` does). A save landing while the
    /// content streams does not mix into it: the value read is one save's.
    ///
    /// # Errors
    /// As [`bytes`](Self::bytes); [`FileError::Output`] when `out` fails.
    pub fn load_to(&self, out: &mut dyn std::io::Write) -> Result<Option<u64>> {
        self.head().stream_to(out)
    }

    /// The bytes `offset..offset + len` of the content as saved (fewer at its end),
    /// read from the store as a range where it can (a ranged GET, a blob read, a
    /// seek), or `None` when the file has no content.
    ///
    /// A range is not checked against the content hash (that needs every byte); its
    /// bounds are those of the recorded size.
    ///
    /// # Errors
    /// Storage errors; [`FileError::Serialization`] for bad base64.
    pub fn load_range(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        self.head().range(offset, len)
    }

    /// The content as JSON.
    ///
    /// # Errors
    /// As [`bytes`](Self::bytes), and [`FileError::Serialization`] if it is not JSON.
    pub fn load_json(&self) -> Result<Option<Value>> {
        self.read(|r| r.load_json())
    }

    /// The content as a typed value.
    ///
    /// # Errors
    /// As [`load_json`](Self::load_json), and [`FileError::Serialization`] if the JSON
    /// does not fit `T`.
    pub fn load_typed<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.read(|r| r.load_typed())
    }

    /// The content as text, decoded with the type's encoding.
    ///
    /// # Errors
    /// As [`bytes`](Self::bytes), and [`FileError::Encoding`].
    pub fn load_text(&self) -> Result<Option<String>> {
        self.read(|r| r.load_text())
    }

    /// Version `n`, if the file holds it.
    ///
    /// # Errors
    /// A corrupt metadata file of that version; storage errors.
    pub fn version(&self, n: u32) -> Result<Option<FileVersion>> {
        let Some(versions) = &self.record.versions else {
            return Ok(None);
        };
        if versions.numbers.binary_search(&n).is_err() {
            return Ok(None);
        }
        let folder = versions.folder(n);
        let config = FileConfig {
            file_paths: vec![folder.clone()],
            ..self.config().clone()
        };
        let metadata = match self.record.head.metadata_of(&folder) {
            Some(m) => Some(m.clone()),
            None => plan::read_metadata(&*self.storage, &folder, self.id(), &config.file_type)?,
        };
        Ok(Some(FileVersion {
            storage: self.storage.clone(),
            number: n,
            config,
            metadata: vec![metadata],
        }))
    }

    // ----- changing --------------------------------------------------------------------

    /// Saves `content` again in the same placement (a versioned file takes its next
    /// version), and returns the file after.
    ///
    /// # Errors
    /// As [`File::save`].
    pub fn resave(&self, content: Content<'_>) -> Result<Self> {
        let spec = plan::same_placement(&self.record);
        let stored = content.stored(spec.id(), spec.file_type())?;
        self.save_in_place(&spec, &stored)
    }

    /// Commits `stored` (bytes as stored) as a new save of `spec`, the placement of
    /// this file, planned first on the record this file was read from: one read fewer
    /// when nobody changed the file since.
    fn save_in_place(&self, spec: &FileSpec, stored: &[u8]) -> Result<Self> {
        let (storage, clock) = (&*self.storage, &*self.clock);
        let spec = &match self.default_retention {
            Some(policy) => spec.clone().with_default_retention(policy),
            None => spec.clone(),
        };
        let record = plan::commit_one_from(
            storage,
            clock,
            spec.id(),
            self.known(),
            |before, attempt| {
                plan::save(
                    storage,
                    clock,
                    before,
                    spec,
                    Body::Bytes(stored),
                    attempt,
                    None,
                )
            },
        )?;
        Self::after(self.storage.clone(), self.clock.clone(), spec.id(), record)
            .map(|f| f.with_default_retention(self.default_retention))
    }

    /// Saves version `n` again as a new version (history is never rewritten): its
    /// stored bytes, checked against its metadata, go through the same commit as a
    /// [`resave`](Self::resave), tags and user data carried from the last save.
    /// Returns the file after.
    ///
    /// # Errors
    /// [`FileError::NoVersion`] when the file holds no version `n`; a version whose
    /// content disagrees with its metadata is not restored
    /// ([`FileError::HashMismatch`], [`FileError::StaleMetadata`]); as
    /// [`File::save`].
    pub fn restore(&self, n: u32) -> Result<Self> {
        let no_version = || FileError::NoVersion {
            id: self.id().to_string(),
            version: n,
            held: history::ranges(&self.versions()),
        };
        let version = self.version(n)?.ok_or_else(no_version)?;
        let stored = version.bytes()?.ok_or_else(no_version)?;
        self.save_in_place(&plan::same_placement(&self.record), &stored)
    }

    /// Replaces the user data in the metadata of the last save's folders.
    ///
    /// # Errors
    /// [`FileError::NotFound`] when the file was deleted meanwhile; storage errors.
    pub fn update_data(&self, data: Map<String, Value>) -> Result<Self> {
        self.edit(|m| m.data = data.clone())
    }

    /// Adds tags (kept in order, without duplicates) to the metadata of the last save's
    /// folders.
    ///
    /// # Errors
    /// As [`update_data`](Self::update_data).
    pub fn add_tags<I: IntoIterator<Item = S>, S: Into<String>>(&self, tags: I) -> Result<Self> {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.edit(|m| {
            for t in &tags {
                if !m.tags.contains(t) {
                    m.tags.push(t.clone());
                }
            }
        })
    }

    /// Removes tags from the metadata of the last save's folders.
    ///
    /// # Errors
    /// As [`update_data`](Self::update_data).
    pub fn remove_tags<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, tags: I) -> Result<Self> {
        let tags: Vec<String> = tags.into_iter().map(|t| t.as_ref().to_owned()).collect();
        self.edit(|m| m.tags.retain(|t| !tags.contains(t)))
    }

    fn edit(&self, edit: impl Fn(&mut FileMetadata)) -> Result<Self> {
        let id = self.id().clone();
        let record = plan::commit_one_from(
            &*self.storage,
            &*self.clock,
            &id,
            self.known(),
            |before, _| {
                let before = before.ok_or_else(|| FileError::NotFound { id: id.to_string() })?;
                Ok(Some(plan::edit(before, &edit)?))
            },
        )?;
        Self::after(self.storage.clone(), self.clock.clone(), &id, record)
    }

    /// Deletes the file: every key in every folder and version, and its record, in one
    /// commit.
    ///
    /// # Errors
    /// Storage errors (the file then reads as before).
    pub fn delete(&self) -> Result<DeleteReport> {
        let id = self.id().clone();
        let mut deleted = Vec::new();
        plan::commit_one_from(
            &*self.storage,
            &*self.clock,
            &id,
            self.known(),
            |before, _| {
                let Some(before) = before else {
                    deleted.clear();
                    return Ok(None);
                };
                let change = plan::delete(before)?;
                deleted = before.keys()?;
                Ok(Some(change))
            },
        )?;
        Ok(DeleteReport { deleted })
    }

    /// Copies the whole file (every folder and version, its record) to `destination`
    /// in one commit there: an interrupted copy leaves the destination's file as it
    /// was or as the source's, never a mix. Returns the bytes copied.
    ///
    /// # Errors
    /// Storage errors of either side; a content that disagrees with its metadata is
    /// not copied ([`FileError::HashMismatch`]).
    pub fn copy_to(&self, destination: &Arc<dyn Storage>) -> Result<u64> {
        let values = plan::read_all(&*self.storage, &self.record)?;
        let bytes = values.iter().map(|(_, v)| v.len() as u64).sum();
        let id = self.id().clone();
        plan::commit_one(&**destination, &*self.clock, &id, |before, _| {
            Ok(Some(plan::copy(before, &self.record, &values)?))
        })?;
        Ok(bytes)
    }

    // ----- checking --------------------------------------------------------------------

    /// Re-reads every folder and version of the file and checks it: the config is
    /// there and names the file, the metadata is there and parses, the content is
    /// there and matches its metadata. An empty list means the file is sound.
    ///
    /// # Errors
    /// Storage errors (problems with the file itself are reported, not raised).
    pub fn verify(&self) -> Result<Vec<Problem>> {
        plan::verify(&*self.storage, &self.record)
    }

    /// What changed from version `a` to version `b` (`None`: the last save): a
    /// unified diff for text types, sizes and hashes for binary ones. Each side is
    /// read and checked against its metadata.
    ///
    /// # Errors
    /// [`FileError::NoVersion`] for a version the file does not hold; as
    /// [`bytes`](Self::bytes); [`FileError::Encoding`] for text its encoding cannot
    /// decode.
    pub fn diff(&self, a: u32, b: Option<u32>) -> Result<crate::Diff> {
        let side = |n: Option<u32>| -> Result<(crate::DiffSide, Vec<u8>)> {
            let no_version = |n: u32| FileError::NoVersion {
                id: self.id().to_string(),
                version: n,
                held: history::ranges(&self.versions()),
            };
            let (bytes, config, meta) = match n {
                Some(n) => {
                    let v = self.version(n)?.ok_or_else(|| no_version(n))?;
                    let bytes = v.bytes()?.ok_or_else(|| no_version(n))?;
                    (bytes, v.config().clone(), v.metadata().cloned())
                }
                None => {
                    let bytes = self.bytes()?.ok_or_else(|| FileError::NotFound {
                        id: self.id().to_string(),
                    })?;
                    (bytes, self.config().clone(), self.metadata().cloned())
                }
            };
            let key = config
                .folders()
                .first()
                .map(|f| FolderKeys::new(f, self.id(), &config.file_type))
                .transpose()?
                .map(|k| k.content.to_string())
                .unwrap_or_default();
            let side = crate::DiffSide {
                version: n.or_else(|| config.folders().first().and_then(|f| version_of(f))),
                key,
                size: bytes.len() as u64,
                hash: meta.map_or_else(|| content_hash(&bytes), |m| m.content_hash),
            };
            Ok((side, bytes))
        };
        let (from, a) = side(Some(a))?;
        let (to, b) = side(b)?;
        history::diff(&self.config().file_type, from, &a, to, &b)
    }

    /// Walks the file's versions oldest first and checks their chain: each version's
    /// content and metadata are there and agree, its `previous_version_path` names the
    /// version before it, and its SHA-256 chain hash continues that version's. Reports
    /// a missing, reordered or altered version by version; empty for a sound chain (and
    /// for a file without versions). After a prune the first version kept is checked
    /// against the [`ChainAnchor`](crate::ChainAnchor) the record keeps: the version it
    /// follows must be the newest one pruned, and its chain hash must continue the
    /// anchor's. Reads two keys a version.
    ///
    /// # Errors
    /// Storage errors (faults of the chain are reported, not raised).
    pub fn verify_chain(&self) -> Result<Vec<crate::ChainProblem>> {
        history::verify_chain(&*self.storage, &self.record)
    }

    /// Re-hashes the file's contents and rewrites metadata that does not describe
    /// them (what a writer that rewrites content without its metadata — the Python
    /// package's `update()` — leaves), in one commit. Returns the metadata keys
    /// rewritten. Only for content known to be right: repair makes it authoritative.
    ///
    /// # Errors
    /// Storage errors.
    pub fn repair(&self) -> Result<Vec<SafePath>> {
        let id = self.id().clone();
        let mut rewritten = Vec::new();
        plan::commit_one(&*self.storage, &*self.clock, &id, |before, _| {
            let Some(before) = before else {
                return Ok(None);
            };
            let (change, keys) = plan::repair(&*self.storage, before)?;
            rewritten = keys;
            Ok(change)
        })?;
        Ok(rewritten)
    }
}

/// One stored version of a file (`<base>v<n>`), read-only.
#[derive(Debug, Clone)]
pub struct FileVersion {
    storage: Arc<dyn Storage>,
    number: u32,
    config: FileConfig,
    metadata: Vec<Option<FileMetadata>>,
}

impl FileVersion {
    /// The version number.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Its config (one folder: the version's).
    pub fn config(&self) -> &FileConfig {
        &self.config
    }

    /// Its metadata.
    pub fn metadata(&self) -> Option<&FileMetadata> {
        self.metadata.first().and_then(Option::as_ref)
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            storage: &*self.storage,
            config: &self.config,
            expected: Some(&self.metadata),
            staged: None,
        }
    }

    /// The stored bytes, checked against the version's metadata.
    ///
    /// # Errors
    /// As [`File::bytes`].
    pub fn bytes(&self) -> Result<Option<Vec<u8>>> {
        self.reader().bytes()
    }

    /// The bytes that were saved.
    ///
    /// # Errors
    /// As [`File::load_bytes`].
    pub fn load_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.reader().load_bytes()
    }

    /// Writes this version's content as saved to `out` as a stream; see
    /// [`File::load_to`].
    ///
    /// # Errors
    /// As [`File::load_to`].
    pub fn load_to(&self, out: &mut dyn std::io::Write) -> Result<Option<u64>> {
        self.reader().stream_to(out)
    }

    /// The content as JSON.
    ///
    /// # Errors
    /// As [`File::load_json`].
    pub fn load_json(&self) -> Result<Option<Value>> {
        self.reader().load_json()
    }

    /// The content as text.
    ///
    /// # Errors
    /// As [`File::load_text`].
    pub fn load_text(&self) -> Result<Option<String>> {
        self.reader().load_text()
    }
}

/// The content of one placement, read from its folders and checked.
///
/// A file's config may also be read directly, without its record (a store another
/// program wrote, or a placement the caller names): then each folder's metadata key is
/// read beside its content.
#[derive(Debug, Clone)]
pub struct Placed {
    storage: Arc<dyn Storage>,
    config: FileConfig,
}

impl Placed {
    /// The file `config` describes, in exactly its folders.
    pub fn new(storage: Arc<dyn Storage>, config: FileConfig) -> Self {
        Self { storage, config }
    }

    /// The config.
    pub fn config(&self) -> &FileConfig {
        &self.config
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            storage: &*self.storage,
            config: &self.config,
            expected: None,
            staged: None,
        }
    }

    /// Whether the content exists, as the exists strategy decides.
    ///
    /// # Errors
    /// Storage errors.
    pub fn exists(&self) -> Result<bool> {
        self.reader().exists()
    }

    /// The metadata of the first folder that has it.
    ///
    /// # Errors
    /// [`FileError::CorruptMetadata`]; storage errors.
    pub fn metadata(&self) -> Result<Option<FileMetadata>> {
        for folder in self.config.folders() {
            if let Some(m) = plan::read_metadata(
                &*self.storage,
                folder,
                &self.config.file_id,
                &self.config.file_type,
            )? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// The stored bytes, checked against their folder's metadata.
    ///
    /// # Errors
    /// As [`File::bytes`].
    pub fn bytes(&self) -> Result<Option<Vec<u8>>> {
        self.reader().bytes()
    }

    /// The stored bytes without any check.
    ///
    /// # Errors
    /// Storage errors.
    pub fn bytes_unverified(&self) -> Result<Option<Vec<u8>>> {
        self.reader()
            .first_content()
            .map(|c| c.map(|(_, bytes)| bytes))
    }

    /// The bytes that were saved.
    ///
    /// # Errors
    /// As [`File::load_bytes`].
    pub fn load_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.reader().load_bytes()
    }

    /// Writes the content as saved to `out` as a stream; see [`File::load_to`].
    ///
    /// # Errors
    /// As [`File::load_to`].
    pub fn load_to(&self, out: &mut dyn std::io::Write) -> Result<Option<u64>> {
        self.reader().stream_to(out)
    }

    /// A range of the content as saved; see [`File::load_range`].
    ///
    /// # Errors
    /// As [`File::load_range`].
    pub fn load_range(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        self.reader().range(offset, len)
    }

    /// The content as JSON.
    ///
    /// # Errors
    /// As [`File::load_json`].
    pub fn load_json(&self) -> Result<Option<Value>> {
        self.reader().load_json()
    }

    /// The content as a typed value.
    ///
    /// # Errors
    /// As [`File::load_typed`].
    pub fn load_typed<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.reader().load_typed()
    }

    /// The content as text.
    ///
    /// # Errors
    /// As [`File::load_text`].
    pub fn load_text(&self) -> Result<Option<String>> {
        self.reader().load_text()
    }
}

/// The state of a file a reader sees when its record carries a commit in flight — the
/// state recovery would settle on: the record after if the head's content already
/// holds the new bytes (contents are written in folder order, so the first one tells),
/// else the record before (`None` for a file being created). A removal in flight shows
/// the file until its content is gone. A file of a transaction follows its journal.
fn visible(storage: &dyn Storage, record: FileRecord) -> Result<Option<FileRecord>> {
    let Some(pending) = &record.pending else {
        return Ok(Some(record));
    };
    // A file of a transaction is as its transaction is: committed exactly when the
    // journal exists, whichever of its files' keys have been written yet.
    if let Some(journal) = &pending.transaction {
        let committed = storage.file_exists(journal)?;
        return Ok(match (committed, pending.removes) {
            (true, true) => None,
            (true, false) => Some(record),
            (false, _) => pending.previous.as_deref().cloned(),
        });
    }
    let reader = Reader {
        storage,
        config: &record.head.config,
        expected: Some(&record.head.metadata),
        staged: None,
    };
    let landed = match reader.first_content()? {
        None => false,
        Some((i, bytes)) => match record.head.metadata.get(i).and_then(Option::as_ref) {
            Some(meta) => matches(meta, &bytes),
            // A content-only type has nothing to tell the two apart: its content is there.
            None => true,
        },
    };
    if pending.removes {
        return Ok(landed.then_some(record));
    }
    if landed {
        return Ok(Some(record));
    }
    Ok(pending.previous.as_deref().cloned())
}

/// Reads one placement's content and checks it against what is known of it.
struct Reader<'a> {
    storage: &'a dyn Storage,
    config: &'a FileConfig,
    /// The metadata each folder should have (from the record), or `None` to read the
    /// metadata keys.
    expected: Option<&'a [Option<FileMetadata>]>,
    /// A commit in flight whose transaction may have staged the new contents: a
    /// committed transaction's content is read from its staged copy until it is copied
    /// into place.
    staged: Option<&'a crate::Pending>,
}

fn matches(meta: &FileMetadata, bytes: &[u8]) -> bool {
    meta.content_size == bytes.len() as u64 && meta.content_hash == content_hash(bytes)
}

/// Whether `meta` describes a content of `size` bytes with MD5 `hash`.
fn describes(meta: &FileMetadata, size: u64, hash: &str) -> bool {
    meta.content_size == size && meta.content_hash == hash
}

impl Reader<'_> {
    fn keys(&self, folder: &str) -> Result<FolderKeys> {
        FolderKeys::new(folder, &self.config.file_id, &self.config.file_type)
    }

    fn exists(&self) -> Result<bool> {
        let folders = self.config.folders();
        Ok(match self.config.exists_strategy {
            ExistsStrategy::First => match folders.first() {
                Some(f) => self.storage.file_exists(&self.keys(f)?.content)?,
                None => false,
            },
            ExistsStrategy::Any => {
                for f in &folders {
                    if self.storage.file_exists(&self.keys(f)?.content)? {
                        return Ok(true);
                    }
                }
                false
            }
            ExistsStrategy::All => {
                for f in &folders {
                    if !self.storage.file_exists(&self.keys(f)?.content)? {
                        return Ok(false);
                    }
                }
                !folders.is_empty()
            }
        })
    }

    /// The first folder's content that exists: its index and bytes.
    fn first_content(&self) -> Result<Option<(usize, Vec<u8>)>> {
        for (i, folder) in self.config.folders().into_iter().enumerate() {
            if let Some(bytes) = self.storage.file_bytes(&self.keys(folder)?.content)? {
                return Ok(Some((i, bytes)));
            }
        }
        Ok(None)
    }

    fn bytes(&self) -> Result<Option<Vec<u8>>> {
        let Some((i, bytes)) = self.first_content()? else {
            return self.staged_content(None);
        };
        match self.check(i, &bytes) {
            Ok(()) => Ok(Some(bytes)),
            Err(e) => match self.staged_content(Some(i))? {
                Some(staged) => Ok(Some(staged)),
                None => Err(e),
            },
        }
    }

    /// The staged copy of folder `i`'s content (the first folder with one for `None`),
    /// when a committed transaction has not copied it into place yet and it holds what
    /// the record expects.
    fn staged_content(&self, i: Option<usize>) -> Result<Option<Vec<u8>>> {
        let Some(pending) = self.staged.filter(|p| p.transaction.is_some()) else {
            return Ok(None);
        };
        for (n, folder) in self.config.folders().into_iter().enumerate() {
            if i.is_some_and(|i| i != n) {
                continue;
            }
            let key = self.keys(folder)?.content;
            let staged = pending.writes.iter().find_map(|w| match w {
                crate::IntentWrite::Content {
                    key: k,
                    staged: Some(s),
                    ..
                } if *k == key => Some(s),
                _ => None,
            });
            let Some(staged) = staged else { continue };
            let Some(bytes) = self.storage.file_bytes(staged)? else {
                continue;
            };
            let expected = self
                .expected
                .and_then(|e| e.get(n))
                .and_then(Option::as_ref);
            if expected.is_none_or(|m| matches(m, &bytes)) {
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }

    /// Checks folder `i`'s content against its metadata.
    fn check(&self, i: usize, bytes: &[u8]) -> Result<()> {
        if self.config.file_type.content_only() {
            return Ok(());
        }
        self.check_hash(i, bytes.len() as u64, &content_hash(bytes))
    }

    /// Checks that folder `i`'s metadata describes a content of `size` bytes with MD5
    /// `hash` (what a streamed read computed as the bytes passed).
    fn check_hash(&self, i: usize, size: u64, hash: &str) -> Result<()> {
        if self.config.file_type.content_only() {
            return Ok(());
        }
        let folder = self.config.folders()[i];
        let keys = self.keys(folder)?;
        let expected = self
            .expected
            .and_then(|e| e.get(i))
            .and_then(Option::as_ref);
        if let Some(meta) = expected
            && describes(meta, size, hash)
        {
            return Ok(());
        }
        let stored = plan::read_metadata(
            self.storage,
            folder,
            &self.config.file_id,
            &self.config.file_type,
        )?;
        // Content and metadata saved together by another writer (the record is then
        // behind them) is good content — unless the record carries a commit in flight,
        // whose new state is what is being read: then old content beside its old
        // metadata is the commit not applied yet, not good content.
        if self.staged.is_none() && stored.as_ref().is_some_and(|m| describes(m, size, hash)) {
            return Ok(());
        }
        if self.expected.is_none() {
            // Read without the record: a commit in flight on a store without atomic
            // batches may have written the metadata first; its record knows both sides.
            if let Some(record) = commit::read_record(self.storage, &self.config.file_id)?.record {
                let before = record
                    .pending
                    .as_ref()
                    .and_then(|p| p.previous.as_deref())
                    .and_then(|r| r.head.metadata_of(folder));
                if [record.head.metadata_of(folder), before]
                    .into_iter()
                    .flatten()
                    .any(|m| describes(m, size, hash))
                {
                    return Ok(());
                }
            }
        }
        match (&stored, expected) {
            // No metadata anywhere: nothing to check against (as the Python package).
            (None, None) => Ok(()),
            // The metadata still describes an earlier content: rewritten without it.
            (Some(m), Some(e)) if m.content_hash == e.content_hash => {
                Err(self.stale(&keys.content, m, hash))
            }
            (Some(m), None) => Err(self.stale(&keys.content, m, hash)),
            (None, Some(e)) => Err(FileError::HashMismatch {
                path: keys.content.to_string(),
                expected: e.content_hash.clone(),
                actual: hash.to_owned(),
            }),
            (Some(m), Some(_)) => Err(FileError::HashMismatch {
                path: keys.content.to_string(),
                expected: m.content_hash.clone(),
                actual: hash.to_owned(),
            }),
        }
    }

    fn stale(&self, path: &SafePath, meta: &FileMetadata, hash: &str) -> FileError {
        FileError::StaleMetadata {
            id: self.config.file_id.to_string(),
            path: path.to_string(),
            expected: meta.content_hash.clone(),
            actual: hash.to_owned(),
        }
    }

    /// The bytes `offset..offset + len` of the first folder's content that exists, as
    /// saved (a base64 type's groups covering the range are read and decoded).
    fn range(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        use base64::Engine as _;
        let base64 = self.config.file_type.serialization == crate::Serialization::Base64;
        for folder in self.config.folders() {
            let key = self.keys(folder)?.content;
            if !base64 {
                if let Some(bytes) = self.storage.file_range(&key, offset, len)? {
                    return Ok(Some(bytes));
                }
                continue;
            }
            let (first, end) = (offset / 3, offset.saturating_add(len).div_ceil(3));
            let Some(text) =
                self.storage
                    .file_range(&key, first * 4, (end - first).saturating_mul(4))?
            else {
                continue;
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&text)
                .map_err(|e| FileError::Serialization {
                    action: "deserialize",
                    path: key.to_string(),
                    detail: e.to_string(),
                })?;
            let skip = usize::try_from(offset - first * 3).unwrap_or(usize::MAX);
            let take = usize::try_from(len).unwrap_or(usize::MAX);
            return Ok(Some(decoded.into_iter().skip(skip).take(take).collect()));
        }
        Ok(None)
    }

    /// Writes the first folder's content that exists to `out` as a stream (decoded
    /// from base64 for base64 types), checking it against its metadata once it has
    /// passed; returns how many bytes were written, or `None` for no content.
    fn stream_to(&self, out: &mut dyn std::io::Write) -> Result<Option<u64>> {
        let base64 = self.config.file_type.serialization == crate::Serialization::Base64;
        for (i, folder) in self.config.folders().into_iter().enumerate() {
            let key = self.keys(folder)?.content;
            let mut counted = stream::Counted::new(out, base64);
            let Some((size, hash)) = stream::copy_out(self.storage, &key, &mut counted)? else {
                continue;
            };
            let written = counted.finish(&key)?;
            self.check_hash(i, size, &hash)?;
            return Ok(Some(written));
        }
        Ok(None)
    }

    fn first_path(&self) -> String {
        self.config
            .folders()
            .first()
            .and_then(|f| self.keys(f).ok())
            .map(|k| k.content.to_string())
            .unwrap_or_default()
    }

    fn load_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.bytes()?
            .map(|b| saved_bytes(&self.config.file_type, &self.first_path(), b))
            .transpose()
    }

    fn load_json(&self) -> Result<Option<Value>> {
        self.bytes()?
            .map(|b| stored_json(&self.config.file_type, &self.first_path(), &b))
            .transpose()
    }

    fn load_typed<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let Some(value) = self.load_json()? else {
            return Ok(None);
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| FileError::Serialization {
                action: "deserialize",
                path: self.first_path(),
                detail: e.to_string(),
            })
    }

    fn load_text(&self) -> Result<Option<String>> {
        self.bytes()?
            .map(|b| self.config.file_type.decode_text(&b))
            .transpose()
    }
}

/// A typed value as JSON content, for [`Content::Json`].
///
/// # Errors
/// [`FileError::Serialization`] if `value` cannot be represented as JSON.
pub fn to_json<T: Serialize>(id: &FileId, value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| FileError::Serialization {
        action: "serialize",
        path: id.to_string(),
        detail: e.to_string(),
    })
}

/// Whether a folder is a version folder (`…/v<N>`).
pub fn is_version_folder(folder: &str) -> bool {
    version_of(folder).is_some()
}

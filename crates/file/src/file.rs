//! `File`: one logical file kept as config, content and metadata files on a storage.

use std::sync::Arc;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use memory_fs_storage::{SafePath, Storage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::{
    Clock, ExistsStrategy, FileConfig, FileError, FileId, FileMetadata, FileType, HandlerKind,
    PathHandler, Result, Serialization, SystemClock, python_json,
};

/// What [`File::info`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Whether the content exists (by the exists strategy).
    pub exists: bool,
    /// Content size from the metadata.
    pub size: Option<u64>,
    /// Content hash from the metadata.
    pub content_hash: Option<String>,
    /// Save time from the metadata (ms since the epoch).
    pub timestamp: Option<i64>,
    /// The type's MIME content type.
    pub content_type: String,
    /// Every key of the file.
    pub paths: Vec<SafePath>,
}

/// What [`File::delete`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteReport {
    /// The keys that existed and were deleted, sorted.
    pub deleted: Vec<SafePath>,
}

/// Content at least this large is hashed on two threads (MD5 beside SHA-256).
const PARALLEL_HASH_MIN: usize = 1 << 20;

/// First 10 hex characters of the MD5 of `bytes`: the Python package's content hash.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Md5::digest(bytes);
    hex::encode(&digest[..5])
}

/// SHA-256 (hex) over the previous chain hash (as its hex text, empty for the first
/// version) followed by the content.
pub fn chain_hash(previous: Option<&str>, content: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(previous.unwrap_or("").as_bytes());
    h.update(content);
    hex::encode(h.finalize())
}

/// Options for [`File`] beyond id and type.
#[derive(Debug, Clone)]
pub struct FileBuilder {
    storage: Arc<dyn Storage>,
    id: FileId,
    file_type: FileType,
    key: String,
    handlers: Vec<PathHandler>,
    strategy: ExistsStrategy,
    clock: Arc<dyn Clock>,
}

impl FileBuilder {
    /// Where the file lives (no handler: at the storage root).
    pub fn handlers<I: IntoIterator<Item = PathHandler>>(mut self, handlers: I) -> Self {
        self.handlers = handlers.into_iter().collect();
        self
    }

    /// The file key (used by [`PathHandler::key_based`]).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How `exists` decides across paths.
    pub fn exists_strategy(mut self, strategy: ExistsStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The clock for metadata timestamps and temporal paths.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Resolves the handlers to folders (reading storage for `versioned()`) and
    /// returns the file.
    ///
    /// # Errors
    /// A storage error while looking for existing versions.
    pub fn build(self) -> Result<File> {
        let now = self.clock.now_ms();
        let mut paths = Vec::with_capacity(self.handlers.len());
        for handler in &self.handlers {
            let version = match handler.kind {
                HandlerKind::Versioned { version: None } => next_version(
                    &*self.storage,
                    handler,
                    &self.id,
                    &self.file_type,
                    &self.key,
                    now,
                )?,
                _ => 1,
            };
            paths.push(handler.folder(&self.id, &self.key, now, version));
        }
        let config = FileConfig {
            exists_strategy: self.strategy,
            file_id: self.id,
            file_key: self.key,
            file_paths: paths,
            file_type: self.file_type,
        };
        Ok(File {
            storage: self.storage,
            config,
            clock: self.clock,
        })
    }
}

/// The smallest version `n` such that `v<n>` does not hold this file yet.
fn next_version(
    storage: &dyn Storage,
    handler: &PathHandler,
    id: &FileId,
    ty: &FileType,
    key: &str,
    now: i64,
) -> Result<u32> {
    let mut n = 1;
    loop {
        let folder = handler.folder(id, key, now, n);
        let content = join(&folder, &content_name(id, ty))?;
        if !storage.file_exists(&content)? {
            return Ok(n);
        }
        n += 1;
    }
}

fn content_name(id: &FileId, ty: &FileType) -> String {
    if ty.file_extension.is_empty() {
        id.to_string()
    } else {
        format!("{id}.{}", ty.file_extension)
    }
}

fn join(folder: &str, name: &str) -> Result<SafePath> {
    Ok(if folder.is_empty() {
        SafePath::new(name)?
    } else {
        SafePath::new(format!("{folder}/{name}"))?
    })
}

/// A logical file: content, metadata and config files at one or several folders of a
/// storage, in the Python `memory-fs` layout (`<folder>/<id>.<ext>`, `.config`,
/// `.metadata`).
///
/// ```
/// use std::sync::Arc;
/// use memory_fs_file::{File, FileId, FileType, PathHandler};
/// use memory_fs_storage_memory::MemoryStorage;
///
/// let storage = Arc::new(MemoryStorage::new());
/// let file = File::builder(storage, FileId::new("report")?, FileType::json())
///     .handlers([PathHandler::latest()])
///     .build()?;
/// file.save_json(&serde_json::json!({"total": 3}))?;
/// assert_eq!(file.load_json()?, Some(serde_json::json!({"total": 3})));
/// assert_eq!(file.metadata()?.map(|m| m.content_size), Some(16));
/// # Ok::<(), memory_fs_file::FileError>(())
/// ```
#[derive(Debug, Clone)]
pub struct File {
    storage: Arc<dyn Storage>,
    config: FileConfig,
    clock: Arc<dyn Clock>,
}

impl File {
    /// Starts a file with the system clock, no key, no handlers (storage root) and the
    /// `First` exists strategy.
    pub fn builder(storage: Arc<dyn Storage>, id: FileId, file_type: FileType) -> FileBuilder {
        FileBuilder {
            storage,
            id,
            file_type,
            key: String::new(),
            handlers: Vec::new(),
            strategy: ExistsStrategy::First,
            clock: Arc::new(SystemClock),
        }
    }

    /// A file from a config (for example one read back from storage).
    pub fn from_config(storage: Arc<dyn Storage>, config: FileConfig) -> Self {
        Self {
            storage,
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same file with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The file's config.
    pub fn config(&self) -> &FileConfig {
        &self.config
    }

    fn folders(&self) -> Vec<&str> {
        if self.config.file_paths.is_empty() {
            vec![""]
        } else {
            self.config.file_paths.iter().map(String::as_str).collect()
        }
    }

    fn name(&self) -> String {
        content_name(&self.config.file_id, &self.config.file_type)
    }

    /// The content key at every folder, in folder order.
    ///
    /// # Errors
    /// [`FileError::InvalidPath`] if a folder makes an invalid key.
    pub fn content_paths(&self) -> Result<Vec<SafePath>> {
        let name = self.name();
        self.folders().into_iter().map(|f| join(f, &name)).collect()
    }

    /// The metadata key at every folder (none for content-only types).
    ///
    /// # Errors
    /// As [`content_paths`](Self::content_paths).
    pub fn metadata_paths(&self) -> Result<Vec<SafePath>> {
        self.suffixed("metadata")
    }

    /// The config key at every folder (none for content-only types).
    ///
    /// # Errors
    /// As [`content_paths`](Self::content_paths).
    pub fn config_paths(&self) -> Result<Vec<SafePath>> {
        self.suffixed("config")
    }

    fn suffixed(&self, ext: &str) -> Result<Vec<SafePath>> {
        if self.config.file_type.content_only() {
            return Ok(Vec::new());
        }
        let name = format!("{}.{ext}", self.name());
        self.folders().into_iter().map(|f| join(f, &name)).collect()
    }

    /// Every key of the file, sorted.
    ///
    /// # Errors
    /// As [`content_paths`](Self::content_paths).
    pub fn paths(&self) -> Result<Vec<SafePath>> {
        let mut all = self.content_paths()?;
        all.extend(self.config_paths()?);
        all.extend(self.metadata_paths()?);
        all.sort();
        Ok(all)
    }

    /// Whether the content exists, as the exists strategy decides.
    ///
    /// # Errors
    /// A storage error.
    pub fn exists(&self) -> Result<bool> {
        let paths = self.content_paths()?;
        Ok(match self.config.exists_strategy {
            ExistsStrategy::First => match paths.first() {
                Some(p) => self.storage.file_exists(p)?,
                None => false,
            },
            ExistsStrategy::Any => {
                for p in &paths {
                    if self.storage.file_exists(p)? {
                        return Ok(true);
                    }
                }
                false
            }
            ExistsStrategy::All => {
                for p in &paths {
                    if !self.storage.file_exists(p)? {
                        return Ok(false);
                    }
                }
                !paths.is_empty()
            }
        })
    }

    // ----- saving ----------------------------------------------------------------------

    /// Saves JSON content (`json`, `type_safe` serializations).
    ///
    /// # Errors
    /// [`FileError::Serialization`] for a type that does not hold JSON; encoding and
    /// storage errors.
    pub fn save_json(&self, value: &Value) -> Result<Vec<SafePath>> {
        match self.config.file_type.serialization {
            Serialization::Json | Serialization::TypeSafe => {
                let bytes = self.config.file_type.encode_text(&python_json(value, 2))?;
                self.save_raw(&bytes)
            }
            other => Err(self.mismatch("JSON", other)),
        }
    }

    /// Saves any serde value as JSON content.
    ///
    /// # Errors
    /// As [`save_json`](Self::save_json), and [`FileError::Serialization`] if the value
    /// cannot be represented as JSON.
    pub fn save_typed<T: Serialize>(&self, value: &T) -> Result<Vec<SafePath>> {
        let value = serde_json::to_value(value).map_err(|e| FileError::Serialization {
            action: "serialize",
            path: self.config.file_id.to_string(),
            detail: e.to_string(),
        })?;
        self.save_json(&value)
    }

    /// Saves text content (`string` serialization), in the type's encoding.
    ///
    /// # Errors
    /// [`FileError::Serialization`] for a type that does not hold text;
    /// [`FileError::Encoding`] for text the encoding cannot hold.
    pub fn save_text(&self, text: &str) -> Result<Vec<SafePath>> {
        match self.config.file_type.serialization {
            Serialization::String => {
                let bytes = self.config.file_type.encode_text(text)?;
                self.save_raw(&bytes)
            }
            other => Err(self.mismatch("text", other)),
        }
    }

    /// Saves bytes (`binary` as they are, `base64` as base64 text).
    ///
    /// # Errors
    /// [`FileError::Serialization`] for a type that does not hold bytes.
    pub fn save_bytes(&self, bytes: &[u8]) -> Result<Vec<SafePath>> {
        match self.config.file_type.serialization {
            Serialization::Binary => self.save_raw(bytes),
            Serialization::Base64 => self.save_raw(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            ),
            other => Err(self.mismatch("bytes", other)),
        }
    }

    fn mismatch(&self, given: &str, serialization: Serialization) -> FileError {
        FileError::Serialization {
            action: "serialize",
            path: self.config.file_id.to_string(),
            detail: format!(
                "a {} file ({serialization:?} serialization) does not take {given}",
                self.config.file_type.name
            ),
        }
    }

    /// Writes stored bytes at every folder: content first, then metadata (always
    /// rewritten), then the config where it is missing. Returns every key written or
    /// kept, sorted.
    ///
    /// # Errors
    /// Storage errors; a failure leaves earlier folders saved.
    pub fn save_raw(&self, content: &[u8]) -> Result<Vec<SafePath>> {
        let now = self.clock.now_ms();
        let contents = self.content_paths()?;
        let metas = self.metadata_paths()?;
        let configs = self.config_paths()?;
        let config_json = self.config.to_json();
        std::thread::scope(|scope| {
            // MD5 (the format's content hash) is computed once, and for large content on
            // a second thread while the content is written and the chain hash computed.
            let parallel = (content.len() >= PARALLEL_HASH_MIN && !metas.is_empty())
                .then(|| scope.spawn(|| content_hash(content)));
            let mut md5: Option<String> = None;
            let mut parallel = parallel;
            for (i, content_path) in contents.iter().enumerate() {
                self.storage.file_save(content_path, content)?;
                let Some(meta_path) = metas.get(i) else {
                    continue;
                };
                let previous = self.read_metadata(meta_path)?;
                let (prev_path, prev_chain) = self.previous_version(i, previous.as_ref())?;
                let chain = chain_hash(prev_chain.as_deref(), content);
                let hash = match &md5 {
                    Some(h) => h.clone(),
                    None => {
                        let h = match parallel.take() {
                            Some(handle) => handle.join().unwrap_or_else(|_| content_hash(content)),
                            None => content_hash(content),
                        };
                        md5 = Some(h.clone());
                        h
                    }
                };
                let metadata = FileMetadata {
                    content_hash: hash,
                    chain_hash: Some(chain),
                    previous_version_path: prev_path,
                    content_size: content.len() as u64,
                    tags: previous
                        .as_ref()
                        .map(|m| m.tags.clone())
                        .unwrap_or_default(),
                    timestamp: now,
                    data: previous.map(|m| m.data).unwrap_or_default(),
                };
                self.storage
                    .file_save(meta_path, metadata.to_json().as_bytes())?;
                if let Some(config_path) = configs.get(i)
                    && !self.storage.file_exists(config_path)?
                {
                    self.storage
                        .file_save(config_path, config_json.as_bytes())?;
                }
            }
            Ok::<(), FileError>(())
        })?;
        self.paths()
    }

    /// The previous version of folder `i`: for a `v<N>` folder with `v<N-1>` present,
    /// that version's content path and chain hash; otherwise this folder's own last
    /// save.
    fn previous_version(
        &self,
        i: usize,
        here: Option<&FileMetadata>,
    ) -> Result<(Option<String>, Option<String>)> {
        let folder = self.folders()[i];
        let last = folder.rsplit('/').next().unwrap_or("");
        if let Some(n) = last
            .strip_prefix('v')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 1)
        {
            let base = &folder[..folder.len() - last.len()];
            let prev_folder = format!("{base}v{}", n - 1);
            let prev_content = join(&prev_folder, &self.name())?;
            let prev_meta = join(&prev_folder, &format!("{}.metadata", self.name()))?;
            if let Some(meta) = self.read_metadata(&prev_meta)? {
                let chain = meta.chain_hash.clone().unwrap_or(meta.content_hash);
                return Ok((Some(prev_content.to_string()), Some(chain)));
            }
        }
        Ok((None, here.and_then(|m| m.chain_hash.clone())))
    }

    fn read_metadata(&self, path: &SafePath) -> Result<Option<FileMetadata>> {
        match self.storage.file_bytes(path)? {
            Some(bytes) => FileMetadata::from_json(path.as_str(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    // ----- loading ---------------------------------------------------------------------

    /// The metadata at the first folder that has it.
    ///
    /// # Errors
    /// [`FileError::CorruptMetadata`]; storage errors.
    pub fn metadata(&self) -> Result<Option<FileMetadata>> {
        for path in self.metadata_paths()? {
            if let Some(m) = self.read_metadata(&path)? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// The stored content bytes at the first folder that has them, checked against
    /// that folder's metadata (when there is metadata).
    ///
    /// # Errors
    /// [`FileError::HashMismatch`] naming the path when the content disagrees with its
    /// metadata; storage errors.
    pub fn bytes(&self) -> Result<Option<Vec<u8>>> {
        self.load_raw(true)
    }

    /// The stored content bytes without checking them against the metadata.
    ///
    /// # Errors
    /// Storage errors.
    pub fn bytes_unverified(&self) -> Result<Option<Vec<u8>>> {
        self.load_raw(false)
    }

    fn load_raw(&self, verify: bool) -> Result<Option<Vec<u8>>> {
        let metas = self.metadata_paths()?;
        for (i, path) in self.content_paths()?.iter().enumerate() {
            let Some(content) = self.storage.file_bytes(path)? else {
                continue;
            };
            if verify
                && let Some(meta) = metas
                    .get(i)
                    .map(|m| self.read_metadata(m))
                    .transpose()?
                    .flatten()
            {
                let actual = content_hash(&content);
                if actual != meta.content_hash || content.len() as u64 != meta.content_size {
                    return Err(FileError::HashMismatch {
                        path: path.to_string(),
                        expected: meta.content_hash,
                        actual,
                    });
                }
            }
            return Ok(Some(content));
        }
        Ok(None)
    }

    /// The content as JSON.
    ///
    /// # Errors
    /// [`FileError::Serialization`] if it is not JSON; as [`bytes`](Self::bytes).
    pub fn load_json(&self) -> Result<Option<Value>> {
        let Some(bytes) = self.bytes()? else {
            return Ok(None);
        };
        let text = self.config.file_type.decode_text(&bytes)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| FileError::Serialization {
                action: "deserialize",
                path: self.first_content_path(),
                detail: e.to_string(),
            })
    }

    /// The content as a typed value.
    ///
    /// # Errors
    /// As [`load_json`](Self::load_json), and [`FileError::Serialization`] if the JSON
    /// does not fit `T`.
    pub fn load_typed<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let Some(value) = self.load_json()? else {
            return Ok(None);
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| FileError::Serialization {
                action: "deserialize",
                path: self.first_content_path(),
                detail: e.to_string(),
            })
    }

    /// The content as text, decoded with the type's encoding.
    ///
    /// # Errors
    /// [`FileError::Encoding`]; as [`bytes`](Self::bytes).
    pub fn load_text(&self) -> Result<Option<String>> {
        self.bytes()?
            .map(|b| self.config.file_type.decode_text(&b))
            .transpose()
    }

    /// The content as the bytes that were saved (base64 decoded for `base64` types).
    ///
    /// # Errors
    /// [`FileError::Serialization`] for invalid base64; as [`bytes`](Self::bytes).
    pub fn load_bytes(&self) -> Result<Option<Vec<u8>>> {
        let Some(bytes) = self.bytes()? else {
            return Ok(None);
        };
        if self.config.file_type.serialization == Serialization::Base64 {
            return base64::engine::general_purpose::STANDARD
                .decode(&bytes)
                .map(Some)
                .map_err(|e| FileError::Serialization {
                    action: "deserialize",
                    path: self.first_content_path(),
                    detail: e.to_string(),
                });
        }
        Ok(Some(bytes))
    }

    fn first_content_path(&self) -> String {
        self.content_paths()
            .ok()
            .and_then(|p| p.into_iter().next())
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    // ----- editing ---------------------------------------------------------------------

    /// Replaces the user `data` of the metadata at every folder that has metadata.
    /// Returns the metadata keys rewritten.
    ///
    /// # Errors
    /// [`FileError::CorruptMetadata`]; storage errors.
    pub fn update_data(&self, data: Map<String, Value>) -> Result<Vec<SafePath>> {
        self.edit_metadata(|m| m.data = data.clone())
    }

    /// Adds tags (kept in order, without duplicates) at every folder that has metadata.
    ///
    /// # Errors
    /// As [`update_data`](Self::update_data).
    pub fn add_tags<I: IntoIterator<Item = S>, S: Into<String>>(
        &self,
        tags: I,
    ) -> Result<Vec<SafePath>> {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.edit_metadata(|m| {
            for t in &tags {
                if !m.tags.contains(t) {
                    m.tags.push(t.clone());
                }
            }
        })
    }

    fn edit_metadata(&self, mut edit: impl FnMut(&mut FileMetadata)) -> Result<Vec<SafePath>> {
        let mut written = Vec::new();
        for path in self.metadata_paths()? {
            if let Some(mut m) = self.read_metadata(&path)? {
                edit(&mut m);
                self.storage.file_save(&path, m.to_json().as_bytes())?;
                written.push(path);
            }
        }
        Ok(written)
    }

    /// A summary of the file: whether it exists, its size, hash, timestamp and type.
    ///
    /// # Errors
    /// [`FileError::CorruptMetadata`]; storage errors.
    pub fn info(&self) -> Result<FileInfo> {
        let metadata = self.metadata()?;
        Ok(FileInfo {
            exists: self.exists()?,
            size: metadata.as_ref().map(|m| m.content_size),
            content_hash: metadata.as_ref().map(|m| m.content_hash.clone()),
            timestamp: metadata.as_ref().map(|m| m.timestamp),
            content_type: self.config.file_type.content_type.clone(),
            paths: self.paths()?,
        })
    }

    /// The versions stored for a file kept in `v<N>` folders (the last segment of one of
    /// its folders), ascending.
    ///
    /// # Errors
    /// Storage errors.
    pub fn versions(&self) -> Result<Vec<u32>> {
        let Some((base, _)) = self.versioned_folder() else {
            return Ok(Vec::new());
        };
        let prefix = base.trim_end_matches('/');
        let listing = if prefix.is_empty() {
            self.storage.files_paths(None)?
        } else {
            self.storage.files_paths(Some(&SafePath::new(prefix)?))?
        };
        let name = self.name();
        let mut versions: Vec<u32> = listing
            .iter()
            .filter_map(|k| {
                let rest = k.as_str().strip_prefix(base.as_str())?;
                let (folder, file) = rest.split_once('/')?;
                (file == name).then_some(())?;
                folder.strip_prefix('v')?.parse().ok()
            })
            .collect();
        versions.sort_unstable();
        versions.dedup();
        Ok(versions)
    }

    /// Version `n` of the file: the same file kept only in its `v<N>` folder, set to
    /// `v<n>`, so reads see that version (not a `latest` copy kept beside it). A file
    /// with no versioned folder is returned unchanged.
    pub fn version(&self, n: u32) -> File {
        let mut config = self.config.clone();
        if let Some((base, _)) = self.versioned_folder() {
            config.file_paths = vec![format!("{base}v{n}")];
        }
        File {
            storage: self.storage.clone(),
            config,
            clock: self.clock.clone(),
        }
    }

    /// The first folder whose last segment is `v<N>`: its base (with a trailing slash,
    /// or empty) and its index.
    fn versioned_folder(&self) -> Option<(String, usize)> {
        self.config
            .file_paths
            .iter()
            .enumerate()
            .find_map(|(i, folder)| {
                let last = folder.rsplit('/').next()?;
                last.strip_prefix('v')?.parse::<u32>().ok()?;
                Some((folder[..folder.len() - last.len()].to_owned(), i))
            })
    }

    /// Deletes the three files at every folder and says which existed.
    ///
    /// # Errors
    /// Storage errors (files deleted before the failure stay deleted).
    pub fn delete(&self) -> Result<DeleteReport> {
        let mut deleted = Vec::new();
        for path in self.paths()? {
            if self.storage.file_delete(&path)? {
                deleted.push(path);
            }
        }
        Ok(DeleteReport { deleted })
    }
}

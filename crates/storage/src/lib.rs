//! The storage layer of Memory-FS: one [`Storage`] trait that every backend implements.
#![doc = include_str!("../README.md")]

#[cfg(feature = "async")]
pub mod asynchronous;
mod batch;
mod capabilities;
mod error;
pub mod layers;
mod path;
mod stream;
#[cfg(feature = "testkit")]
pub mod testkit;
mod watch;

#[cfg(feature = "async")]
pub use asynchronous::{AsyncStorage, BlockOn, ByteStream, Inline, Pooled};
pub use batch::{Batch, Expect, Version, Write};
pub use capabilities::Capabilities;
pub use error::{BoxError, ErrorKind, Result, StorageError};
pub use path::{InvalidPath, InvalidPathReason, MAX_PATH_LEN, MAX_SEGMENT_LEN, SafePath};
pub use stream::{CHUNK, ChunkReader, ValueReader, clip_range, read_full};
pub use watch::KeyWatch;

/// A key–value store of byte files addressed by [`SafePath`] keys.
///
/// Contract shared by every provider (the conformance suite checks each point):
/// - `file_save` creates or replaces the whole value; readers see the old bytes or
///   the new bytes, never a mix, when [`Capabilities::atomic_write`] is set.
/// - Reading a missing key is not an error: `file_bytes` gives `Ok(None)` and
///   `file_delete` gives `Ok(false)`.
/// - `files_paths(Some(prefix))` lists the keys equal to `prefix` or below it,
///   segment-wise (`a` covers `a` and `a/b`, not `ab`); `None` lists everything.
///   Listings are sorted by byte order and never contain directories.
/// - Where [`Capabilities::nested_keys`] is false, saving `a/b` while `a` exists (or
///   the reverse) fails with [`ErrorKind::Conflict`] and changes nothing.
/// - Implementations are `Send + Sync`; every method may be called from many
///   threads at once.
/// - [`file_get`](Storage::file_get) hands out a [`Version`] of the value read, and
///   [`file_save_if`](Storage::file_save_if) and the checks of [`apply`](Storage::apply)
///   compare against it; a provider that overrides one of `file_get`, `file_save_if`
///   and `apply` overrides all three, so their versions agree.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// What this provider can promise.
    fn capabilities(&self) -> Capabilities;

    /// Creates or replaces the value at `path`.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] for a key that collides with another on a tree-shaped
    /// provider; [`ErrorKind::Backend`] when the backend fails (the old value, if any,
    /// is still there).
    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()>;

    /// The whole value at `path`, or `None` if there is none.
    ///
    /// # Errors
    /// [`ErrorKind::Backend`] when the backend fails.
    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>>;

    /// Whether a value exists at `path` (a directory implied by deeper keys is not one).
    ///
    /// # Errors
    /// [`ErrorKind::Backend`] when the backend fails.
    fn file_exists(&self, path: &SafePath) -> Result<bool>;

    /// Deletes the value at `path`; `Ok(false)` if there was none.
    ///
    /// # Errors
    /// [`ErrorKind::Backend`] when the backend fails.
    fn file_delete(&self, path: &SafePath) -> Result<bool>;

    /// Every key equal to or below `prefix` (all keys for `None`), sorted by bytes.
    ///
    /// # Errors
    /// [`ErrorKind::Backend`] when the backend fails.
    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>>;

    /// Deletes every key.
    ///
    /// # Errors
    /// [`ErrorKind::Backend`] when the backend fails; some keys may then remain.
    fn clear(&self) -> Result<()>;

    /// The value at `path` as UTF-8 text, or `None` if there is none.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidData`] if the bytes are not UTF-8; otherwise as
    /// [`file_bytes`](Storage::file_bytes).
    fn file_str(&self, path: &SafePath) -> Result<Option<String>> {
        match self.file_bytes(path)? {
            None => Ok(None),
            Some(bytes) => {
                String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|e| StorageError::InvalidData {
                        path: path.to_string(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// The value at `path` parsed as JSON, or `None` if there is none.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidData`] if the bytes are not JSON; otherwise as
    /// [`file_bytes`](Storage::file_bytes).
    fn file_json(&self, path: &SafePath) -> Result<Option<serde_json::Value>> {
        match self.file_bytes(path)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StorageError::InvalidData {
                        path: path.to_string(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// Creates `path` only if it does not exist yet.
    ///
    /// Atomic (no other writer can slip in between the check and the write) only
    /// where [`Capabilities::atomic_create`] is set; the provided implementation checks
    /// then writes.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] if the key exists; otherwise as
    /// [`file_save`](Storage::file_save).
    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        if self.file_exists(path)? {
            return Err(StorageError::AlreadyExists {
                path: path.to_string(),
            });
        }
        self.file_save(path, data)
    }

    /// The value at `path` and its [`Version`], or `None` if there is none.
    ///
    /// The provided implementation reads the bytes and uses [`Version::of_bytes`].
    ///
    /// # Errors
    /// As [`file_bytes`](Storage::file_bytes).
    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        Ok(self.file_bytes(path)?.map(|bytes| {
            let version = Version::of_bytes(&bytes);
            (bytes, version)
        }))
    }

    /// Writes `data` at `path` only if the key is as `expect` says, and returns the
    /// version of the value written.
    ///
    /// Compare and write are one step (of two writers expecting the same version, one
    /// wins and the other gets an error) only where [`Capabilities::conditional_write`]
    /// is set; the provided implementation reads, compares, then writes.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] when `Expect::Absent` finds a value;
    /// [`ErrorKind::PreconditionFailed`] when the key no longer holds the expected
    /// version; otherwise as [`file_save`](Storage::file_save). Nothing is written on
    /// an error.
    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        let current = self.file_get(path)?.map(|(_, version)| version);
        expect.check(path, current.as_ref())?;
        match expect {
            Expect::Absent => self.file_create(path, data)?,
            Expect::Version(_) => self.file_save(path, data)?,
        }
        Ok(Version::of_bytes(data))
    }

    /// Checks every key of `batch` against what it expects, then applies its writes in
    /// order.
    ///
    /// All-or-nothing, checks included, where [`Capabilities::atomic_batch`] is set.
    /// The provided implementation checks one key after another and then writes one
    /// after another, stopping at the first error (earlier writes stay).
    ///
    /// # Errors
    /// As [`file_save_if`](Storage::file_save_if) for a failed check (then nothing is
    /// written); as [`file_save`](Storage::file_save) and
    /// [`file_delete`](Storage::file_delete) for a failed write.
    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        for (path, expect) in batch.checks() {
            let current = self.file_get(path)?.map(|(_, version)| version);
            expect.check(path, current.as_ref())?;
        }
        for write in batch.writes() {
            match write {
                Write::Put { path, data } => self.file_save(path, data)?,
                Write::Delete { path } => {
                    self.file_delete(path)?;
                }
                Write::Copy { from, to } => {
                    if !self.file_copy(from, to)? {
                        return Err(StorageError::NotFound {
                            path: from.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Streams the value read from `reader` to `path`, creating or replacing it, and
    /// returns its length; the value need not fit in memory where the provider
    /// streams.
    ///
    /// Atomic as [`file_save`](Storage::file_save) is: readers, and a crash, see the
    /// old value or the whole new one. When `reader` fails part-way the old value
    /// stays and the error is [`ErrorKind::Input`].
    ///
    /// The provided implementation reads the whole value into memory and calls
    /// `file_save`; the providers override it to write as the bytes arrive.
    ///
    /// # Errors
    /// [`ErrorKind::Input`] when `reader` fails; otherwise as
    /// [`file_save`](Storage::file_save).
    fn file_save_from(&self, path: &SafePath, reader: &mut dyn std::io::Read) -> Result<u64> {
        let mut data = Vec::new();
        reader
            .read_to_end(&mut data)
            .map_err(|e| StorageError::input(path, e))?;
        self.file_save(path, &data)?;
        Ok(data.len() as u64)
    }

    /// A reader of the value at `path`, or `None` if there is none; the value need not
    /// fit in memory where the provider streams.
    ///
    /// What the reader yields is one value: a provider with
    /// [`Capabilities::atomic_write`] never mixes bytes of two saves in one reader (a
    /// save that lands while reading makes the reader fail, or it keeps reading the
    /// old value). Errors while reading arrive as `std::io::Error`s wrapping a
    /// [`StorageError`].
    ///
    /// The provided implementation reads the whole value first.
    ///
    /// # Errors
    /// As [`file_bytes`](Storage::file_bytes).
    fn file_reader(&self, path: &SafePath) -> Result<Option<ValueReader<'_>>> {
        Ok(self
            .file_bytes(path)?
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as ValueReader<'_>))
    }

    /// The bytes `offset..offset + len` of the value at `path` (fewer at its end, none
    /// past it), or `None` if there is no value.
    ///
    /// The provided implementation reads the whole value; providers read only the
    /// range where the backend can (a ranged GET, a blob read, a seek).
    ///
    /// # Errors
    /// As [`file_bytes`](Storage::file_bytes).
    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.file_bytes(path)?.map(|mut bytes| {
            let range = clip_range(bytes.len(), offset, len);
            bytes.truncate(range.end);
            bytes.drain(..range.start);
            bytes
        }))
    }

    /// The length in bytes of the value at `path`, or `None` if there is none.
    ///
    /// The provided implementation reads the value; providers answer from their
    /// metadata.
    ///
    /// # Errors
    /// As [`file_bytes`](Storage::file_bytes).
    fn file_size(&self, path: &SafePath) -> Result<Option<u64>> {
        Ok(self.file_bytes(path)?.map(|bytes| bytes.len() as u64))
    }

    /// A signal that keys equal to or below `prefix` may have changed (written by
    /// this process or another), where the provider can give one: the memory tree's
    /// watchers, inotify on disk, SQLite's data version. `Ok(None)` where it cannot
    /// (S3): a watch then polls.
    ///
    /// # Errors
    /// [`ErrorKind::Backend`] when the provider can signal but setting it up failed.
    fn watch_keys(&self, prefix: &SafePath) -> Result<Option<KeyWatch>> {
        let _ = prefix;
        Ok(None)
    }

    /// Copies the whole value at `from` to `to` (replacing what is there); `Ok(false)`
    /// if `from` holds nothing.
    ///
    /// The provided implementation reads then writes; providers with a server-side
    /// copy use it.
    ///
    /// # Errors
    /// As [`file_bytes`](Storage::file_bytes) and [`file_save`](Storage::file_save).
    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        match self.file_bytes(from)? {
            Some(bytes) => {
                self.file_save(to, &bytes)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Every key equal to or below `prefix`, as [`files_paths`](Storage::files_paths)
    /// lists them, each with the [`Version`] [`file_get`](Storage::file_get) would hand
    /// out for it (a key deleted while the listing runs is left out).
    ///
    /// The provided implementation reads every value; providers whose listings carry
    /// versions (an S3 listing holds each object's `ETag`) answer from the listing and
    /// say so with [`Capabilities::listed_versions`].
    ///
    /// # Errors
    /// As [`files_paths`](Storage::files_paths) and [`file_get`](Storage::file_get).
    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        let mut listed = Vec::new();
        for path in self.files_paths(prefix)? {
            if let Some((_, version)) = self.file_get(&path)? {
                listed.push((path, version));
            }
        }
        Ok(listed)
    }

    /// Deletes every key in `paths`, whether or not it holds a value, without saying
    /// which did (so a provider need not look first: one bulk request on S3).
    ///
    /// # Errors
    /// As [`files_delete`](Storage::files_delete).
    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        self.files_delete(paths).map(drop)
    }

    /// Saves several values; all-or-nothing where [`Capabilities::atomic_batch`] is set.
    ///
    /// The provided implementation saves one after another and stops at the first
    /// error, leaving the earlier ones saved.
    ///
    /// # Errors
    /// As [`file_save`](Storage::file_save), for the first item that fails.
    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        items
            .iter()
            .try_for_each(|(path, data)| self.file_save(path, data))
    }

    /// Deletes several keys and returns how many existed; all-or-nothing where
    /// [`Capabilities::atomic_batch`] is set.
    ///
    /// # Errors
    /// As [`file_delete`](Storage::file_delete), for the first key that fails.
    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        paths
            .iter()
            .try_fold(0, |n, path| Ok(n + usize::from(self.file_delete(path)?)))
    }
}

impl<S: Storage + ?Sized> Storage for std::sync::Arc<S> {
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        (**self).file_save(path, data)
    }
    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        (**self).file_bytes(path)
    }
    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        (**self).file_exists(path)
    }
    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        (**self).file_delete(path)
    }
    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        (**self).files_paths(prefix)
    }
    fn clear(&self) -> Result<()> {
        (**self).clear()
    }
    fn file_str(&self, path: &SafePath) -> Result<Option<String>> {
        (**self).file_str(path)
    }
    fn file_json(&self, path: &SafePath) -> Result<Option<serde_json::Value>> {
        (**self).file_json(path)
    }
    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        (**self).file_create(path, data)
    }
    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        (**self).files_save(items)
    }
    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        (**self).files_delete(paths)
    }
    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        (**self).file_get(path)
    }
    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        (**self).file_save_if(path, data, expect)
    }
    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        (**self).apply(batch)
    }
    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        (**self).file_copy(from, to)
    }
    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        (**self).files_remove(paths)
    }
    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        (**self).files_versions(prefix)
    }
    fn file_save_from(&self, path: &SafePath, reader: &mut dyn std::io::Read) -> Result<u64> {
        (**self).file_save_from(path, reader)
    }
    fn file_reader(&self, path: &SafePath) -> Result<Option<ValueReader<'_>>> {
        (**self).file_reader(path)
    }
    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        (**self).file_range(path, offset, len)
    }
    fn file_size(&self, path: &SafePath) -> Result<Option<u64>> {
        (**self).file_size(path)
    }
    fn watch_keys(&self, prefix: &SafePath) -> Result<Option<KeyWatch>> {
        (**self).watch_keys(prefix)
    }
}

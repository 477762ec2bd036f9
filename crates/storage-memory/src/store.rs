//! `MemoryStorage`: the `Storage` trait on a POSIX tree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use memory_fs_posix::{Errno, MemoryFileSystem, OpenFlags};
use memory_fs_storage::{
    Batch, CHUNK, Capabilities, Expect, Result, SafePath, Storage, StorageError, ValueReader,
    Version, read_full,
};

use crate::MemoryConfig;
use crate::error::{BACKEND, backend};

/// Root-level directory holding staging files; never a key.
pub(crate) const STAGING: &str = ".memory-fs-staging";

/// An in-memory key–value store on a [`MemoryFileSystem`].
///
/// Cheap to clone: clones share the tree and the lock that makes conditional writes
/// and batches atomic.
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    pub(crate) fs: MemoryFileSystem,
    next: Arc<AtomicU64>,
    /// Single-key operations share it; `file_save_if` and `apply` take it alone, so
    /// no other call of this store sees or interleaves with their steps.
    gate: Arc<RwLock<()>>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty store with no capacity limit.
    pub fn new() -> Self {
        Self::with_config(MemoryConfig::default())
    }

    /// An empty store with the given options.
    pub fn with_config(config: MemoryConfig) -> Self {
        let mut builder = MemoryFileSystem::builder().umask(0o022);
        if let Some(cap) = config.capacity {
            builder = builder.capacity(cap);
        }
        Self::with_fs(builder.build())
    }

    /// A store on an existing tree (shared with whoever else holds it). Files already
    /// in the tree are values; directories are implied by them.
    pub fn with_fs(fs: MemoryFileSystem) -> Self {
        Self {
            fs,
            next: Arc::new(AtomicU64::new(0)),
            gate: Arc::new(RwLock::new(())),
        }
    }

    /// The tree under this store.
    pub fn fs(&self) -> &MemoryFileSystem {
        &self.fs
    }

    /// Admission for a single-key operation: many at once, none during a batch.
    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        // The gate guards no data of its own: a panic elsewhere leaves nothing to repair.
        self.gate.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admission for a conditional write or a batch: alone.
    pub(crate) fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn path(key: &SafePath) -> Result<String> {
        if key.segments().next() == Some(STAGING) {
            return Err(StorageError::Conflict {
                path: key.to_string(),
                reason: format!("`{STAGING}` is reserved for the memory store's staging files"),
            });
        }
        Ok(format!("/{key}"))
    }

    /// A fresh name in the staging directory.
    pub(crate) fn staging_name(&self) -> String {
        format!("/{STAGING}/{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Creates the staging directory if it is missing.
    pub(crate) fn ensure_staging(&self) -> std::result::Result<(), memory_fs_posix::PosixError> {
        match self.fs.mkdir(&format!("/{STAGING}"), 0o755) {
            Ok(()) => Ok(()),
            Err(e) if e.errno() == Errno::EEXIST => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A fresh staging file, opened for writing, and its path.
    fn open_staging(
        &self,
    ) -> std::result::Result<(String, memory_fs_posix::Fd), memory_fs_posix::PosixError> {
        let staging = self.staging_name();
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCL;
        let fd = match self.fs.open(&staging, flags, 0o644) {
            Err(e) if e.errno() == Errno::ENOENT => {
                self.ensure_staging()?;
                self.fs.open(&staging, flags, 0o644)?
            }
            other => other?,
        };
        Ok((staging, fd))
    }

    /// Streams `reader` into a fresh staging file a chunk at a time and returns its
    /// path and length; on any failure the staging file is removed.
    pub(crate) fn stage_from(
        &self,
        key: &SafePath,
        reader: &mut dyn std::io::Read,
    ) -> Result<(String, u64)> {
        let (staging, fd) = self.open_staging().map_err(|e| backend(key.as_str(), e))?;
        let written = (|| {
            let mut buf = vec![0; CHUNK];
            let mut len = 0;
            loop {
                let n = read_full(reader, &mut buf).map_err(|e| StorageError::input(key, e))?;
                write_all(&self.fs, fd, &buf[..n]).map_err(|e| backend(key.as_str(), e))?;
                len += n as u64;
                if n < buf.len() {
                    return Ok(len);
                }
            }
        })();
        let closed = self.fs.close(fd).map_err(|e| backend(key.as_str(), e));
        match written.and_then(|len| closed.map(|()| len)) {
            Ok(len) => Ok((staging, len)),
            Err(e) => {
                let _ = self.fs.unlink(&staging);
                Err(e)
            }
        }
    }

    /// The value at `key` opened for reading, with its length; `None` when there is
    /// none.
    fn open_value(&self, key: &SafePath) -> Result<Option<(memory_fs_posix::File, u64)>> {
        let p = Self::path(key)?;
        let file = match self.fs.open_file(&p, OpenFlags::READ, 0) {
            Ok(file) => file,
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR) => {
                return Ok(None);
            }
            Err(e) => return Err(backend(&p, e)),
        };
        let st = file.metadata().map_err(|e| backend(&p, e))?;
        Ok(st.is_file().then_some((file, st.size)))
    }

    /// Writes `data` to a fresh staging file and returns its path.
    pub(crate) fn stage(
        &self,
        data: &[u8],
    ) -> std::result::Result<String, memory_fs_posix::PosixError> {
        let (staging, fd) = self.open_staging()?;
        let written = write_all(&self.fs, fd, data);
        let closed = self.fs.close(fd);
        if let Err(e) = written.and(closed) {
            let _ = self.fs.unlink(&staging);
            return Err(e);
        }
        Ok(staging)
    }

    /// Creates the directories above `key`, appending those it made to `made`; a file
    /// in the way is a key conflict.
    pub(crate) fn make_parents(&self, key: &SafePath, made: &mut Vec<String>) -> Result<()> {
        let segments: Vec<&str> = key.segments().collect();
        let parents = &segments[..segments.len().saturating_sub(1)];
        // A concurrent delete may prune a directory between our `mkdir` and the next
        // step (`ENOENT`); the walk then starts over, a bounded number of times.
        let mut raced = None;
        for _ in 0..16 {
            match self.try_make_parents(key, parents, made)? {
                None => return Ok(()),
                Some(e) => raced = Some(e),
            }
        }
        Err(match raced {
            Some((dir, e)) => backend(&dir, e),
            None => conflict(key, "its directories cannot be made"),
        })
    }

    /// One walk of [`make_parents`](Self::make_parents): `Ok(Some(..))` when a
    /// directory vanished under it.
    fn try_make_parents(
        &self,
        key: &SafePath,
        parents: &[&str],
        made: &mut Vec<String>,
    ) -> Result<Option<(String, memory_fs_posix::PosixError)>> {
        let mut dir = String::new();
        for segment in parents {
            dir.push('/');
            dir.push_str(segment);
            match self.fs.mkdir(&dir, 0o755) {
                Ok(()) => made.push(dir.clone()),
                Err(e) if e.errno() == Errno::EEXIST => match self.fs.lstat(&dir) {
                    Ok(st) if st.is_dir() => {}
                    Ok(_) => return Err(conflict(key, &format!("`{}` is a key", &dir[1..]))),
                    Err(e) if e.errno() == Errno::ENOENT => return Ok(Some((dir, e))),
                    Err(e) => return Err(backend(&dir, e)),
                },
                Err(e) if e.errno() == Errno::ENOTDIR => {
                    return Err(conflict(key, "a key is in the way of its directories"));
                }
                Err(e) if e.errno() == Errno::ENOENT => return Ok(Some((dir, e))),
                Err(e) => return Err(backend(&dir, e)),
            }
        }
        Ok(None)
    }

    /// Moves a staged file into place; `link` instead of `rename` refuses an existing
    /// key. The staged file is gone afterwards, whatever the outcome; the directories
    /// made on the way are appended to `made`.
    pub(crate) fn place(
        &self,
        key: &SafePath,
        staged: &str,
        exclusive: bool,
        made: &mut Vec<String>,
    ) -> Result<()> {
        let path = Self::path(key)?;
        let attempt = |fs: &MemoryFileSystem| {
            if exclusive {
                fs.link(staged, &path)
            } else {
                fs.rename(staged, &path)
            }
        };
        let mut result = attempt(&self.fs);
        // A concurrent delete may prune a directory just made; a few rounds settle it.
        for _ in 0..8 {
            if !matches!(&result, Err(e) if e.errno() == Errno::ENOENT) {
                break;
            }
            if let Err(e) = self.make_parents(key, made) {
                let _ = self.fs.unlink(staged);
                return Err(e);
            }
            result = attempt(&self.fs);
        }
        if exclusive || result.is_err() {
            let _ = self.fs.unlink(staged);
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(match e.errno() {
                Errno::EEXIST if exclusive => {
                    if self.fs.lstat(&path).is_ok_and(|s| s.is_dir()) {
                        conflict(key, "keys exist below it")
                    } else {
                        StorageError::AlreadyExists {
                            path: key.to_string(),
                        }
                    }
                }
                Errno::EISDIR => conflict(key, "keys exist below it"),
                Errno::ENOTDIR => conflict(key, "a key is in the way of its directories"),
                _ => backend(&path, e),
            }),
        }
    }

    /// Removes now-empty directories above `key`, deepest first, appending those it
    /// removed to `removed`.
    pub(crate) fn prune(&self, key: &SafePath, removed: &mut Vec<String>) {
        let mut parent = key.parent();
        while let Some(dir) = parent {
            let path = format!("/{dir}");
            if self.fs.rmdir(&path).is_err() {
                return;
            }
            removed.push(path);
            parent = dir.parent();
        }
    }

    /// The version of the value at `key`, read without taking the gate.
    pub(crate) fn version_of(&self, key: &SafePath) -> Result<Option<Version>> {
        Ok(self.read(key)?.map(|bytes| Version::of_bytes(&bytes)))
    }

    /// The bytes at `key`, read without taking the gate.
    pub(crate) fn read(&self, key: &SafePath) -> Result<Option<Vec<u8>>> {
        let p = Self::path(key)?;
        match self.fs.read_file(&p) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR) => {
                Ok(None)
            }
            Err(e) => Err(backend(&p, e)),
        }
    }

    /// Whether `key` holds a value (a regular file), without taking the gate.
    pub(crate) fn is_value(&self, key: &SafePath) -> Result<bool> {
        let p = Self::path(key)?;
        match self.fs.lstat(&p) {
            Ok(st) => Ok(st.is_file()),
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => Ok(false),
            Err(e) => Err(backend(&p, e)),
        }
    }

    fn walk(&self, dir: &str, out: &mut Vec<SafePath>) -> Result<()> {
        let at = if dir.is_empty() { "/" } else { dir };
        let names = match self.fs.readdir(at) {
            Ok(names) => names,
            // Removed (or replaced) since its parent was read: nothing below it now.
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
            Err(e) => return Err(backend(at, e)),
        };
        for name in names {
            if dir.is_empty() && name == STAGING {
                continue;
            }
            let path = format!("{dir}/{name}");
            let st = match self.fs.lstat(&path) {
                Ok(st) => st,
                // Deleted between the `readdir` and now: simply not there.
                Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => continue,
                Err(e) => return Err(backend(&path, e)),
            };
            if st.is_dir() {
                self.walk(&path, out)?;
            } else if st.is_file()
                && let Ok(key) = SafePath::new(&path[1..])
            {
                out.push(key);
            }
        }
        Ok(())
    }

    fn remove_tree(&self, path: &str) -> Result<()> {
        for name in self.fs.readdir(path).map_err(|e| backend(path, e))? {
            let child = if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            };
            if self
                .fs
                .lstat(&child)
                .map_err(|e| backend(&child, e))?
                .is_dir()
            {
                self.remove_tree(&child)?;
                self.fs.rmdir(&child).map_err(|e| backend(&child, e))?;
            } else {
                self.fs.unlink(&child).map_err(|e| backend(&child, e))?;
            }
        }
        Ok(())
    }
}

fn write_all(
    fs: &MemoryFileSystem,
    fd: memory_fs_posix::Fd,
    mut data: &[u8],
) -> std::result::Result<(), memory_fs_posix::PosixError> {
    while !data.is_empty() {
        let n = fs.write(fd, data)?;
        data = &data[n..];
    }
    Ok(())
}

fn conflict(key: &SafePath, reason: &str) -> StorageError {
    StorageError::Conflict {
        path: key.to_string(),
        reason: reason.to_owned(),
    }
}

impl Storage for MemoryStorage {
    /// The tree's own watchers, on its root: every change under `prefix` is a signal
    /// (a value placed from the staging directory arrives as a rename to its key).
    fn watch_keys(&self, prefix: &SafePath) -> Result<Option<memory_fs_storage::KeyWatch>> {
        let watcher = self.fs.watch("/", true).map_err(|e| backend("/", e))?;
        let under = format!("/{prefix}");
        let below = format!("{under}/");
        let within = move |path: &str| path == under || path.starts_with(&below);
        Ok(Some(memory_fs_storage::KeyWatch::new(move |timeout| {
            let deadline = std::time::Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match watcher.recv_timeout(left) {
                    Some(event) if within(&event.path) => {
                        while watcher.try_recv().is_some() {}
                        return true;
                    }
                    Some(_) => {}
                    None => return false,
                }
            }
        })))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_create(true)
            .with_conditional_write(true)
            .with_atomic_batch(true)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        Self::path(path)?;
        let _shared = self.shared();
        let staged = self.stage(data).map_err(|e| backend(path.as_str(), e))?;
        self.place(path, &staged, false, &mut Vec::new())
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        Self::path(path)?;
        let _shared = self.shared();
        let staged = self.stage(data).map_err(|e| backend(path.as_str(), e))?;
        self.place(path, &staged, true, &mut Vec::new())
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        let _shared = self.shared();
        self.read(path)
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        let _shared = self.shared();
        self.is_value(path)
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        let p = Self::path(path)?;
        let _shared = self.shared();
        match self.fs.unlink(&p) {
            Ok(()) => {
                self.prune(path, &mut Vec::new());
                Ok(true)
            }
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR) => {
                Ok(false)
            }
            Err(e) => Err(backend(&p, e)),
        }
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let mut out = Vec::new();
        let _shared = self.shared();
        match prefix {
            None => self.walk("", &mut out)?,
            Some(prefix) => {
                let p = Self::path(prefix)?;
                match self.fs.lstat(&p) {
                    Ok(st) if st.is_dir() => self.walk(&p, &mut out)?,
                    Ok(st) if st.is_file() => out.push(prefix.clone()),
                    Ok(_) => {}
                    Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => {}
                    Err(e) => return Err(backend(&p, e)),
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn clear(&self) -> Result<()> {
        let _alone = self.exclusive();
        self.remove_tree("/")
    }

    /// Streams `reader` into a staging file, a chunk at a time, and places it as
    /// `file_save` does; a failing reader removes the staging file.
    fn file_save_from(&self, path: &SafePath, reader: &mut dyn std::io::Read) -> Result<u64> {
        Self::path(path)?;
        let _shared = self.shared();
        let (staged, len) = self.stage_from(path, reader)?;
        self.place(path, &staged, false, &mut Vec::new())?;
        Ok(len)
    }

    /// An open descriptor of the value: it keeps the value it was opened on, whatever
    /// replaces the key meanwhile (a save renames a new file over the name).
    fn file_reader(&self, path: &SafePath) -> Result<Option<ValueReader<'_>>> {
        let _shared = self.shared();
        Ok(self
            .open_value(path)?
            .map(|(file, _)| Box::new(file) as ValueReader<'_>))
    }

    /// Reads the range alone, with `pread`.
    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let _shared = self.shared();
        let Some((file, size)) = self.open_value(path)? else {
            return Ok(None);
        };
        let len = len.min(size.saturating_sub(offset));
        let mut out = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
        let mut filled = 0;
        while filled < out.len() {
            let at = i64::try_from(offset + filled as u64).unwrap_or(i64::MAX);
            match self.fs.pread(file.fd(), &mut out[filled..], at) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Err(backend(path.as_str(), e)),
            }
        }
        out.truncate(filled);
        Ok(Some(out))
    }

    fn file_size(&self, path: &SafePath) -> Result<Option<u64>> {
        let p = Self::path(path)?;
        let _shared = self.shared();
        match self.fs.lstat(&p) {
            Ok(st) => Ok(st.is_file().then_some(st.size)),
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(backend(&p, e)),
        }
    }

    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        let _shared = self.shared();
        Ok(self.read(path)?.map(|bytes| {
            let version = Version::of_bytes(&bytes);
            (bytes, version)
        }))
    }

    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        Self::path(path)?;
        let _alone = self.exclusive();
        expect.check(path, self.version_of(path)?.as_ref())?;
        let staged = self.stage(data).map_err(|e| backend(path.as_str(), e))?;
        self.place(
            path,
            &staged,
            matches!(expect, Expect::Absent),
            &mut Vec::new(),
        )?;
        Ok(Version::of_bytes(data))
    }

    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        crate::apply::apply(self, batch)
    }

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        let mut batch = Batch::new();
        for (path, data) in items {
            batch = batch.put(path.clone(), data);
        }
        self.apply(&batch)
    }

    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        let _alone = self.exclusive();
        let mut present = 0;
        let mut batch = Batch::new();
        for path in paths {
            // A key named twice counts once, as it exists once.
            if self.is_value(path)? && !batch.writes().iter().any(|w| w.path() == path) {
                present += 1;
            }
            batch = batch.delete(path.clone());
        }
        crate::apply::apply_locked(self, &batch)?;
        Ok(present)
    }
}

//! `MemoryStorage`: the `Storage` trait on a POSIX tree.

use std::sync::atomic::{AtomicU64, Ordering};

use memory_fs_posix::{Errno, MemoryFileSystem, OpenFlags};
use memory_fs_storage::{Capabilities, Result, SafePath, Storage, StorageError};

use crate::MemoryConfig;
use crate::error::{BACKEND, backend};

/// Root-level directory holding staging files; never a key.
const STAGING: &str = ".memory-fs-staging";

/// An in-memory key–value store on a [`MemoryFileSystem`].
///
/// Cheap to clone: clones share the tree.
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    fs: MemoryFileSystem,
    next: std::sync::Arc<AtomicU64>,
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
            next: std::sync::Arc::new(AtomicU64::new(0)),
        }
    }

    /// The tree under this store.
    pub fn fs(&self) -> &MemoryFileSystem {
        &self.fs
    }

    fn path(key: &SafePath) -> Result<String> {
        if key.segments().next() == Some(STAGING) {
            return Err(StorageError::Conflict {
                path: key.to_string(),
                reason: format!("`{STAGING}` is reserved for the memory store's staging files"),
            });
        }
        Ok(format!("/{key}"))
    }

    /// Writes `data` to a fresh staging file and returns its path.
    fn stage(&self, data: &[u8]) -> std::result::Result<String, memory_fs_posix::PosixError> {
        let staging = format!("/{STAGING}/{}", self.next.fetch_add(1, Ordering::Relaxed));
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCL;
        let fd = match self.fs.open(&staging, flags, 0o644) {
            Err(e) if e.errno() == Errno::ENOENT => {
                match self.fs.mkdir(&format!("/{STAGING}"), 0o755) {
                    Ok(()) => {}
                    Err(e) if e.errno() == Errno::EEXIST => {}
                    Err(e) => return Err(e),
                }
                self.fs.open(&staging, flags, 0o644)?
            }
            other => other?,
        };
        let written = write_all(&self.fs, fd, data);
        let closed = self.fs.close(fd);
        if let Err(e) = written.and(closed) {
            let _ = self.fs.unlink(&staging);
            return Err(e);
        }
        Ok(staging)
    }

    /// Creates the directories above `path`; a file in the way is a key conflict.
    fn make_parents(&self, key: &SafePath) -> Result<()> {
        let mut dir = String::new();
        let segments: Vec<&str> = key.segments().collect();
        for segment in &segments[..segments.len().saturating_sub(1)] {
            dir.push('/');
            dir.push_str(segment);
            match self.fs.mkdir(&dir, 0o755) {
                Ok(()) => {}
                Err(e) if e.errno() == Errno::EEXIST => {
                    if !self.fs.lstat(&dir).map_err(|e| backend(&dir, e))?.is_dir() {
                        return Err(conflict(key, &format!("`{}` is a key", &dir[1..])));
                    }
                }
                Err(e) if e.errno() == Errno::ENOTDIR => {
                    return Err(conflict(key, "a key is in the way of its directories"));
                }
                Err(e) => return Err(backend(&dir, e)),
            }
        }
        Ok(())
    }

    /// Moves a staged file into place; `link` instead of `rename` refuses an existing key.
    fn place(&self, key: &SafePath, staged: &str, exclusive: bool) -> Result<()> {
        let path = Self::path(key)?;
        let attempt = |fs: &MemoryFileSystem| {
            if exclusive {
                fs.link(staged, &path)
            } else {
                fs.rename(staged, &path)
            }
        };
        let mut result = attempt(&self.fs);
        if matches!(&result, Err(e) if e.errno() == Errno::ENOENT) {
            if let Err(e) = self.make_parents(key) {
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

    /// Removes now-empty directories above `key`, deepest first.
    fn prune(&self, key: &SafePath) {
        let mut parent = key.parent();
        while let Some(dir) = parent {
            if self.fs.rmdir(&format!("/{dir}")).is_err() {
                return;
            }
            parent = dir.parent();
        }
    }

    fn walk(&self, dir: &str, out: &mut Vec<SafePath>) -> Result<()> {
        let at = if dir.is_empty() { "/" } else { dir };
        let names = match self.fs.readdir(at) {
            Ok(names) => names,
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
            Err(e) => return Err(backend(at, e)),
        };
        for name in names {
            if dir.is_empty() && name == STAGING {
                continue;
            }
            let path = format!("{dir}/{name}");
            let st = self.fs.lstat(&path).map_err(|e| backend(&path, e))?;
            if st.is_dir() {
                self.walk(&path, out)?;
            } else if let Ok(key) = SafePath::new(&path[1..]) {
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
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_create(true)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        Self::path(path)?;
        let staged = self.stage(data).map_err(|e| backend(path.as_str(), e))?;
        self.place(path, &staged, false)
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        Self::path(path)?;
        let staged = self.stage(data).map_err(|e| backend(path.as_str(), e))?;
        self.place(path, &staged, true)
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        let p = Self::path(path)?;
        match self.fs.read_file(&p) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR) => {
                Ok(None)
            }
            Err(e) => Err(backend(&p, e)),
        }
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        let p = Self::path(path)?;
        match self.fs.lstat(&p) {
            Ok(st) => Ok(st.is_file()),
            Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => Ok(false),
            Err(e) => Err(backend(&p, e)),
        }
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        let p = Self::path(path)?;
        match self.fs.unlink(&p) {
            Ok(()) => {
                self.prune(path);
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
        match prefix {
            None => self.walk("", &mut out)?,
            Some(prefix) => {
                let p = Self::path(prefix)?;
                match self.fs.lstat(&p) {
                    Ok(st) if st.is_dir() => self.walk(&p, &mut out)?,
                    Ok(_) => out.push(prefix.clone()),
                    Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => {}
                    Err(e) => return Err(backend(&p, e)),
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn clear(&self) -> Result<()> {
        self.remove_tree("/")
    }
}

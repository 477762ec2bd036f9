//! `DiskStorage`: the `Storage` trait on one directory of the local filesystem.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as Io, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memory_fs_storage::{Capabilities, Result, SafePath, Storage, StorageError};

use crate::DiskConfig;
use crate::error::{BACKEND, io};

/// Prefix of temporary file names; never a key.
const TMP_PREFIX: &str = ".memory-fs-tmp.";

static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// A key–value store of files under one root directory.
#[derive(Debug, Clone)]
pub struct DiskStorage {
    root: PathBuf,
    fsync: bool,
}

fn conflict(key: &SafePath, reason: impl Into<String>) -> StorageError {
    StorageError::Conflict {
        path: key.to_string(),
        reason: reason.into(),
    }
}

impl DiskStorage {
    /// A store at `root` (created if missing), with `fsync` on.
    ///
    /// # Errors
    /// A backend error if the root cannot be created or is not a directory.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::with_config(DiskConfig::new(root.as_ref()))
    }

    /// A store with the given options.
    ///
    /// # Errors
    /// A backend error if the root cannot be created or is not a directory.
    pub fn with_config(config: DiskConfig) -> Result<Self> {
        let shown = config.root.display().to_string();
        fs::create_dir_all(&config.root).map_err(|e| io("creating the store root", &shown, e))?;
        let root = fs::canonicalize(&config.root)
            .map_err(|e| io("resolving the store root", &shown, e))?;
        Ok(Self {
            root,
            fsync: config.fsync,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn check_key(key: &SafePath) -> Result<()> {
        if key.file_name().starts_with(TMP_PREFIX) {
            return Err(conflict(
                key,
                format!("names starting with `{TMP_PREFIX}` are reserved for temporary files"),
            ));
        }
        Ok(())
    }

    /// Walks the directories above `key` without following links. `Ok(None)` when one
    /// is missing (or is a regular file, so the key cannot exist either).
    fn parent_dir(&self, key: &SafePath, create: bool) -> Result<Option<PathBuf>> {
        let mut dir = self.root.clone();
        let segments: Vec<&str> = key.segments().collect();
        for segment in &segments[..segments.len() - 1] {
            dir.push(segment);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(conflict(
                        key,
                        format!(
                            "`{segment}` is a symbolic link, which the disk store never follows"
                        ),
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) if create => {
                    return Err(conflict(key, format!("`{segment}` on its way is a key")));
                }
                Ok(_) => return Ok(None),
                Err(e) if e.kind() == Io::NotFound && create => match fs::create_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == Io::AlreadyExists => {
                        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                            return Err(conflict(key, format!("`{segment}` on its way is a key")));
                        }
                    }
                    Err(e) => return Err(io("creating a directory", key.as_str(), e)),
                },
                Err(e) if matches!(e.kind(), Io::NotFound | Io::NotADirectory) => return Ok(None),
                Err(e) => return Err(io("inspecting a directory", key.as_str(), e)),
            }
        }
        Ok(Some(dir))
    }

    /// Metadata of the key's own path, refusing a symlink there.
    fn leaf(&self, key: &SafePath) -> Result<Option<(PathBuf, fs::Metadata)>> {
        let Some(dir) = self.parent_dir(key, false)? else {
            return Ok(None);
        };
        let path = dir.join(key.file_name());
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => Err(conflict(
                key,
                "it is a symbolic link, which the disk store never follows",
            )),
            Ok(m) => Ok(Some((path, m))),
            Err(e) if matches!(e.kind(), Io::NotFound | Io::NotADirectory) => Ok(None),
            Err(e) => Err(io("inspecting a key", key.as_str(), e)),
        }
    }

    /// Writes `data` to a new temporary file in `dir` and returns its path.
    fn write_temp(&self, key: &SafePath, dir: &Path, data: &[u8]) -> Result<PathBuf> {
        let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{TMP_PREFIX}{}.{n}", std::process::id()));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)?;
            file.write_all(data)?;
            if self.fsync {
                file.sync_all()?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(io("writing a temporary file", key.as_str(), e))
            }
        }
    }

    fn sync_dir(&self, key: &SafePath, dir: &Path) -> Result<()> {
        if self.fsync {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("syncing a directory", key.as_str(), e))?;
        }
        Ok(())
    }

    fn save(&self, key: &SafePath, data: &[u8], exclusive: bool) -> Result<()> {
        Self::check_key(key)?;
        let dir = self
            .parent_dir(key, true)?
            .ok_or_else(|| conflict(key, "its directory cannot be created"))?;
        let target = dir.join(key.file_name());
        if let Ok(m) = fs::symlink_metadata(&target) {
            if m.file_type().is_symlink() {
                return Err(conflict(
                    key,
                    "it is a symbolic link, which the disk store never follows",
                ));
            }
            if m.is_dir() {
                return Err(conflict(key, "keys exist below it"));
            }
        }
        let tmp = self.write_temp(key, &dir, data)?;
        let placed = if exclusive {
            fs::hard_link(&tmp, &target)
        } else {
            fs::rename(&tmp, &target)
        };
        if exclusive || placed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        match placed {
            Ok(()) => self.sync_dir(key, &dir),
            Err(e) if exclusive && e.kind() == Io::AlreadyExists => {
                if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                    Err(conflict(key, "keys exist below it"))
                } else {
                    Err(StorageError::AlreadyExists {
                        path: key.to_string(),
                    })
                }
            }
            Err(e) if matches!(e.kind(), Io::IsADirectory | Io::DirectoryNotEmpty) => {
                Err(conflict(key, "keys exist below it"))
            }
            Err(e) => Err(io("renaming into place", key.as_str(), e)),
        }
    }

    /// Removes now-empty directories above `key`, deepest first, never the root.
    fn prune(&self, key: &SafePath) {
        let mut parent = key.parent();
        while let Some(dir) = parent {
            if fs::remove_dir(self.root.join(dir.as_str())).is_err() {
                return;
            }
            parent = dir.parent();
        }
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<SafePath>) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), Io::NotFound | Io::NotADirectory) => return Ok(()),
            Err(e) => return Err(io("listing a directory", rel, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io("listing a directory", rel, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // `file_type` does not follow symlinks: links are neither listed nor entered.
            let kind = entry
                .file_type()
                .map_err(|e| io("listing a directory", &child, e))?;
            if kind.is_dir() {
                self.walk(&entry.path(), &child, out)?;
            } else if kind.is_file()
                && let Ok(key) = SafePath::new(child)
            {
                out.push(key);
            }
        }
        Ok(())
    }
}

impl Storage for DiskStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_create(true)
            .with_persistent(true)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.save(path, data, false)
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.save(path, data, true)
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        Self::check_key(path)?;
        let Some((full, meta)) = self.leaf(path)? else {
            return Ok(None);
        };
        if !meta.is_file() {
            return Ok(None);
        }
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&full)
        {
            Ok(f) => f,
            Err(e) if e.kind() == Io::NotFound => return Ok(None),
            Err(e) => return Err(io("opening a key", path.as_str(), e)),
        };
        let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut data)
            .map_err(|e| io("reading a key", path.as_str(), e))?;
        Ok(Some(data))
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        Self::check_key(path)?;
        Ok(self.leaf(path)?.is_some_and(|(_, m)| m.is_file()))
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        Self::check_key(path)?;
        let Some((full, meta)) = self.leaf(path)? else {
            return Ok(false);
        };
        if !meta.is_file() {
            return Ok(false);
        }
        match fs::remove_file(&full) {
            Ok(()) => {
                self.prune(path);
                Ok(true)
            }
            Err(e) if e.kind() == Io::NotFound => Ok(false),
            Err(e) => Err(io("deleting a key", path.as_str(), e)),
        }
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let mut out = Vec::new();
        match prefix {
            None => self.walk(&self.root, "", &mut out)?,
            Some(prefix) => match self.leaf(prefix)? {
                Some((full, m)) if m.is_dir() => self.walk(&full, prefix.as_str(), &mut out)?,
                Some((_, m)) if m.is_file() && !prefix.file_name().starts_with(TMP_PREFIX) => {
                    out.push(prefix.clone())
                }
                _ => {}
            },
        }
        out.sort_unstable();
        Ok(out)
    }

    fn clear(&self) -> Result<()> {
        let shown = self.root.display().to_string();
        for entry in fs::read_dir(&self.root).map_err(|e| io("listing the root", &shown, e))? {
            let entry = entry.map_err(|e| io("listing the root", &shown, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| io("listing the root", &shown, e))?;
            let path = entry.path();
            let removed = if kind.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|e| io("clearing the store", &shown, e))?;
        }
        Ok(())
    }
}

//! `DiskStorage`: the `Storage` trait on one directory of the local filesystem.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as Io, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memory_fs_storage::{Capabilities, Result, SafePath, Storage, StorageError};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::DiskConfig;
use crate::beneath::{Root, Walk};
use crate::error::{BACKEND, io};

/// Prefix of temporary file names; never a key.
const TMP_PREFIX: &str = ".memory-fs-tmp.";

static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// A key–value store of files under one root directory.
#[derive(Debug, Clone)]
pub struct DiskStorage {
    root: PathBuf,
    /// The root, held open: keys resolve beneath it.
    dir: Arc<Root>,
    fsync: bool,
}

/// The directory that holds a key, opened.
enum DirFd<'a> {
    /// The store root itself.
    Root(&'a OwnedFd),
    /// A directory below it.
    Below(OwnedFd),
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DirFd::Root(fd) => fd.as_fd(),
            DirFd::Below(fd) => fd.as_fd(),
        }
    }
}

/// What a key's own name is, seen from its directory without following a link.
fn file_type_at(dir: &DirFd<'_>, name: &str) -> rustix::io::Result<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| FileType::from_raw_mode(st.st_mode))
}

fn symlink_refused(key: &SafePath) -> StorageError {
    conflict(
        key,
        "it is a symbolic link, which the disk store never follows",
    )
}

/// Reads an opened key, if it is a regular file.
fn read_open(key: &SafePath, fd: OwnedFd) -> Result<Option<Vec<u8>>> {
    let st = rustix::fs::fstat(&fd).map_err(|e| io("inspecting a key", key.as_str(), e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(usize::try_from(st.st_size).unwrap_or(0));
    File::from(fd)
        .read_to_end(&mut data)
        .map_err(|e| io("reading a key", key.as_str(), e))?;
    Ok(Some(data))
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
        let dir = Root::open(&root).map_err(|e| io("opening the store root", &shown, e))?;
        Ok(Self {
            root,
            dir: Arc::new(dir),
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

    /// The directory holding `key`, opened: beneath the root in one step where the
    /// kernel can, otherwise by [`parent_dir`](Self::parent_dir) (which creates missing
    /// directories when `create` is set). `Ok(None)` when it does not exist.
    fn parent_fd(&self, key: &SafePath, create: bool) -> Result<Option<DirFd<'_>>> {
        if create {
            self.check_root_present(key)?;
        }
        let Some(parent) = key.parent() else {
            return Ok(Some(DirFd::Root(self.dir.fd())));
        };
        match self
            .dir
            .walk(parent.as_str(), OFlags::PATH | OFlags::DIRECTORY)
        {
            Walk::Found(fd) => return Ok(Some(DirFd::Below(fd))),
            Walk::Missing if !create => return Ok(None),
            Walk::Missing | Walk::Portable => {}
        }
        let Some(path) = self.parent_dir(key, create)? else {
            return Ok(None);
        };
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::open(&path, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(DirFd::Below(fd))),
            Err(Errno::NOENT | Errno::NOTDIR) if !create => Ok(None),
            Err(e) => Err(io("opening a directory", key.as_str(), e.into())),
        }
    }

    /// Refuses to write into a root that was deleted while the store held it open,
    /// where the bytes would be unreachable.
    fn check_root_present(&self, key: &SafePath) -> Result<()> {
        let st = rustix::fs::fstat(self.dir.fd())
            .map_err(|e| io("inspecting the store root", key.as_str(), e.into()))?;
        if st.st_nlink == 0 {
            return Err(io(
                "writing a key",
                key.as_str(),
                std::io::Error::new(
                    Io::NotFound,
                    format!("the store root {} was deleted", self.root.display()),
                ),
            ));
        }
        Ok(())
    }

    /// Metadata of the key's own path, refusing a symlink there.
    fn leaf(&self, key: &SafePath) -> Result<Option<(PathBuf, fs::Metadata)>> {
        let Some(dir) = self.parent_dir(key, false)? else {
            return Ok(None);
        };
        let path = dir.join(key.file_name());
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => Err(symlink_refused(key)),
            Ok(m) => Ok(Some((path, m))),
            Err(e) if matches!(e.kind(), Io::NotFound | Io::NotADirectory) => Ok(None),
            Err(e) => Err(io("inspecting a key", key.as_str(), e)),
        }
    }

    /// Writes `data` to a new temporary file in `dir` and returns its name.
    fn write_temp(&self, key: &SafePath, dir: &DirFd<'_>, data: &[u8]) -> Result<String> {
        let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = format!("{TMP_PREFIX}{}.{n}", std::process::id());
        let result = (|| {
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(dir, tmp.as_str(), flags, Mode::from_raw_mode(0o644))?;
            let mut file = File::from(fd);
            file.write_all(data)?;
            if self.fsync {
                file.sync_all()?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
                Err(io("writing a temporary file", key.as_str(), e))
            }
        }
    }

    fn sync_dir(&self, key: &SafePath, dir: &DirFd<'_>) -> Result<()> {
        if self.fsync {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            rustix::fs::openat(dir, ".", flags, Mode::empty())
                .and_then(rustix::fs::fsync)
                .map_err(|e| io("syncing a directory", key.as_str(), e.into()))?;
        }
        Ok(())
    }

    fn save(&self, key: &SafePath, data: &[u8], exclusive: bool) -> Result<()> {
        Self::check_key(key)?;
        let dir = self
            .parent_fd(key, true)?
            .ok_or_else(|| conflict(key, "its directory cannot be created"))?;
        let name = key.file_name();
        match file_type_at(&dir, name) {
            Ok(FileType::Symlink) => return Err(symlink_refused(key)),
            Ok(FileType::Directory) => return Err(conflict(key, "keys exist below it")),
            _ => {}
        }
        let tmp = self.write_temp(key, &dir, data)?;
        let placed = if exclusive {
            rustix::fs::linkat(&dir, tmp.as_str(), &dir, name, AtFlags::empty())
        } else {
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name)
        };
        if exclusive || placed.is_err() {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        }
        match placed {
            Ok(()) => self.sync_dir(key, &dir),
            Err(Errno::EXIST) if exclusive => {
                if file_type_at(&dir, name).is_ok_and(|t| t == FileType::Directory) {
                    Err(conflict(key, "keys exist below it"))
                } else {
                    Err(StorageError::AlreadyExists {
                        path: key.to_string(),
                    })
                }
            }
            Err(Errno::ISDIR | Errno::NOTEMPTY) => Err(conflict(key, "keys exist below it")),
            Err(e) => Err(io("renaming into place", key.as_str(), e.into())),
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
        // Non-blocking, so a FIFO planted in the store is seen and skipped, not waited on.
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        match self.dir.walk(path.as_str(), flags) {
            Walk::Found(fd) => return read_open(path, fd),
            Walk::Missing => return Ok(None),
            Walk::Portable => {}
        }
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
        match self.dir.walk(path.as_str(), OFlags::PATH) {
            Walk::Found(fd) => {
                match rustix::fs::fstat(&fd).map(|st| FileType::from_raw_mode(st.st_mode)) {
                    // A link itself (`O_PATH | O_NOFOLLOW` opens it): the portable walk refuses it.
                    Ok(FileType::Symlink) => {}
                    Ok(kind) => return Ok(kind == FileType::RegularFile),
                    Err(e) => return Err(io("inspecting a key", path.as_str(), e.into())),
                }
            }
            Walk::Missing => return Ok(false),
            Walk::Portable => {}
        }
        Ok(self.leaf(path)?.is_some_and(|(_, m)| m.is_file()))
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        Self::check_key(path)?;
        let Some(dir) = self.parent_fd(path, false)? else {
            return Ok(false);
        };
        let name = path.file_name();
        match file_type_at(&dir, name) {
            Ok(FileType::RegularFile) => {}
            Ok(FileType::Symlink) => return Err(symlink_refused(path)),
            Ok(_) | Err(Errno::NOENT | Errno::NOTDIR) => return Ok(false),
            Err(e) => return Err(io("inspecting a key", path.as_str(), e.into())),
        }
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => {
                self.prune(path);
                Ok(true)
            }
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io("deleting a key", path.as_str(), e.into())),
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

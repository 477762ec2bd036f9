//! `DiskStorage`: the `Storage` trait on one directory of the local filesystem.

use std::ffi::CStr;
use std::fs::File;
use std::io::{ErrorKind as Io, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memory_fs_storage::{
    Batch, CHUNK, Capabilities, Expect, Result, SafePath, Storage, StorageError, ValueReader,
    Version, Write, read_full,
};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::DiskConfig;
use crate::beneath::{Blocked, DirFd, DirWalk, Root, Walk, step};
use crate::error::{BACKEND, io};
use crate::listing::{DirBuf, Listed, read_entries};

/// Prefix of temporary file names; never a key.
const TMP_PREFIX: &str = ".memory-fs-tmp.";

/// How often a save starts over when a directory it made is pruned under it by a
/// concurrent delete.
const SAVE_RETRIES: usize = 8;

/// How often `clear` tries again to remove a name that keeps changing between a
/// directory and something else (or keeps being filled) while it is removed.
const CLEAR_RETRIES: usize = 64;

static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// A key–value store of files under one root directory.
///
/// Versions ([`Storage::file_get`]) are [`Version::of_bytes`] of the value.
/// Conditional writes and batches hold a lock on the root (`flock`, and a mutex inside
/// the process), so they are ordered against each other across threads and processes.
#[derive(Debug, Clone)]
pub struct DiskStorage {
    root: PathBuf,
    /// The root, held open: keys resolve beneath it.
    dir: Arc<Root>,
    fsync: bool,
}

/// Why one attempt at a save failed.
enum SaveError {
    /// A directory on the way vanished (pruned by a concurrent delete): try again.
    Raced,
    /// Any other failure, final.
    Failed(StorageError),
}

/// Where the bytes of a save come from.
enum Source<'a> {
    /// A value in memory.
    Bytes(&'a [u8]),
    /// A caller's reader, copied chunk by chunk; `started` once it has been read from,
    /// after which a save cannot start over.
    Reader {
        reader: &'a mut dyn Read,
        started: bool,
    },
    /// A stored value opened for reading, copied inside the kernel.
    File(&'a mut File),
}

impl Source<'_> {
    /// Makes the source yield its bytes from the start again, if it can.
    fn rewind(&mut self) -> bool {
        match self {
            Source::Bytes(_) => true,
            Source::Reader { started, .. } => !*started,
            Source::File(file) => std::io::Seek::rewind(file).is_ok(),
        }
    }
}

/// Why writing a temporary file failed.
enum TempError {
    /// Writing (or opening) the temporary file failed.
    Io(std::io::Error),
    /// The caller's reader failed.
    Input(std::io::Error),
}

impl From<StorageError> for SaveError {
    fn from(e: StorageError) -> Self {
        Self::Failed(e)
    }
}

/// What a key's own name is, seen from its directory without following a link.
fn file_type_at(dir: &impl AsFd, name: &str) -> rustix::io::Result<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| FileType::from_raw_mode(st.st_mode))
}

fn symlink_refused(key: &SafePath) -> StorageError {
    conflict(
        key,
        "it is a symbolic link, which the disk store never follows",
    )
}

/// The error for something in a walk's way.
fn blocked(key: &SafePath, blocked: &Blocked) -> StorageError {
    let segment = &blocked.segment;
    if blocked.link {
        conflict(
            key,
            format!("`{segment}` is a symbolic link, which the disk store never follows"),
        )
    } else {
        conflict(key, format!("`{segment}` on its way is a key"))
    }
}

/// An opened key and its length, if it is a regular file.
fn regular(key: &SafePath, fd: OwnedFd) -> Result<Option<(File, u64)>> {
    let st = rustix::fs::fstat(&fd).map_err(|e| io("inspecting a key", key.as_str(), e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    Ok(Some((
        File::from(fd),
        u64::try_from(st.st_size).unwrap_or(0),
    )))
}

/// Reads `len` bytes at `offset` of `file` (fewer at its end) with `pread`.
fn read_range(key: &SafePath, file: &File, offset: u64, len: u64) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut out = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
    let mut filled = 0;
    while filled < out.len() {
        match file.read_at(&mut out[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == Io::Interrupted => {}
            Err(e) => return Err(io("reading a key", key.as_str(), e)),
        }
    }
    out.truncate(filled);
    Ok(out)
}

fn conflict(key: &SafePath, reason: impl Into<String>) -> StorageError {
    StorageError::Conflict {
        path: key.to_string(),
        reason: reason.into(),
    }
}

/// The directory part of `key` (all but the last segment; `""` for none).
fn dir_of(key: &SafePath) -> &str {
    let key = key.as_str();
    key.rfind('/').map_or("", |i| &key[..i])
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
        std::fs::create_dir_all(&config.root)
            .map_err(|e| io("creating the store root", &shown, e))?;
        let root = std::fs::canonicalize(&config.root)
            .map_err(|e| io("resolving the store root", &shown, e))?;
        let dir = Root::open(&root, config.open_dirs)
            .map_err(|e| io("opening the store root", &shown, e))?;
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

    /// The directory holding `key`, opened beneath the root without following a link;
    /// `create` makes missing directories. `Ok(None)` when it does not exist.
    fn parent(&self, key: &SafePath, create: bool) -> Result<Option<DirFd<'_>>> {
        match self.dir.parent_dir(dir_of(key), create) {
            Ok(DirWalk::Found(dir)) => Ok(Some(dir)),
            Ok(DirWalk::Missing) => Ok(None),
            Ok(DirWalk::Blocked(b)) => Err(blocked(key, &b)),
            Err(e) if create => Err(io("creating a directory", key.as_str(), e)),
            Err(e) => Err(io("opening a directory", key.as_str(), e)),
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

    /// Writes the bytes of `source` to a new temporary file in `dir` and returns its
    /// name and how many bytes it holds. A reader is copied as its chunks arrive, so
    /// no more than one chunk of it is in memory; a stored file is copied inside the
    /// kernel (`copy_file_range`). On any failure the temporary file is removed.
    fn write_temp(
        &self,
        dir: &DirFd<'_>,
        source: &mut Source<'_>,
    ) -> std::result::Result<(String, u64), TempError> {
        let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = format!("{TMP_PREFIX}{}.{n}", std::process::id());
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(dir, tmp.as_str(), flags, Mode::from_raw_mode(0o644))
            .map_err(|e| TempError::Io(e.into()))?;
        let written = (|| {
            let mut file = File::from(fd);
            let len = match source {
                Source::Bytes(data) => {
                    file.write_all(data).map_err(TempError::Io)?;
                    data.len() as u64
                }
                Source::File(from) => std::io::copy(from, &mut file).map_err(TempError::Io)?,
                Source::Reader { reader, started } => {
                    *started = true;
                    let mut buf = vec![0; CHUNK];
                    let mut len = 0;
                    loop {
                        let n = read_full(*reader, &mut buf).map_err(TempError::Input)?;
                        file.write_all(&buf[..n]).map_err(TempError::Io)?;
                        len += n as u64;
                        if n < buf.len() {
                            break len;
                        }
                    }
                }
            };
            if self.fsync {
                file.sync_all().map_err(TempError::Io)?;
            }
            Ok(len)
        })();
        match written {
            Ok(len) => Ok((tmp, len)),
            Err(e) => {
                let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
                Err(e)
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
        self.save_source(key, &mut Source::Bytes(data), exclusive)
            .map(drop)
    }

    /// Saves the bytes of `source` at `key` through a temporary file renamed (or,
    /// `exclusive`, linked) into place, and returns their length.
    fn save_source(&self, key: &SafePath, source: &mut Source<'_>, exclusive: bool) -> Result<u64> {
        Self::check_key(key)?;
        self.check_root_present(key)?;
        for _ in 0..SAVE_RETRIES {
            match self.try_save(key, source, exclusive) {
                Ok(len) => return Ok(len),
                Err(SaveError::Raced) if source.rewind() => {}
                Err(SaveError::Raced) => {
                    return Err(io(
                        "writing a key",
                        key.as_str(),
                        std::io::Error::new(
                            Io::NotFound,
                            "its directory was removed while the streamed value was written",
                        ),
                    ));
                }
                Err(SaveError::Failed(e)) => return Err(e),
            }
        }
        Err(io(
            "writing a key",
            key.as_str(),
            std::io::Error::new(
                Io::NotFound,
                "its directory was removed again and again while the key was written",
            ),
        ))
    }

    fn try_save(
        &self,
        key: &SafePath,
        source: &mut Source<'_>,
        exclusive: bool,
    ) -> std::result::Result<u64, SaveError> {
        let dir = self
            .parent(key, true)?
            .ok_or_else(|| conflict(key, "its directory cannot be created"))?;
        let name = key.file_name();
        match file_type_at(&dir, name) {
            Ok(FileType::Symlink) => return Err(symlink_refused(key).into()),
            Ok(FileType::Directory) => return Err(conflict(key, "keys exist below it").into()),
            _ => {}
        }
        let (tmp, len) = match self.write_temp(&dir, source) {
            Ok(written) => written,
            // The directory was removed after it was opened.
            Err(TempError::Io(e)) if e.kind() == Io::NotFound => return Err(SaveError::Raced),
            Err(TempError::Io(e)) => {
                return Err(io("writing a temporary file", key.as_str(), e).into());
            }
            Err(TempError::Input(e)) => return Err(StorageError::input(key, e).into()),
        };
        let placed = if exclusive {
            rustix::fs::linkat(&dir, tmp.as_str(), &dir, name, AtFlags::empty())
        } else {
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name)
        };
        if exclusive || placed.is_err() {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        }
        match placed {
            Ok(()) => {
                dir.saw(name);
                self.sync_dir(key, &dir)?;
                Ok(len)
            }
            Err(Errno::NOENT) => Err(SaveError::Raced),
            Err(Errno::EXIST) if exclusive => {
                if file_type_at(&dir, name).is_ok_and(|t| t == FileType::Directory) {
                    Err(conflict(key, "keys exist below it").into())
                } else {
                    Err(StorageError::AlreadyExists {
                        path: key.to_string(),
                    }
                    .into())
                }
            }
            Err(Errno::ISDIR | Errno::NOTEMPTY) => Err(conflict(key, "keys exist below it").into()),
            Err(e) => Err(io("renaming into place", key.as_str(), e.into()).into()),
        }
    }

    /// Removes now-empty directories above `key`, deepest first, never the root. Each
    /// is removed by name from its own opened parent (`rmdir` removes nothing but an
    /// empty directory, whatever was swapped in). `holder` is the directory holding
    /// the key's own directory, when the caller has it.
    fn prune(&self, key: &SafePath, mut holder: Option<DirFd<'_>>) {
        let mut dir = dir_of(key);
        while !dir.is_empty() {
            let (above, name) = dir.rsplit_once('/').unwrap_or(("", dir));
            let holder_fd = match holder.take() {
                Some(fd) => fd,
                None => match self.dir.parent_dir(above, false) {
                    Ok(DirWalk::Found(fd)) => fd,
                    _ => return,
                },
            };
            if rustix::fs::unlinkat(&holder_fd, name, AtFlags::REMOVEDIR).is_err() {
                return;
            }
            dir = above;
        }
    }

    /// The bytes at `key`, or `None`.
    fn read(&self, key: &SafePath) -> Result<Option<Vec<u8>>> {
        let Some((mut file, len)) = self.open_value(key)? else {
            return Ok(None);
        };
        let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.read_to_end(&mut data)
            .map_err(|e| io("reading a key", key.as_str(), e))?;
        Ok(Some(data))
    }

    /// The value at `key` opened for reading, beneath the root without following a
    /// link, with its length; `None` when there is no value (or something other than
    /// a regular file is there).
    fn open_value(&self, key: &SafePath) -> Result<Option<(File, u64)>> {
        Self::check_key(key)?;
        // Non-blocking, so a FIFO planted in the store is seen and skipped, not waited on.
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        if !self.dir.keeps() {
            match self.dir.fast(key.as_str(), flags) {
                Some(Walk::Found(fd)) => return regular(key, fd),
                Some(Walk::Missing) => return Ok(None),
                Some(Walk::Blocked(_)) | None => {}
            }
        }
        let Some(dir) = self.parent(key, false)? else {
            return Ok(None);
        };
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&dir, key.file_name(), flags, Mode::empty()) {
            Ok(fd) => regular(key, fd),
            Err(Errno::LOOP) => Err(symlink_refused(key)),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::NXIO) => Ok(None),
            Err(e) => Err(io("opening a key", key.as_str(), e.into())),
        }
    }

    /// Lists the keys in the opened, readable directory `fd` (at `rel`) and below it,
    /// in byte order: each directory's entries are sorted on their own (see
    /// [`Listed`]), so the listing needs no sort of its own.
    fn walk(
        &self,
        fd: OwnedFd,
        rel: &str,
        out: &mut Vec<SafePath>,
        buf: &mut DirBuf,
    ) -> Result<()> {
        let shown = if rel.is_empty() { "." } else { rel };
        let err = |e: Errno| io("listing a directory", shown, e.into());
        // The length of a key's directory part, `rel/`.
        let base = if rel.is_empty() { 0 } else { rel.len() + 1 };
        let mut entries = Vec::new();
        read_entries(&fd, buf, |name, kind| {
            let Ok(name) = name.to_str() else {
                return Ok(());
            };
            if name.starts_with(TMP_PREFIX) {
                return Ok(());
            }
            let kind = match kind {
                FileType::Unknown => match file_type_at(&fd, name) {
                    Ok(kind) => kind,
                    Err(Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(e),
                },
                kind => kind,
            };
            match kind {
                FileType::Directory => {
                    let mut dir = String::with_capacity(name.len() + 1);
                    dir.push_str(name);
                    dir.push('/');
                    entries.push(Listed::Dir(dir));
                }
                FileType::RegularFile => {
                    let mut key = String::with_capacity(base + name.len());
                    if !rel.is_empty() {
                        key.push_str(rel);
                        key.push('/');
                    }
                    key.push_str(name);
                    // A name that makes no valid key (another program's) is not listed.
                    if let Ok(key) = SafePath::new(key) {
                        entries.push(Listed::Key(key, base));
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .map_err(err)?;
        Listed::sort(&mut entries);
        for entry in entries {
            match entry {
                Listed::Key(key, _) => out.push(key),
                Listed::Dir(mut name) => {
                    name.pop();
                    let child = if rel.is_empty() {
                        name
                    } else {
                        format!("{rel}/{name}")
                    };
                    let name = &child[base..];
                    // Entered only as the directory it is now, never through a link.
                    if let Walk::Found(sub) = step(&fd, name, OFlags::RDONLY, false)
                        .map_err(|e| io("listing a directory", &child, e))?
                    {
                        self.walk(sub, &child, out, buf)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes everything in the opened, readable directory `fd`, links as links.
    fn remove_contents(&self, fd: OwnedFd) -> std::io::Result<()> {
        let mut dir = Dir::new(fd)?;
        while let Some(entry) = dir.read() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(Errno::NOENT) => break,
                Err(e) => return Err(e.into()),
            };
            let name: &CStr = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let at = dir.fd()?;
            let is_dir = match entry.file_type() {
                FileType::Unknown => rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
                kind => kind == FileType::Directory,
            };
            self.remove_entry(&at, name, is_dir)?;
        }
        Ok(())
    }

    /// Removes `name` in `at`, a directory with all it holds, anything else as itself.
    /// A name swapped between a directory and something else while it is removed is
    /// removed as what it has become.
    fn remove_entry(&self, at: &impl AsFd, name: &CStr, mut is_dir: bool) -> std::io::Result<()> {
        let mut last = Errno::AGAIN;
        for _ in 0..CLEAR_RETRIES {
            let removed = if is_dir {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                match rustix::fs::openat(at, name, flags, Mode::empty()) {
                    Ok(sub) => {
                        self.remove_contents(sub)?;
                        rustix::fs::unlinkat(at, name, AtFlags::REMOVEDIR)
                    }
                    Err(Errno::LOOP | Errno::NOTDIR) => Err(Errno::NOTDIR),
                    Err(e) => Err(e),
                }
            } else {
                rustix::fs::unlinkat(at, name, AtFlags::empty())
            };
            match removed {
                Ok(()) | Err(Errno::NOENT) => return Ok(()),
                // A link or a file now: remove that.
                Err(Errno::NOTDIR) if is_dir => is_dir = false,
                // A directory now: empty it first.
                Err(Errno::ISDIR | Errno::PERM) if !is_dir => is_dir = true,
                // Something was put in it meanwhile: empty it again.
                Err(Errno::NOTEMPTY | Errno::EXIST) if is_dir => {}
                Err(e) => return Err(e.into()),
            }
            last = if is_dir {
                Errno::NOTEMPTY
            } else {
                Errno::ISDIR
            };
        }
        Err(last.into())
    }

    /// The version of the value at `key`.
    fn version(&self, key: &SafePath) -> Result<Option<Version>> {
        Ok(self.read(key)?.map(|bytes| Version::of_bytes(&bytes)))
    }

    fn lock(&self) -> Result<crate::beneath::Locked<'_>> {
        let shown = self.root.display().to_string();
        self.dir
            .lock()
            .map_err(|e| io("locking the store root", &shown, e))
    }
}

impl Storage for DiskStorage {
    /// inotify (through `notify`) on the deepest real directory on the way to
    /// `prefix`, recursively: a change by any process is a signal. A symlink on the
    /// way is not followed (its parent is watched instead).
    fn watch_keys(&self, prefix: &SafePath) -> Result<Option<memory_fs_storage::KeyWatch>> {
        use notify::Watcher as _;
        let mut dir = self.root.join(prefix.as_str());
        while dir != self.root && !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            dir.pop();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let failed = |e: notify::Error| StorageError::backend(BACKEND, Some(prefix.as_str()), e);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    let _ = tx.send(());
                }
            })
            .map_err(failed)?;
        watcher
            .watch(&dir, notify::RecursiveMode::Recursive)
            .map_err(failed)?;
        Ok(Some(memory_fs_storage::KeyWatch::new(move |timeout| {
            let _watching = &watcher;
            match rx.recv_timeout(timeout) {
                Ok(()) => {
                    while rx.try_recv().is_ok() {}
                    true
                }
                Err(_) => false,
            }
        })))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_create(true)
            .with_conditional_write(true)
            .with_persistent(true)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.save(path, data, false)
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.save(path, data, true)
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        self.read(path)
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        Self::check_key(path)?;
        let fast = if self.dir.keeps() {
            None
        } else {
            self.dir.fast(path.as_str(), OFlags::PATH)
        };
        if let Some(walk) = fast {
            match walk {
                Walk::Found(fd) => {
                    match rustix::fs::fstat(&fd).map(|st| FileType::from_raw_mode(st.st_mode)) {
                        // A link itself (`O_PATH | O_NOFOLLOW` opens it): refused below.
                        Ok(FileType::Symlink) => {}
                        Ok(kind) => return Ok(kind == FileType::RegularFile),
                        Err(e) => return Err(io("inspecting a key", path.as_str(), e.into())),
                    }
                }
                Walk::Missing => return Ok(false),
                Walk::Blocked(_) => {}
            }
        }
        let Some(dir) = self.parent(path, false)? else {
            return Ok(false);
        };
        match file_type_at(&dir, path.file_name()) {
            Ok(FileType::Symlink) => Err(symlink_refused(path)),
            Ok(kind) => Ok(kind == FileType::RegularFile),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(false),
            Err(e) => Err(io("inspecting a key", path.as_str(), e.into())),
        }
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        Self::check_key(path)?;
        let (dir, holder) = match self.dir.parent_dir_with_holder(dir_of(path)) {
            Ok((DirWalk::Found(dir), holder)) => (dir, holder),
            Ok((DirWalk::Missing, _)) => return Ok(false),
            Ok((DirWalk::Blocked(b), _)) => return Err(blocked(path, &b)),
            Err(e) => return Err(io("opening a directory", path.as_str(), e)),
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
                // A name known to be there proves the directory is not empty, which
                // spares the `rmdir` that would fail.
                if !dir.holds_other_than(name) {
                    drop(dir);
                    self.prune(path, holder);
                }
                Ok(true)
            }
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io("deleting a key", path.as_str(), e.into())),
        }
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let mut out = Vec::new();
        match prefix {
            None => match self.dir.dir(&[], false, true) {
                Ok(DirWalk::Found(DirFd::Below(fd))) => {
                    self.walk(fd, "", &mut out, &mut DirBuf::default())?;
                }
                Ok(_) => {}
                Err(e) => return Err(io("listing the root", ".", e)),
            },
            Some(prefix) => {
                let Some(dir) = self.parent(prefix, false)? else {
                    return Ok(out);
                };
                let name = prefix.file_name();
                match file_type_at(&dir, name) {
                    Ok(FileType::Directory) => {
                        match step(&dir, name, OFlags::RDONLY, false)
                            .map_err(|e| io("listing a directory", prefix.as_str(), e))?
                        {
                            Walk::Found(fd) => {
                                self.walk(fd, prefix.as_str(), &mut out, &mut DirBuf::default())?;
                            }
                            Walk::Missing => {}
                            Walk::Blocked(b) => return Err(blocked(prefix, &b)),
                        }
                    }
                    Ok(FileType::RegularFile) if !name.starts_with(TMP_PREFIX) => {
                        out.push(prefix.clone());
                    }
                    Ok(FileType::Symlink) => return Err(symlink_refused(prefix)),
                    Ok(_) | Err(Errno::NOENT | Errno::NOTDIR) => {}
                    Err(e) => return Err(io("listing a directory", prefix.as_str(), e.into())),
                }
            }
        }
        Ok(out)
    }

    fn clear(&self) -> Result<()> {
        let shown = self.root.display().to_string();
        let err = |e| io("clearing the store", &shown, e);
        match self.dir.dir(&[], false, true).map_err(err)? {
            DirWalk::Found(DirFd::Below(fd)) => self.remove_contents(fd).map_err(err),
            _ => Ok(()),
        }
    }

    /// Streams `reader` into a temporary file beside the key, a chunk at a time, and
    /// renames it into place; a failing reader removes the temporary file.
    fn file_save_from(&self, path: &SafePath, reader: &mut dyn Read) -> Result<u64> {
        let mut source = Source::Reader {
            reader,
            started: false,
        };
        self.save_source(path, &mut source, false)
    }

    /// The opened file: it stays the value it was when opened, whatever replaces the
    /// key meanwhile (a save renames a new file over the name).
    fn file_reader(&self, path: &SafePath) -> Result<Option<ValueReader<'_>>> {
        Ok(self
            .open_value(path)?
            .map(|(file, _)| Box::new(file) as ValueReader<'_>))
    }

    /// Reads the range alone, with `pread`.
    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let Some((file, size)) = self.open_value(path)? else {
            return Ok(None);
        };
        let len = len.min(size.saturating_sub(offset));
        read_range(path, &file, offset, len).map(Some)
    }

    fn file_size(&self, path: &SafePath) -> Result<Option<u64>> {
        Ok(self.open_value(path)?.map(|(_, size)| size))
    }

    /// Copies inside the kernel (`copy_file_range`) from the opened source into a
    /// temporary file renamed into place.
    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        Self::check_key(to)?;
        let Some((mut file, _)) = self.open_value(from)? else {
            return Ok(false);
        };
        self.save_source(to, &mut Source::File(&mut file), false)?;
        Ok(true)
    }

    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        Ok(self.read(path)?.map(|bytes| {
            let version = Version::of_bytes(&bytes);
            (bytes, version)
        }))
    }

    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        Self::check_key(path)?;
        let _locked = self.lock()?;
        expect.check(path, self.version(path)?.as_ref())?;
        self.save(path, data, matches!(expect, Expect::Absent))?;
        Ok(Version::of_bytes(data))
    }

    /// Checks, then writes in order, holding the lock of conditional writes throughout:
    /// against other conditional writers and batches (of any process) the checks and
    /// the writes are one step. A write that fails leaves the earlier ones in place
    /// (the disk store has no `atomic_batch`).
    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        let _locked = self.lock()?;
        for (path, expect) in batch.checks() {
            Self::check_key(path)?;
            expect.check(path, self.version(path)?.as_ref())?;
        }
        for write in batch.writes() {
            match write {
                Write::Put { path, data } => self.save(path, data, false)?,
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
}

//! `MemoryFileSystem`: the public operations, each checked in Linux's order.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::changes::{InodeChange, Locked, Observers};
use crate::clock::{Clock, Now, Stamps, SystemClock};
use crate::cwd::Cwd;
use crate::data::Content;
use crate::error::Errno::{self, *};
use crate::error::{PosixError, Result};
use crate::flags::{AccessMode, OpenFlags, Whence};
use crate::path::{Last, MAX_SYMLINKS, NAME_MAX, PATH_MAX, Resolver, check_path};
use crate::stat::{
    S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID, S_ISUID,
    SetTime, Stat, Timespec,
};
use crate::state::{Dir, Ino, Inode, Kind, MAY_EXEC, MAY_READ, MAY_WRITE, ROOT, State};
use crate::watch::{EventKind, Watchers};

/// A file descriptor number, valid until [`MemoryFileSystem::close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fd(pub u32);

impl Fd {
    /// The descriptor's number.
    pub fn as_raw(self) -> u32 {
        self.0
    }
}

/// Who is calling: user id, primary group id and supplementary groups.
///
/// Uid 0 is root and bypasses read, write and search checks, as on Linux.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
}

impl Credentials {
    /// The superuser (uid 0, gid 0).
    pub fn root() -> Self {
        Self {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }
    }

    /// Whether `gid` is the primary group or one of the supplementary groups.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// How much of the tree is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of file content allocated (holes excluded).
    pub bytes: u64,
    /// The capacity set with [`Builder::capacity`], if any.
    pub capacity: Option<u64>,
    /// Live inodes, the root included.
    pub inodes: u64,
}

/// Options for a new [`MemoryFileSystem`].
///
/// ```
/// use memory_fs_posix::{Errno, MemoryFileSystem, OpenFlags};
///
/// let fs = MemoryFileSystem::builder().capacity(4).umask(0o077).build();
/// let fd = fs.open("/f", OpenFlags::WRITE | OpenFlags::CREATE, 0o666)?;
/// assert_eq!(fs.write(fd, b"12345").unwrap_err().errno(), Errno::ENOSPC);
/// assert_eq!(fs.stat("/f")?.permissions(), 0o600);
/// # Ok::<(), memory_fs_posix::PosixError>(())
/// ```
#[derive(Debug)]
pub struct Builder {
    capacity: Option<u64>,
    max_file_size: u64,
    read_file_limit: u64,
    read_only: bool,
    umask: u32,
    clock: Arc<dyn Clock>,
}

/// Longest file [`MemoryFileSystem::read_file`] reads whole by default (16 GiB).
pub const DEFAULT_READ_FILE_LIMIT: u64 = 16 << 30;

impl Builder {
    /// Most bytes of file content the tree may hold; writes past it fail with `ENOSPC`.
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = Some(bytes);
        self
    }

    /// Largest size of one file; writing or truncating past it fails with `EFBIG`.
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes.min(i64::MAX as u64);
        self
    }

    /// Longest file [`MemoryFileSystem::read_file`] returns whole (default
    /// [`DEFAULT_READ_FILE_LIMIT`]); a longer one fails with `EFBIG` and is read
    /// through a descriptor instead. Sparse files make this matter: truncating to a
    /// terabyte allocates nothing, but reading it whole would need a terabyte.
    pub fn read_file_limit(mut self, bytes: u64) -> Self {
        self.read_file_limit = bytes;
        self
    }

    /// Every change fails with `EROFS`.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// Permission bits cleared from the mode of every new file and directory (default 0o022).
    pub fn umask(mut self, umask: u32) -> Self {
        self.umask = umask & 0o777;
        self
    }

    /// Where timestamps come from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds an empty tree; the caller acts as root.
    pub fn build(self) -> MemoryFileSystem {
        let state = State::new(self.umask, self.clock.now());
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            stamps: Stamps::new(self.clock),
            capacity: self.capacity,
            max_file_size: self.max_file_size,
            read_file_limit: self.read_file_limit,
            read_only: AtomicBool::new(self.read_only),
            watchers: Watchers::default(),
            observers: Observers::default(),
        });
        MemoryFileSystem {
            cwd: Cwd::root(&shared),
            shared,
            cred: Arc::new(Credentials::root()),
            origin: 0,
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    stamps: Stamps,
    capacity: Option<u64>,
    max_file_size: u64,
    read_file_limit: u64,
    read_only: AtomicBool,
    pub(crate) watchers: Watchers,
    pub(crate) observers: Observers,
}

/// An in-memory POSIX filesystem that behaves like Linux on tmpfs.
///
/// Cheap to clone: clones are handles on the same tree (and the same descriptor
/// table and working directory). [`with_credentials`](Self::with_credentials) gives a
/// handle that acts as another user, with a working directory of its own. Relative
/// paths start at the working directory ([`chdir`](Self::chdir)). All methods take
/// `&self` and are safe to call from many threads.
///
/// # Examples
///
/// ```
/// use memory_fs_posix::{MemoryFileSystem, OpenFlags, Whence};
///
/// let fs = MemoryFileSystem::new();
/// fs.mkdir("/docs", 0o755)?;
/// let fd = fs.open("/docs/a.txt", OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE, 0o644)?;
/// fs.write(fd, b"hello")?;
/// fs.lseek(fd, 0, Whence::Set)?;
/// let mut buf = [0u8; 5];
/// assert_eq!(fs.read(fd, &mut buf)?, 5);
/// assert_eq!(&buf, b"hello");
/// fs.close(fd)?;
/// assert_eq!(fs.readdir("/docs")?, ["a.txt"]);
/// # Ok::<(), memory_fs_posix::PosixError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryFileSystem {
    pub(crate) shared: Arc<Shared>,
    pub(crate) cred: Arc<Credentials>,
    pub(crate) cwd: Arc<Cwd>,
    /// Which observer's own handle this is (0: none; see `changes.rs`).
    pub(crate) origin: u64,
}

impl Default for MemoryFileSystem {
    fn default() -> Self {
        Self::new()
    }
}

/// Wraps an errno with the operation and path for the public error (allocating only
/// on failure).
fn fail<'a>(op: &'a str, path: &'a str) -> impl FnOnce(Errno) -> PosixError + 'a {
    move |e| PosixError::new(e, op, Some(path))
}

fn fail_fd(op: &'static str, fd: Fd) -> impl FnOnce(Errno) -> PosixError {
    move |e| PosixError::new(e, &format!("{op} fd {}", fd.0), None)
}

impl MemoryFileSystem {
    /// An empty tree with default options; the caller acts as root.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Options for a new tree.
    pub fn builder() -> Builder {
        Builder {
            capacity: None,
            max_file_size: i64::MAX as u64,
            read_file_limit: DEFAULT_READ_FILE_LIMIT,
            read_only: false,
            umask: 0o022,
            clock: Arc::new(SystemClock),
        }
    }

    /// A handle on the same tree that acts as `cred`, starting in this handle's working
    /// directory (a [`chdir`](Self::chdir) of either does not move the other).
    ///
    /// ```
    /// use memory_fs_posix::{Credentials, Errno, MemoryFileSystem};
    ///
    /// let fs = MemoryFileSystem::new();
    /// fs.mkdir("/private", 0o700)?;
    /// let alice = fs.with_credentials(Credentials { uid: 1000, gid: 1000, groups: vec![] });
    /// assert_eq!(alice.readdir("/private").unwrap_err().errno(), Errno::EACCES);
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn with_credentials(&self, cred: Credentials) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            cred: Arc::new(cred),
            cwd: self.fork_cwd(),
            origin: self.origin,
        }
    }

    /// The credentials this handle acts with.
    pub fn credentials(&self) -> &Credentials {
        &self.cred
    }

    /// Makes the whole tree read-only (every change fails with `EROFS`) or writable again.
    pub fn set_read_only(&self, yes: bool) {
        self.shared.read_only.store(yes, Ordering::Relaxed);
    }

    /// Whether the tree is read-only.
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only.load(Ordering::Relaxed)
    }

    /// The umask applied to new files and directories.
    pub fn umask(&self) -> u32 {
        self.lock().umask
    }

    /// Sets the umask and returns the previous one.
    pub fn set_umask(&self, umask: u32) -> u32 {
        std::mem::replace(&mut self.lock().umask, umask & 0o777)
    }

    /// Bytes and inodes in use.
    pub fn usage(&self) -> Usage {
        let st = self.lock();
        Usage {
            bytes: st.used,
            capacity: self.shared.capacity,
            inodes: st.inode_count() as u64,
        }
    }

    /// The tree's lock, held by this handle (see `changes.rs` for what unlocking does).
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked::new(self.shared.lock(), self)
    }

    /// A path resolver for this handle, under the lock `st` proves is held.
    pub(crate) fn resolver<'a>(&'a self, st: &'a State) -> Resolver<'a> {
        Resolver::new(st, &self.cred, self.cwd.get(st))
    }

    /// The time of a change about to be made (see `clock.rs`).
    pub(crate) fn now(&self) -> Now<'_> {
        self.shared.stamps.now()
    }

    pub(crate) fn rofs(&self) -> std::result::Result<(), Errno> {
        if self.is_read_only() {
            Err(EROFS)
        } else {
            Ok(())
        }
    }

    pub(crate) fn emit(&self, kind: EventKind, path: &str) {
        if self.shared.watchers.is_empty() {
            return;
        }
        if path.starts_with('/') {
            self.shared.watchers.emit(kind, path);
        } else if let Ok(cwd) = self.getcwd() {
            // A relative path is reported under the working directory; in a removed
            // one nothing has a path to report.
            self.shared.watchers.emit(kind, &format!("{cwd}/{path}"));
        }
    }

    // ----- descriptors -------------------------------------------------------------

    /// Opens (and with [`OpenFlags::CREATE`], creates) a file; `mode` is used on creation,
    /// less the umask.
    ///
    /// # Errors
    /// As `open(2)` on Linux: `ENOENT`, `EEXIST` (`CREATE | EXCL` on an existing path),
    /// `EISDIR` (writing a directory, or `CREATE` with a trailing slash), `ENOTDIR`,
    /// `ELOOP` (`NOFOLLOW` on a symlink, or too many links), `EACCES`, `EROFS`,
    /// `EINVAL` (`CREATE | DIRECTORY`), `ENAMETOOLONG`.
    ///
    /// ```
    /// use memory_fs_posix::{Errno, MemoryFileSystem, OpenFlags};
    ///
    /// let fs = MemoryFileSystem::new();
    /// let fd = fs.open("/new", OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCL, 0o600)?;
    /// fs.close(fd)?;
    /// let again = fs.open("/new", OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCL, 0o600);
    /// assert_eq!(again.unwrap_err().errno(), Errno::EEXIST);
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn open(&self, path: &str, flags: OpenFlags, mode: u32) -> Result<Fd> {
        self.open_inner(path, flags, mode)
            .map(Fd)
            .map_err(fail("open", path))
    }

    fn open_inner(
        &self,
        path: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> std::result::Result<u32, Errno> {
        if flags.contains(OpenFlags::CREATE | OpenFlags::DIRECTORY) {
            return Err(EINVAL);
        }
        check_path(path)?;
        let create = flags.contains(OpenFlags::CREATE);
        let excl = create && flags.contains(OpenFlags::EXCL);
        let nofollow = excl || flags.contains(OpenFlags::NOFOLLOW);
        let mut st = self.lock();
        let (ino, created) = if !create {
            (self.resolver(&st).resolve(path, !nofollow)?, None)
        } else {
            let mut r = self.resolver(&st);
            let (mut parent, mut last) = r.walk(path)?;
            loop {
                let Last::Name(name, trailing) = &last else {
                    break (r.lookup_last(parent, &last, false)?, None);
                };
                if *trailing {
                    return Err(EISDIR);
                }
                match self.create_target(&st, parent, name)? {
                    None => break (parent, Some(name.clone())),
                    Some(ino) if st.get(ino)?.is_symlink() && !nofollow => {
                        (parent, last) = r.follow_once(parent, ino)?;
                    }
                    Some(ino) => break (ino, None),
                }
            }
        };
        let (ino, created) = match created {
            Some(name) => {
                let mode = (mode & 0o7777 & !st.umask) | S_IFREG;
                let ino = st.create(
                    ino,
                    &name,
                    mode,
                    &self.cred,
                    Kind::File(Content::default()),
                    self.now(),
                )?;
                (ino, true)
            }
            None => (ino, false),
        };
        let (fd, truncated) = self.finish_open(&mut st, ino, created, flags)?;
        drop(st);
        if created {
            self.emit(EventKind::Created, path);
        } else if truncated {
            self.emit(EventKind::Modified, path);
        }
        Ok(fd)
    }

    /// The `O_CREAT` step of `open` in directory `parent`: the existing entry `name`,
    /// or `None` when the caller may create it (`lookup_open`'s checks, in its order).
    pub(crate) fn create_target(
        &self,
        st: &State,
        parent: Ino,
        name: &str,
    ) -> std::result::Result<Option<Ino>, Errno> {
        let create_error = if st.get(parent)?.nlink == 0 {
            Some(ENOENT)
        } else if self.is_read_only() {
            Some(EROFS)
        } else if !st.get(parent)?.permits(&self.cred, MAY_WRITE | MAY_EXEC) {
            Some(EACCES)
        } else {
            None
        };
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        match st.child(parent, name)? {
            None => create_error.map_or(Ok(None), Err),
            Some(ino) => Ok(Some(ino)),
        }
    }

    /// The end of `open` once the inode is known (`may_open`, truncation, a new
    /// descriptor): returns the descriptor and whether the file was truncated.
    pub(crate) fn finish_open(
        &self,
        st: &mut State,
        ino: Ino,
        created: bool,
        flags: OpenFlags,
    ) -> std::result::Result<(u32, bool), Errno> {
        let create = flags.contains(OpenFlags::CREATE);
        let excl = create && flags.contains(OpenFlags::EXCL);
        let inode = st.get(ino)?;
        if create {
            if excl && !created {
                return Err(EEXIST);
            }
            if inode.is_dir() {
                return Err(EISDIR);
            }
        }
        if flags.contains(OpenFlags::DIRECTORY) && !inode.is_dir() {
            return Err(ENOTDIR);
        }
        let truncate = !created && inode.is_file() && flags.contains(OpenFlags::TRUNC);
        if !created {
            if truncate {
                self.rofs()?;
            }
            if inode.is_symlink() {
                return Err(ELOOP);
            }
            let mut acc = if flags.readable() { MAY_READ } else { 0 };
            if flags.writable() || flags.contains(OpenFlags::TRUNC) {
                acc |= MAY_WRITE;
            }
            if inode.is_dir() && acc & MAY_WRITE != 0 {
                return Err(EISDIR);
            }
            if acc & MAY_WRITE != 0 {
                self.rofs()?;
            }
            if !inode.permits(&self.cred, acc) {
                return Err(EACCES);
            }
            if matches!(inode.kind, Kind::Special(_)) {
                // FIFOs, sockets and devices have no in-memory driver behind them.
                return Err(ENXIO);
            }
        }
        if truncate {
            self.truncate_ino(st, ino, 0, true, self.now())?;
        }
        Ok((st.alloc_fd(ino, flags)?, truncate))
    }

    /// Closes a descriptor; an unlinked file's bytes are freed at its last close.
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn close(&self, fd: Fd) -> Result<()> {
        self.lock().close_fd(fd.0).map_err(fail_fd("close", fd))
    }

    /// Reads from the descriptor's offset and advances it; 0 at end of file.
    ///
    /// # Errors
    /// `EBADF` (not open for reading), `EISDIR`.
    pub fn read(&self, fd: Fd, buf: &mut [u8]) -> Result<usize> {
        let mut st = self.lock();
        let of = st.fd(fd.0).map_err(fail_fd("read", fd))?;
        let n = Self::read_at(&st, of, of.pos, buf).map_err(fail_fd("read", fd))?;
        if n > 0
            && let Ok(f) = st.fd_mut(fd.0)
        {
            f.pos += n as u64;
        }
        Ok(n)
    }

    /// Reads at `offset` without moving the descriptor's offset.
    ///
    /// # Errors
    /// `EINVAL` for a negative offset (checked first, as Linux does), `EBADF`, `EISDIR`.
    pub fn pread(&self, fd: Fd, buf: &mut [u8], offset: i64) -> Result<usize> {
        let offset = u64::try_from(offset).map_err(|_| PosixError::new(EINVAL, "pread", None))?;
        let st = self.lock();
        let of = st.fd(fd.0).map_err(fail_fd("pread", fd))?;
        Self::read_at(&st, of, offset, buf).map_err(fail_fd("pread", fd))
    }

    fn read_at(
        st: &State,
        of: crate::state::OpenFile,
        pos: u64,
        buf: &mut [u8],
    ) -> std::result::Result<usize, Errno> {
        if !of.flags.readable() {
            return Err(EBADF);
        }
        match &st.get(of.ino)?.kind {
            Kind::File(content) => Ok(content.read_at(pos, buf)),
            Kind::Dir(_) => Err(EISDIR),
            Kind::Symlink(_) | Kind::Special(_) => Err(EINVAL),
        }
    }

    /// Writes at the descriptor's offset (at the end with [`OpenFlags::APPEND`]) and
    /// advances it.
    ///
    /// # Errors
    /// `EBADF` (not open for writing), `EFBIG`, `ENOSPC`.
    pub fn write(&self, fd: Fd, data: &[u8]) -> Result<usize> {
        self.write_fd(fd, data, None).map_err(fail_fd("write", fd))
    }

    /// Writes at `offset` without moving the descriptor's offset; on an
    /// [`OpenFlags::APPEND`] descriptor it appends, as Linux does.
    ///
    /// # Errors
    /// `EINVAL` for a negative offset (checked first), `EBADF`, `EFBIG`, `ENOSPC`.
    pub fn pwrite(&self, fd: Fd, data: &[u8], offset: i64) -> Result<usize> {
        let offset = u64::try_from(offset).map_err(|_| PosixError::new(EINVAL, "pwrite", None))?;
        self.write_fd(fd, data, Some(offset))
            .map_err(fail_fd("pwrite", fd))
    }

    /// `write` (no offset: the descriptor's, which then advances) and `pwrite`.
    fn write_fd(
        &self,
        fd: Fd,
        data: &[u8],
        offset: Option<u64>,
    ) -> std::result::Result<usize, Errno> {
        let now = self.now();
        let mut st = self.lock();
        let of = st.fd(fd.0)?;
        if !of.flags.writable() {
            return Err(EBADF);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let pos = if of.flags.contains(OpenFlags::APPEND) {
            st.get(of.ino)?.size()
        } else {
            offset.unwrap_or(of.pos)
        };
        let n = self.write_at(&mut st, of.ino, pos, data, now)?;
        if offset.is_none() {
            st.fd_mut(fd.0)?.pos = pos + n as u64;
        }
        drop(st);
        self.emit_fd(of.ino, EventKind::Modified);
        Ok(n)
    }

    fn write_at(
        &self,
        st: &mut State,
        ino: Ino,
        pos: u64,
        data: &[u8],
        now: Now<'_>,
    ) -> std::result::Result<usize, Errno> {
        let max = self.shared.max_file_size;
        if pos >= max {
            return Err(EFBIG);
        }
        let len = data
            .len()
            .min(usize::try_from(max - pos).unwrap_or(usize::MAX));
        let used = st.used;
        let inode = st.get_mut(ino)?;
        let content = inode.content_mut().ok_or(EISDIR)?;
        let growth = content.growth_for_write(pos, len as u64);
        if let Some(cap) = self.shared.capacity
            && used.saturating_add(growth) > cap
        {
            return Err(ENOSPC);
        }
        content.write_at(pos, &data[..len]);
        inode.touch(now);
        inode.kill_suid(&self.cred);
        st.used += growth;
        st.record(|| InodeChange::Content {
            ino,
            offset: pos,
            len: len as u64,
        });
        Ok(len)
    }

    /// Moves the descriptor's offset and returns the new one.
    ///
    /// # Errors
    /// `EBADF`; `EINVAL` if the result would be negative (or `End` on a directory).
    pub fn lseek(&self, fd: Fd, offset: i64, whence: Whence) -> Result<u64> {
        let mut st = self.lock();
        let of = st.fd(fd.0).map_err(fail_fd("lseek", fd))?;
        let inode = st.get(of.ino).map_err(fail_fd("lseek", fd))?;
        let base = match whence {
            Whence::Set => 0,
            Whence::Cur => of.pos,
            Whence::End if inode.is_dir() => return Err(PosixError::new(EINVAL, "lseek", None)),
            Whence::End => inode.size(),
        };
        let new = i64::try_from(base)
            .ok()
            .and_then(|b| b.checked_add(offset))
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| PosixError::new(EINVAL, &format!("lseek fd {}", fd.0), None))?;
        st.fd_mut(fd.0).map_err(fail_fd("lseek", fd))?.pos = new;
        Ok(new)
    }

    /// Status of the file behind a descriptor.
    ///
    /// # Errors
    /// `EBADF`.
    pub fn fstat(&self, fd: Fd) -> Result<Stat> {
        let mut st = self.lock();
        let of = st.fd(fd.0).map_err(fail_fd("fstat", fd))?;
        Ok(st
            .get_mut(of.ino)
            .map_err(fail_fd("fstat", fd))?
            .report(of.ino))
    }

    /// Sets the length of the file behind a descriptor open for writing.
    ///
    /// # Errors
    /// `EINVAL` (length above `i64::MAX`, not a regular file, or not open for writing),
    /// `EBADF`, `EFBIG`.
    pub fn ftruncate(&self, fd: Fd, len: u64) -> Result<()> {
        let now = self.now();
        let inner = || {
            if i64::try_from(len).is_err() {
                return Err(EINVAL);
            }
            let mut st = self.lock();
            let of = st.fd(fd.0)?;
            if !st.get(of.ino)?.is_file() || !of.flags.writable() {
                return Err(EINVAL);
            }
            self.truncate_ino(&mut st, of.ino, len, true, now)?;
            Ok(of.ino)
        };
        let ino = inner().map_err(fail_fd("ftruncate", fd))?;
        self.emit_fd(ino, EventKind::Modified);
        Ok(())
    }

    /// Makes sure the `len` bytes at `offset` belong to the file (`posix_fallocate`):
    /// the file grows to `offset + len` if it is shorter. The new range reads as zeros
    /// and, like any hole, takes no memory until written.
    ///
    /// # Errors
    /// `EINVAL` (`len` is 0, or the end is above `i64::MAX`), `EBADF` (not open for
    /// writing), `EISDIR`, `ENODEV` (not a regular file), `EFBIG`, `EROFS`.
    pub fn fallocate(&self, fd: Fd, offset: u64, len: u64) -> Result<()> {
        let now = self.now();
        let inner = || {
            let end = offset
                .checked_add(len)
                .filter(|&end| len > 0 && i64::try_from(end).is_ok())
                .ok_or(EINVAL)?;
            let mut st = self.lock();
            let of = st.fd(fd.0)?;
            if !of.flags.writable() {
                return Err(EBADF);
            }
            let inode = st.get(of.ino)?;
            if inode.is_dir() {
                return Err(EISDIR);
            }
            if !inode.is_file() {
                return Err(ENODEV);
            }
            self.rofs()?;
            if end > self.shared.max_file_size {
                return Err(EFBIG);
            }
            let grow = end > inode.size();
            let inode = st.get_mut(of.ino)?;
            if grow && let Some(content) = inode.content_mut() {
                content.set_len(end);
            }
            inode.touch(now);
            inode.kill_suid(&self.cred);
            st.record_attributes(of.ino);
            Ok(of.ino)
        };
        let ino = inner().map_err(fail_fd("fallocate", fd))?;
        self.emit_fd(ino, EventKind::Modified);
        Ok(())
    }

    pub(crate) fn truncate_ino(
        &self,
        st: &mut State,
        ino: Ino,
        len: u64,
        always_touch: bool,
        now: Now<'_>,
    ) -> std::result::Result<(), Errno> {
        if len > self.shared.max_file_size {
            return Err(EFBIG);
        }
        let inode = st.get_mut(ino)?;
        let content = inode.content_mut().ok_or(EINVAL)?;
        let before = content.allocated();
        let old_len = content.len();
        let changed = old_len != len;
        content.set_len(len);
        let after = content.allocated();
        if changed || always_touch {
            inode.touch(now);
        }
        inode.kill_suid(&self.cred);
        st.used = st.used.saturating_sub(before) + after;
        // Bytes past the shorter of the two lengths changed (to zeros, or gone).
        st.record(|| InodeChange::Content {
            ino,
            offset: old_len.min(len),
            len: 0,
        });
        Ok(())
    }

    /// The whole content of the regular file at `path` (following symlinks), read under
    /// one lock, like `std::fs::read`.
    ///
    /// The memory is reserved before anything is copied: a file longer than
    /// [`Builder::read_file_limit`] fails with `EFBIG`, and one the allocator cannot hold
    /// with `ENOMEM`, both naming the size (a sparse file may be far larger than memory).
    ///
    /// # Errors
    /// `EISDIR` for a directory, `EACCES` without read permission, `EFBIG`, `ENOMEM`, and
    /// the lookup errors.
    ///
    /// ```
    /// use memory_fs_posix::{MemoryFileSystem, OpenFlags};
    /// let fs = MemoryFileSystem::new();
    /// let fd = fs.open("/f", OpenFlags::WRITE | OpenFlags::CREATE, 0o644)?;
    /// fs.write(fd, b"data")?;
    /// fs.close(fd)?;
    /// assert_eq!(fs.read_file("/f")?, b"data");
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let inner = || {
            let st = self.lock();
            let ino = self.resolver(&st).resolve(path, true)?;
            let inode = st.get(ino)?;
            let content = match &inode.kind {
                Kind::File(c) => c,
                Kind::Dir(_) => return Err(EISDIR),
                Kind::Symlink(_) => return Err(ELOOP),
                Kind::Special(_) => return Err(ENXIO),
            };
            if !inode.permits(&self.cred, MAY_READ) {
                return Err(EACCES);
            }
            let len = content.len();
            let limit = self.shared.read_file_limit;
            if len > limit {
                return Ok(Err(PosixError::detailed(
                    EFBIG,
                    path,
                    format!(
                        "read_file {path}: the file holds {len} bytes, more than the \
                         {limit}-byte limit of a whole-file read; read it through a descriptor"
                    ),
                )));
            }
            // A hole costs nothing in the tree but a byte per byte here: ask the allocator
            // first, so a file larger than memory is an error, not an abort.
            let mut out = Vec::new();
            if usize::try_from(len)
                .ok()
                .and_then(|n| out.try_reserve_exact(n).ok())
                .is_none()
            {
                return Ok(Err(PosixError::detailed(
                    ENOMEM,
                    path,
                    format!("read_file {path}: cannot allocate {len} bytes for the whole file"),
                )));
            }
            content.append_to(&mut out);
            Ok(Ok(out))
        };
        inner().map_err(fail("read_file", path))?
    }

    // ----- directories -------------------------------------------------------------

    /// Creates a directory; `mode & 0o1777`, less the umask, becomes its permissions.
    ///
    /// # Errors
    /// `EEXIST` (also for `.`, `..` and `/`), `ENOENT`, `ENOTDIR`, `EACCES`, `EROFS`,
    /// `ENAMETOOLONG`, `ELOOP`.
    ///
    /// ```
    /// use memory_fs_posix::MemoryFileSystem;
    /// let fs = MemoryFileSystem::new();
    /// fs.mkdir("/a", 0o755)?;
    /// fs.mkdir("/a/b/", 0o700)?; // a trailing slash is fine
    /// assert_eq!(fs.stat("/a")?.nlink, 3);
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        let now = self.now();
        let inner = || {
            check_path(path)?;
            let mut st = self.lock();
            let (parent, last) = self.resolver(&st).walk(path)?;
            let mode = mode & 0o1777 & !st.umask;
            self.make_dir(&mut st, parent, last, mode, now)
        };
        inner().map_err(fail("mkdir", path))?;
        self.emit(EventKind::Created, path);
        Ok(())
    }

    /// `mkdir` once the parent is known: a directory with permissions `mode` (the
    /// umask already applied).
    pub(crate) fn make_dir(
        &self,
        st: &mut State,
        parent: Ino,
        last: Last<'_>,
        mode: u32,
        now: Now<'_>,
    ) -> std::result::Result<Ino, Errno> {
        let (parent, name) = self.prepare_create(st, parent, last, true, true)?;
        let dir = Kind::Dir(Box::new(Dir::new(parent)));
        st.create(parent, &name, mode | S_IFDIR, &self.cred, dir, now)
    }

    /// Creates a regular file, FIFO, socket or device node: `mode` holds the type
    /// ([`S_IFREG`](crate::S_IFREG), [`S_IFIFO`](crate::S_IFIFO),
    /// [`S_IFSOCK`](crate::S_IFSOCK), [`S_IFCHR`](crate::S_IFCHR),
    /// [`S_IFBLK`](crate::S_IFBLK); 0 means a regular file) and the permissions, less the
    /// umask; `rdev` is the device number of a device node. FIFOs, sockets and devices
    /// are names with metadata only: opening one fails with `ENXIO`.
    ///
    /// # Errors
    /// `EINVAL` (an unknown type), `EPERM` (a directory type, or a device node made by
    /// anyone but root), and the errors of [`mkdir`](Self::mkdir).
    ///
    /// ```
    /// use memory_fs_posix::{MemoryFileSystem, S_IFIFO};
    /// let fs = MemoryFileSystem::new();
    /// fs.mknod("/pipe", S_IFIFO | 0o644, 0)?;
    /// assert_eq!(fs.stat("/pipe")?.file_type(), S_IFIFO);
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn mknod(&self, path: &str, mode: u32, rdev: u64) -> Result<()> {
        let now = self.now();
        let inner = || {
            check_path(path)?;
            let mut st = self.lock();
            let kind = node_kind(mode, rdev)?;
            let mode = (mode & S_IFMT) | (mode & 0o7777 & !st.umask);
            let (parent, last) = self.resolver(&st).walk(path)?;
            self.make_node(&mut st, parent, last, mode, kind, now)
        };
        inner().map_err(fail("mknod", path))?;
        self.emit(EventKind::Created, path);
        Ok(())
    }

    /// `mknod` once the parent is known: a node of type and permissions `mode` (the
    /// umask already applied) holding `kind` (from [`node_kind`]).
    pub(crate) fn make_node(
        &self,
        st: &mut State,
        parent: Ino,
        last: Last<'_>,
        mode: u32,
        kind: Kind,
        now: Now<'_>,
    ) -> std::result::Result<Ino, Errno> {
        let (parent, name) = self.prepare_create(st, parent, last, false, true)?;
        let device = matches!(mode & S_IFMT, S_IFCHR | S_IFBLK);
        if device && self.cred.uid != 0 {
            return Err(EPERM);
        }
        let ftype = if mode & S_IFMT == 0 {
            S_IFREG
        } else {
            mode & S_IFMT
        };
        st.create(
            parent,
            &name,
            ftype | (mode & 0o7777),
            &self.cred,
            kind,
            now,
        )
    }

    /// `filename_create` after the walk: the parent and name for a new entry, checked
    /// in Linux's order. `check_write` is false for `link`, which checks `EPERM` before
    /// write permission.
    pub(crate) fn prepare_create<'p>(
        &self,
        st: &State,
        parent: Ino,
        last: Last<'p>,
        want_dir: bool,
        check_write: bool,
    ) -> std::result::Result<(Ino, Cow<'p, str>), Errno> {
        let Last::Name(name, trailing) = last else {
            return Err(EEXIST);
        };
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if st.child(parent, &name)?.is_some() {
            return Err(EEXIST);
        }
        if st.get(parent)?.nlink == 0 {
            // A removed directory that is still referenced takes no new entries.
            return Err(ENOENT);
        }
        if trailing && !want_dir {
            return Err(ENOENT);
        }
        self.rofs()?;
        if check_write && !st.get(parent)?.permits(&self.cred, MAY_WRITE | MAY_EXEC) {
            return Err(EACCES);
        }
        Ok((parent, name))
    }

    /// Removes an empty directory.
    ///
    /// # Errors
    /// `ENOTEMPTY` (also for `..`), `EINVAL` (for `.`), `EBUSY` (for `/`), `ENOTDIR`,
    /// `ENOENT`, `EACCES`, `EPERM` (sticky directory), `EROFS`.
    pub fn rmdir(&self, path: &str) -> Result<()> {
        let now = self.now();
        let inner = || {
            check_path(path)?;
            let mut st = self.lock();
            let (parent, last) = self.resolver(&st).walk(path)?;
            self.remove_dir(&mut st, parent, last, now)
        };
        inner().map_err(fail("rmdir", path))?;
        self.emit(EventKind::Removed, path);
        Ok(())
    }

    /// Removes a name; the file itself goes when its last link and descriptor do.
    ///
    /// # Errors
    /// `EISDIR` (a directory, as Linux answers), `ENOTDIR` (`file/`), `ENOENT`,
    /// `EACCES`, `EPERM` (sticky directory), `EROFS`.
    pub fn unlink(&self, path: &str) -> Result<()> {
        let now = self.now();
        let inner = || {
            check_path(path)?;
            let mut st = self.lock();
            let (parent, last) = self.resolver(&st).walk(path)?;
            self.remove_name(&mut st, parent, last, now)
        };
        inner().map_err(fail("unlink", path))?;
        self.emit(EventKind::Removed, path);
        Ok(())
    }

    /// `rmdir` once the parent is known.
    pub(crate) fn remove_dir(
        &self,
        st: &mut State,
        parent: Ino,
        last: Last<'_>,
        now: Now<'_>,
    ) -> std::result::Result<(), Errno> {
        let (parent, name, victim) = self.prepare_delete(st, parent, last, true)?;
        if st.get(victim)?.dir().is_some_and(|d| !d.is_empty()) {
            return Err(ENOTEMPTY);
        }
        st.remove_entry(parent, &name, now)
    }

    /// `unlink` once the parent is known.
    pub(crate) fn remove_name(
        &self,
        st: &mut State,
        parent: Ino,
        last: Last<'_>,
        now: Now<'_>,
    ) -> std::result::Result<(), Errno> {
        let (parent, name, _) = self.prepare_delete(st, parent, last, false)?;
        st.remove_entry(parent, &name, now)
    }

    /// `do_rmdir` / `do_unlinkat` after the walk, up to `may_delete`.
    fn prepare_delete<'p>(
        &self,
        st: &State,
        parent: Ino,
        last: Last<'p>,
        is_dir: bool,
    ) -> std::result::Result<(Ino, Cow<'p, str>, Ino), Errno> {
        let (name, trailing) = match last {
            Last::Name(name, trailing) => (name, trailing),
            Last::DotDot if is_dir => return Err(ENOTEMPTY),
            Last::Dot if is_dir => return Err(EINVAL),
            Last::Root if is_dir => return Err(EBUSY),
            _ => return Err(EISDIR),
        };
        self.rofs()?;
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let victim = st.child(parent, &name)?.ok_or(ENOENT)?;
        let v = st.get(victim)?;
        if trailing && !is_dir {
            return Err(if v.is_dir() { EISDIR } else { ENOTDIR });
        }
        self.may_delete(st, parent, v, is_dir)?;
        Ok((parent, name, victim))
    }

    fn may_delete(
        &self,
        st: &State,
        dir: Ino,
        victim: &Inode,
        is_dir: bool,
    ) -> std::result::Result<(), Errno> {
        let d = st.get(dir)?;
        if !d.permits(&self.cred, MAY_WRITE | MAY_EXEC) {
            return Err(EACCES);
        }
        if st.sticky_denies(d, victim, &self.cred) {
            return Err(EPERM);
        }
        match (is_dir, victim.is_dir()) {
            (true, false) => Err(ENOTDIR),
            (false, true) => Err(EISDIR),
            _ => Ok(()),
        }
    }

    /// The names in a directory, sorted, without `.` and `..`.
    ///
    /// # Errors
    /// `ENOTDIR`, `EACCES` (no read permission), `ENOENT`, `ELOOP`.
    pub fn readdir(&self, path: &str) -> Result<Vec<String>> {
        let inner = || {
            let st = self.lock();
            let ino = self.resolver(&st).resolve(path, true)?;
            let inode = st.get(ino)?;
            let dir = inode.dir().ok_or(ENOTDIR)?;
            if !inode.permits(&self.cred, MAY_READ) {
                return Err(EACCES);
            }
            let mut names: Vec<String> = dir.iter().map(|(name, _)| name.to_owned()).collect();
            names.sort_unstable();
            Ok(names)
        };
        inner().map_err(fail("readdir", path))
    }

    // ----- links -------------------------------------------------------------------

    /// Renames `from` to `to`, replacing a file or an empty directory there.
    ///
    /// # Errors
    /// As `rename(2)` on Linux: `EBUSY` (`.`/`..`/`/` as either name), `EINVAL` (a
    /// directory into itself), `ENOTEMPTY`, `EISDIR`, `ENOTDIR`, `ENOENT`, `EACCES`,
    /// `EPERM` (sticky directory), `EROFS`.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let now = self.now();
        let inner = || {
            check_path(from)?;
            let mut st = self.lock();
            let (op, olast) = self.resolver(&st).walk(from)?;
            check_path(to)?;
            let (np, nlast) = self.resolver(&st).walk(to)?;
            self.rename_at(&mut st, op, olast, np, nlast, false, now)
        };
        if inner().map_err(|e| PosixError::new(e, &format!("rename {from} ->"), Some(to)))? {
            self.emit(EventKind::RenamedFrom, from);
            self.emit(EventKind::RenamedTo, to);
        }
        Ok(())
    }

    /// `rename` once both parents are known; `Ok(false)` when nothing had to change
    /// (both names are links to the same inode). With `noreplace` an existing target
    /// fails with `EEXIST` (`RENAME_NOREPLACE`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rename_at(
        &self,
        st: &mut State,
        op: Ino,
        olast: Last<'_>,
        np: Ino,
        nlast: Last<'_>,
        noreplace: bool,
        now: Now<'_>,
    ) -> std::result::Result<bool, Errno> {
        let (Last::Name(oname, otrail), Last::Name(nname, ntrail)) = (&olast, &nlast) else {
            return Err(EBUSY);
        };
        self.rofs()?;
        if oname.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let old = st.child(op, oname)?.ok_or(ENOENT)?;
        if nname.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let new = st.child(np, nname)?;
        if noreplace && new.is_some() {
            return Err(EEXIST);
        }
        if st.get(np)?.nlink == 0 {
            return Err(ENOENT);
        }
        let old_is_dir = st.get(old)?.is_dir();
        if !old_is_dir && (*otrail || *ntrail) {
            return Err(ENOTDIR);
        }
        if op != np {
            if st.is_ancestor(op, np)? {
                if st.is_ancestor(old, np)? {
                    return Err(EINVAL);
                }
            } else if st.is_ancestor(np, op)?
                && let Some(n) = new
                && st.is_ancestor(n, op)?
            {
                return Err(ENOTEMPTY);
            }
        }
        if new == Some(old) {
            return Ok(false);
        }
        self.may_delete(st, op, st.get(old)?, old_is_dir)?;
        match new {
            None => {
                if !st.get(np)?.permits(&self.cred, MAY_WRITE | MAY_EXEC) {
                    return Err(EACCES);
                }
            }
            Some(n) => self.may_delete(st, np, st.get(n)?, old_is_dir)?,
        }
        if op != np && old_is_dir && !st.get(old)?.permits(&self.cred, MAY_WRITE) {
            return Err(EACCES);
        }
        if let Some(n) = new {
            if st.get(n)?.dir().is_some_and(|d| !d.is_empty()) {
                return Err(ENOTEMPTY);
            }
            st.remove_entry(np, nname, now)?;
        }
        // Move the entry. Walks may pass through a directory or a symlink, and `..`
        // of a moved directory changes: cached resolutions are stale.
        let oi = st.get(old)?;
        if old_is_dir || oi.is_symlink() {
            st.paths.invalidate();
        }
        let opi = st.get_mut(op)?;
        opi.dir_mut().ok_or(ENOTDIR)?.remove(oname);
        opi.touch(now);
        if old_is_dir && op != np {
            opi.nlink -= 1;
        }
        let npi = st.get_mut(np)?;
        npi.dir_mut().ok_or(ENOTDIR)?.insert(nname, old);
        npi.touch(now);
        if old_is_dir && op != np {
            npi.nlink += 1;
        }
        let oi = st.get_mut(old)?;
        oi.touch_ctime(now);
        if let Some(d) = oi.dir_mut() {
            d.parent = np;
        }
        for (parent, name) in [(op, &**oname), (np, &**nname)] {
            st.record(|| InodeChange::Entry {
                parent,
                name: name.to_owned(),
            });
            st.record_attributes(parent);
        }
        st.record_attributes(old);
        Ok(true)
    }

    /// Makes `new` another name of the file at `existing` (not followed if a symlink).
    ///
    /// # Errors
    /// `EEXIST`, `EPERM` (a directory, or a file the caller may not link under
    /// Linux's protected-hardlinks rule), `ENOENT`, `ENOTDIR`, `EACCES`, `EROFS`.
    pub fn link(&self, existing: &str, new: &str) -> Result<()> {
        let now = self.now();
        let inner = || {
            let mut st = self.lock();
            let old = self.resolver(&st).resolve(existing, false)?;
            check_path(new)?;
            let (np, last) = self.resolver(&st).walk(new)?;
            self.link_at(&mut st, old, np, last, now)
        };
        inner().map_err(|e| PosixError::new(e, &format!("link {existing} ->"), Some(new)))?;
        self.emit(EventKind::Created, new);
        Ok(())
    }

    /// `link` once the source inode and the new parent are known.
    pub(crate) fn link_at(
        &self,
        st: &mut State,
        old: Ino,
        np: Ino,
        last: Last<'_>,
        now: Now<'_>,
    ) -> std::result::Result<(), Errno> {
        {
            let (np, name) = self.prepare_create(st, np, last, false, false)?;
            let oi = st.get(old)?;
            let safe_source = oi.is_file()
                && oi.mode & S_ISUID == 0
                && oi.mode & (S_ISGID | 0o010) != (S_ISGID | 0o010)
                && oi.permits(&self.cred, MAY_READ | MAY_WRITE);
            if !(safe_source || oi.owned_by(&self.cred)) {
                return Err(EPERM);
            }
            if !st.get(np)?.permits(&self.cred, MAY_WRITE | MAY_EXEC) {
                return Err(EACCES);
            }
            if oi.is_dir() {
                return Err(EPERM);
            }
            let p = st.get_mut(np)?;
            p.dir_mut().ok_or(ENOTDIR)?.insert(&name, old);
            p.touch(now);
            let oi = st.get_mut(old)?;
            oi.nlink += 1;
            oi.touch_ctime(now);
            st.record_attributes(np);
            st.record_attributes(old);
            Ok(())
        }
    }

    /// Creates a symbolic link at `linkpath` pointing to `target` (stored as given).
    ///
    /// # Errors
    /// `ENOENT` (empty target, or a trailing slash on `linkpath`), `EEXIST`,
    /// `ENAMETOOLONG`, `EACCES`, `EROFS`.
    ///
    /// ```
    /// use memory_fs_posix::MemoryFileSystem;
    /// let fs = MemoryFileSystem::new();
    /// fs.mkdir("/real", 0o755)?;
    /// fs.symlink("real", "/alias")?;
    /// assert_eq!(fs.readlink("/alias")?, "real");
    /// assert!(fs.stat("/alias")?.is_dir());
    /// assert!(fs.lstat("/alias")?.is_symlink());
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn symlink(&self, target: &str, linkpath: &str) -> Result<()> {
        let now = self.now();
        let inner = || {
            check_path(target)?;
            check_path(linkpath)?;
            let mut st = self.lock();
            let (parent, last) = self.resolver(&st).walk(linkpath)?;
            self.make_symlink(&mut st, parent, last, target, now)
        };
        inner().map_err(|e| PosixError::new(e, &format!("symlink {target} ->"), Some(linkpath)))?;
        self.emit(EventKind::Created, linkpath);
        Ok(())
    }

    /// `symlink` once the parent is known (the target already checked).
    pub(crate) fn make_symlink(
        &self,
        st: &mut State,
        parent: Ino,
        last: Last<'_>,
        target: &str,
        now: Now<'_>,
    ) -> std::result::Result<Ino, Errno> {
        let (parent, name) = self.prepare_create(st, parent, last, false, true)?;
        st.create(
            parent,
            &name,
            S_IFLNK | 0o777,
            &self.cred,
            Kind::Symlink(target.into()),
            now,
        )
    }

    /// The target of a symbolic link.
    ///
    /// # Errors
    /// `EINVAL` if `path` is not a symlink; `ENOENT`, `ENOTDIR`, `EACCES`.
    pub fn readlink(&self, path: &str) -> Result<String> {
        let inner = || {
            let st = self.lock();
            let ino = self.resolver(&st).resolve(path, false)?;
            match &st.get(ino)?.kind {
                Kind::Symlink(t) => Ok(t.to_string()),
                _ => Err(EINVAL),
            }
        };
        inner().map_err(fail("readlink", path))
    }

    /// The canonical absolute path: every symlink, `.` and `..` resolved.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES`, `ELOOP`.
    ///
    /// ```
    /// use memory_fs_posix::MemoryFileSystem;
    /// let fs = MemoryFileSystem::new();
    /// fs.mkdir("/a", 0o755)?;
    /// fs.symlink("/a", "/link")?;
    /// assert_eq!(fs.realpath("/link/../a/./")?, "/a");
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn realpath(&self, path: &str) -> Result<String> {
        let st = self.lock();
        self.resolver(&st)
            .realpath(path)
            .map_err(fail("realpath", path))
    }

    // ----- metadata ----------------------------------------------------------------

    /// Status of `path`, following symlinks.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES`, `ELOOP`, `ENAMETOOLONG`.
    pub fn stat(&self, path: &str) -> Result<Stat> {
        self.stat_inner(path, true).map_err(fail("stat", path))
    }

    /// Status of `path` itself, not following a final symlink.
    ///
    /// # Errors
    /// As [`stat`](Self::stat).
    pub fn lstat(&self, path: &str) -> Result<Stat> {
        self.stat_inner(path, false).map_err(fail("lstat", path))
    }

    fn stat_inner(&self, path: &str, follow: bool) -> std::result::Result<Stat, Errno> {
        let mut st = self.lock();
        let ino = self.resolver(&st).resolve(path, follow)?;
        Ok(st.get_mut(ino)?.report(ino))
    }

    /// Whether the caller may access `path` as `mode` asks ([`AccessMode::F`]: it exists).
    ///
    /// # Errors
    /// `EACCES`, `EROFS` (write on a read-only tree), `ENOENT`, `ENOTDIR`, `ELOOP`.
    pub fn access(&self, path: &str, mode: AccessMode) -> Result<()> {
        let inner = || {
            let st = self.lock();
            let ino = self.resolver(&st).resolve(path, true)?;
            self.access_inode(st.get(ino)?, mode)
        };
        inner().map_err(fail("access", path))
    }

    /// `access` once the inode is known.
    pub(crate) fn access_inode(
        &self,
        inode: &Inode,
        mode: AccessMode,
    ) -> std::result::Result<(), Errno> {
        if mode.contains(AccessMode::W) {
            self.rofs()?;
        }
        if inode.permits(&self.cred, mode.bits()) {
            Ok(())
        } else {
            Err(EACCES)
        }
    }

    /// Sets the permission bits (`mode & 0o7777`).
    ///
    /// # Errors
    /// `EPERM` (not the owner), `EROFS`, and the lookup errors.
    pub fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.with_path_inode("chmod", path, |fs, inode| fs.chmod_inode(inode, mode))
    }

    /// [`chmod`](Self::chmod) through a descriptor.
    ///
    /// # Errors
    /// `EBADF`, `EPERM`, `EROFS`.
    pub fn fchmod(&self, fd: Fd, mode: u32) -> Result<()> {
        self.with_fd_inode("fchmod", fd, |fs, inode| fs.chmod_inode(inode, mode))
    }

    pub(crate) fn chmod_inode(
        &self,
        inode: &mut Inode,
        mode: u32,
    ) -> std::result::Result<(), Errno> {
        self.rofs()?;
        if !inode.owned_by(&self.cred) {
            return Err(EPERM);
        }
        let mut bits = mode & 0o7777;
        if self.cred.uid != 0 && !self.cred.in_group(inode.gid) {
            bits &= !S_ISGID;
        }
        inode.mode = (inode.mode & S_IFMT) | bits;
        inode.touch_ctime(self.now());
        Ok(())
    }

    /// Changes owner and/or group; `None` (or `u32::MAX`, as `-1` in C) keeps one.
    ///
    /// Only root may give a file away; the owner may change the group to one of its
    /// own groups. Set-user-id is cleared on non-directories, as Linux does.
    ///
    /// # Errors
    /// `EPERM`, `EROFS`, and the lookup errors.
    pub fn chown(
        &self,
        path: &str,
        uid: impl Into<Option<u32>>,
        gid: impl Into<Option<u32>>,
    ) -> Result<()> {
        let (uid, gid) = (keep(uid.into()), keep(gid.into()));
        self.with_path_inode("chown", path, |fs, inode| fs.chown_inode(inode, uid, gid))
    }

    /// [`chown`](Self::chown) through a descriptor.
    ///
    /// # Errors
    /// `EBADF`, `EPERM`, `EROFS`.
    pub fn fchown(
        &self,
        fd: Fd,
        uid: impl Into<Option<u32>>,
        gid: impl Into<Option<u32>>,
    ) -> Result<()> {
        let (uid, gid) = (keep(uid.into()), keep(gid.into()));
        self.with_fd_inode("fchown", fd, |fs, inode| fs.chown_inode(inode, uid, gid))
    }

    pub(crate) fn chown_inode(
        &self,
        inode: &mut Inode,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> std::result::Result<(), Errno> {
        self.rofs()?;
        let cred = &*self.cred;
        let root = cred.uid == 0;
        if let Some(u) = uid
            && !(root || (cred.uid == inode.uid && u == inode.uid))
        {
            return Err(EPERM);
        }
        if let Some(g) = gid
            && !(root || (cred.uid == inode.uid && (g == inode.gid || cred.in_group(g))))
        {
            return Err(EPERM);
        }
        if !inode.is_dir() {
            let mut mode = inode.mode & !S_ISUID;
            if mode & S_ISGID != 0 && (mode & 0o010 != 0 || !(root || cred.in_group(inode.gid))) {
                mode &= !S_ISGID;
            }
            inode.mode = mode;
        }
        if let Some(u) = uid {
            inode.uid = u;
        }
        if let Some(g) = gid {
            inode.gid = g;
        }
        inode.touch_ctime(self.now());
        Ok(())
    }

    /// Sets the length of the file at `path` (following symlinks).
    ///
    /// # Errors
    /// `EISDIR`, `EINVAL` (not a regular file, or length above `i64::MAX`), `EACCES`,
    /// `EFBIG`, `EROFS`, and the lookup errors.
    pub fn truncate(&self, path: &str, len: u64) -> Result<()> {
        let now = self.now();
        let inner = || {
            if i64::try_from(len).is_err() {
                return Err(EINVAL);
            }
            let mut st = self.lock();
            let ino = self.resolver(&st).resolve(path, true)?;
            self.truncate_checked(&mut st, ino, len, now)
        };
        inner().map_err(fail("truncate", path))?;
        self.emit(EventKind::Modified, path);
        Ok(())
    }

    /// `truncate` once the inode is known: the permission checks, then the length.
    pub(crate) fn truncate_checked(
        &self,
        st: &mut State,
        ino: Ino,
        len: u64,
        now: Now<'_>,
    ) -> std::result::Result<(), Errno> {
        let inode = st.get(ino)?;
        if inode.is_dir() {
            return Err(EISDIR);
        }
        if !inode.is_file() {
            return Err(EINVAL);
        }
        self.rofs()?;
        if !inode.permits(&self.cred, MAY_WRITE) {
            return Err(EACCES);
        }
        self.truncate_ino(st, ino, len, false, now)
    }

    /// Sets access and modification times (following symlinks).
    ///
    /// Explicit times need the owner or root; `Now` for both needs write permission
    /// or ownership; `Omit` for both does nothing.
    ///
    /// # Errors
    /// `EPERM`, `EACCES`, `EROFS`, and the lookup errors.
    pub fn utimens(&self, path: &str, atime: SetTime, mtime: SetTime) -> Result<()> {
        self.with_path_inode("utimens", path, |fs, inode| {
            fs.utimens_inode(inode, atime, mtime)
        })
    }

    /// [`utimens`](Self::utimens) through a descriptor.
    ///
    /// # Errors
    /// `EBADF`, `EPERM`, `EACCES`, `EROFS`.
    pub fn futimens(&self, fd: Fd, atime: SetTime, mtime: SetTime) -> Result<()> {
        self.with_fd_inode("futimens", fd, |fs, inode| {
            fs.utimens_inode(inode, atime, mtime)
        })
    }

    pub(crate) fn utimens_inode(
        &self,
        inode: &mut Inode,
        atime: SetTime,
        mtime: SetTime,
    ) -> std::result::Result<(), Errno> {
        if atime == SetTime::Omit && mtime == SetTime::Omit {
            return Ok(());
        }
        self.rofs()?;
        if atime == SetTime::Now && mtime == SetTime::Now {
            if !inode.owned_by(&self.cred) && !inode.permits(&self.cred, MAY_WRITE) {
                return Err(EACCES);
            }
        } else if !inode.owned_by(&self.cred) {
            return Err(EPERM);
        }
        // As Linux's `setattr_copy_mgtime`: "now" is the ctime this change gets.
        let now = self.now().for_change(inode);
        let pick = |t: SetTime, old: Timespec| match t {
            SetTime::Now => now,
            SetTime::Omit => old,
            SetTime::At(t) => t,
        };
        inode.atime = pick(atime, inode.atime.into()).into();
        inode.mtime = pick(mtime, inode.mtime.into()).into();
        inode.ctime = now.into();
        Ok(())
    }

    fn with_path_inode(
        &self,
        op: &str,
        path: &str,
        f: impl FnOnce(&Self, &mut Inode) -> std::result::Result<(), Errno>,
    ) -> Result<()> {
        let inner = || {
            let mut st = self.lock();
            let ino = self.resolver(&st).resolve(path, true)?;
            f(self, st.get_mut(ino)?)?;
            st.metadata_changed(ino);
            Ok(())
        };
        inner().map_err(fail(op, path))?;
        self.emit(EventKind::MetadataChanged, path);
        Ok(())
    }

    fn with_fd_inode(
        &self,
        op: &'static str,
        fd: Fd,
        f: impl FnOnce(&Self, &mut Inode) -> std::result::Result<(), Errno>,
    ) -> Result<()> {
        let ino = {
            let mut st = self.lock();
            let of = st.fd(fd.0).map_err(fail_fd(op, fd))?;
            f(self, st.get_mut(of.ino).map_err(fail_fd(op, fd))?).map_err(fail_fd(op, fd))?;
            st.metadata_changed(of.ino);
            of.ino
        };
        self.emit_fd(ino, EventKind::MetadataChanged);
        Ok(())
    }

    /// Emits an event for a change made through a descriptor, naming the inode's
    /// current path if a watcher wants it.
    pub(crate) fn emit_fd(&self, ino: Ino, kind: EventKind) {
        if self.shared.watchers.is_empty() {
            return;
        }
        if let Some(path) = self.path_of(ino) {
            self.emit(kind, &path);
        }
    }

    /// One path of a live inode, found by walking the tree (used only for events).
    pub(crate) fn path_of(&self, target: Ino) -> Option<String> {
        if target == ROOT {
            return Some("/".to_owned());
        }
        let st = self.lock();
        let mut stack = vec![(ROOT, String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let d = st.get(dir).ok()?.dir()?;
            for (name, ino) in d.iter() {
                let path = format!("{prefix}/{name}");
                if ino == target {
                    return Some(path);
                }
                if st.get(ino).ok()?.is_dir() {
                    stack.push((ino, path));
                }
            }
        }
        None
    }
}

/// What `mknod` makes for `mode`'s file type (`may_mknod`): 0 is a regular file.
pub(crate) fn node_kind(mode: u32, rdev: u64) -> std::result::Result<Kind, Errno> {
    match mode & S_IFMT {
        0 | S_IFREG => Ok(Kind::File(Content::default())),
        S_IFIFO | S_IFSOCK | S_IFCHR | S_IFBLK => Ok(Kind::Special(rdev)),
        S_IFDIR => Err(EPERM),
        _ => Err(EINVAL),
    }
}

/// `u32::MAX` means "keep", as `(uid_t)-1` does in C.
fn keep(id: Option<u32>) -> Option<u32> {
    id.filter(|&v| v != u32::MAX)
}

// Limits re-exported for documentation and the adapters.
/// Longest path accepted, in bytes, including the terminating NUL (`PATH_MAX`).
pub const PATH_MAX_BYTES: usize = PATH_MAX;
/// Longest entry name, in bytes (`NAME_MAX`).
pub const NAME_MAX_BYTES: usize = NAME_MAX;
/// Most symlinks followed while resolving one path.
pub const SYMLINK_LIMIT: u32 = MAX_SYMLINKS;

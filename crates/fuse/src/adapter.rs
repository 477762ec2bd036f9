//! The FUSE request handlers: each maps one kernel request to the core's inode-level
//! API, running as the caller's credentials, and the core's errno back; and the
//! invalidation notifications that keep the kernel's caches the core's.
//!
//! With [`PermissionChecks::Core`], timeouts are zero: the kernel looks every path
//! step up again and fetches every status, so the core's permission checks (search
//! permission on each directory, read and write permission on open) and its
//! timestamps always decide. With [`PermissionChecks::Kernel`], the kernel keeps
//! entries and attributes for [`CACHE_TTL`] and checks mode bits itself, and the core
//! still checks each request it receives. In both, file pages stay in the kernel's
//! page cache across opens (`FOPEN_KEEP_CACHE`).
//!
//! Coherence: what the kernel asks for through the mount, it already accounts for
//! (it updates or drops its own copies). Everything else that changes the tree —
//! the core's own API, used by this process while mounted — reaches the kernel as
//! `inval_entry`/`inval_inode` notifications, sent by the thread that made the change
//! after it released the tree and before its call returns.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, InitFlags, KernelConfig, LockOwner, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use memory_fs_posix::{
    AccessMode, Credentials, DirEntry, Fd, InodeChange, MemoryFileSystem, OpenFlags, PosixError,
    RenameFlags, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID,
    S_ISUID, SetTime, Stat, Timespec,
};

use crate::counts::{Counts, Op};
use crate::{CACHE_TTL, PermissionChecks};

/// `FMODE_EXEC`, set in the open flags when the kernel opens a file to execute it.
const FMODE_EXEC: i32 = 0x20;

/// Largest write the kernel sends in one request (it caps requests at its own page
/// limit, 1 MiB by default).
const MAX_WRITE: u32 = 1 << 20;

/// The filesystem behind a mount.
pub(crate) struct Adapter {
    /// Requests received, by kind.
    counts: Arc<Counts>,
    /// The handle the mount serves through: the observer of the tree's changes
    /// reports everything but what this handle (and those made from it) does.
    fs: MemoryFileSystem,
    checks: PermissionChecks,
    /// Directory listings taken at `readdir` offset 0, by directory handle.
    listings: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
}

/// Passes changes made outside the mount on to the kernel.
pub(crate) fn invalidate(notifier: &fuser::Notifier, changes: &[InodeChange]) {
    for change in changes {
        // An inode or entry the kernel does not hold is nothing to drop (fuser
        // ignores that answer), and a mount going away cannot be told anything.
        let _ = match change {
            InodeChange::Attributes { ino } => notifier.inval_inode(INodeNo(*ino), -1, 0),
            InodeChange::Content { ino, offset, len } => notifier.inval_inode(
                INodeNo(*ino),
                i64::try_from(*offset).unwrap_or(i64::MAX),
                i64::try_from(*len).unwrap_or(0),
            ),
            InodeChange::Entry { parent, name } => {
                notifier.inval_entry(INodeNo(*parent), OsStr::new(name))
            }
            _ => Ok(()),
        };
    }
}

impl Adapter {
    pub(crate) fn new(fs: MemoryFileSystem, checks: PermissionChecks, counts: Arc<Counts>) -> Self {
        Self {
            counts,
            fs,
            checks,
            listings: Mutex::new(HashMap::new()),
        }
    }

    /// How long the kernel may keep `stat`. A regular file with set-user-id or
    /// set-group-id is never cached: the core clears those bits on a write, which
    /// the kernel does not learn from the write's reply.
    fn ttl(&self, stat: &Stat) -> Duration {
        let privileged = stat.mode & S_IFMT == S_IFREG && stat.mode & (S_ISUID | S_ISGID) != 0;
        match self.checks {
            PermissionChecks::Kernel if !privileged => CACHE_TTL,
            _ => Duration::ZERO,
        }
    }

    /// Open flags for a descriptor on an inode of `mode`: regular files keep their
    /// pages in the kernel's cache (outside changes invalidate them).
    fn fopen_flags(mode: u32) -> FopenFlags {
        if mode & S_IFMT == S_IFREG {
            FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        }
    }

    fn reply_entry(&self, reply: ReplyEntry, result: Result<Stat, Errno>) {
        match result {
            Ok(stat) => reply.entry(&self.ttl(&stat), &attr(&stat), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    /// A handle on the tree acting as the request's caller.
    fn as_caller(&self, req: &Request) -> MemoryFileSystem {
        self.fs.with_credentials(credentials(req))
    }

    fn listings(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Vec<DirEntry>>>> {
        self.listings.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The caller's uid, gid and supplementary groups (read from `/proc/<pid>/status`;
/// root needs none, and a process that has already gone has none).
fn credentials(req: &Request) -> Credentials {
    let (uid, gid) = (req.uid(), req.gid());
    let groups = if uid == 0 {
        Vec::new()
    } else {
        supplementary_groups(req.pid())
    };
    Credentials { uid, gid, groups }
}

fn supplementary_groups(pid: u32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn errno(err: &PosixError) -> Errno {
    Errno::from_i32(err.errno().raw())
}

/// An entry name as the core takes it (names that are not UTF-8 are refused).
fn name_str(name: &OsStr) -> Result<&str, Errno> {
    name.to_str().ok_or(Errno::EINVAL)
}

fn system_time(t: Timespec) -> SystemTime {
    t.to_system_time()
}

fn file_type(mode: u32) -> FileType {
    match mode & S_IFMT {
        S_IFDIR => FileType::Directory,
        S_IFLNK => FileType::Symlink,
        S_IFIFO => FileType::NamedPipe,
        S_IFSOCK => FileType::Socket,
        S_IFCHR => FileType::CharDevice,
        S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn attr(stat: &Stat) -> FileAttr {
    FileAttr {
        ino: INodeNo(stat.ino),
        size: stat.size,
        blocks: stat.blocks,
        atime: system_time(stat.atime),
        mtime: system_time(stat.mtime),
        ctime: system_time(stat.ctime),
        crtime: UNIX_EPOCH,
        kind: file_type(stat.mode),
        perm: (stat.mode & 0o7777) as u16,
        nlink: u32::try_from(stat.nlink).unwrap_or(u32::MAX),
        uid: stat.uid,
        gid: stat.gid,
        rdev: stat.rdev as u32,
        blksize: stat.blksize,
        flags: 0,
    }
}

/// The core's open flags for the kernel's `O_*` flags (the kernel has already handled
/// `O_CREAT`, `O_EXCL`, `O_NOFOLLOW` and `O_DIRECTORY`).
fn open_flags(flags: i32) -> OpenFlags {
    let mut out = match flags & libc::O_ACCMODE {
        libc::O_WRONLY => OpenFlags::WRITE,
        libc::O_RDWR => OpenFlags::READ | OpenFlags::WRITE,
        _ => OpenFlags::READ,
    };
    if flags & libc::O_APPEND != 0 {
        out |= OpenFlags::APPEND;
    }
    if flags & libc::O_TRUNC != 0 {
        out |= OpenFlags::TRUNC;
    }
    out
}

fn set_time(t: Option<TimeOrNow>) -> SetTime {
    match t {
        None => SetTime::Omit,
        Some(TimeOrNow::Now) => SetTime::Now,
        Some(TimeOrNow::SpecificTime(t)) => SetTime::At(Timespec::from(t)),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for Adapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // `O_TRUNC` arrives with `open`, so the core checks and truncates in one step;
        // the core clears set-user-id on write, truncate and chown itself. A kernel
        // without either capability still works, through separate requests.
        // Lookups and listings in one directory may run at once (the core serialises
        // what must be).
        for capability in [
            InitFlags::FUSE_ATOMIC_O_TRUNC,
            InitFlags::FUSE_HANDLE_KILLPRIV,
            InitFlags::FUSE_PARALLEL_DIROPS,
        ] {
            let _ = config.add_capabilities(capability);
        }
        // A larger limit than the kernel's own is clamped to it; nothing to report.
        let _ = config.set_max_write(MAX_WRITE);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.counts.add(Op::Lookup);
        let Ok(name) = name_str(name) else {
            return reply.error(Errno::ENOENT);
        };
        let fs = self.as_caller(req);
        self.reply_entry(
            reply,
            fs.inodes().lookup(parent.0, name).map_err(|e| errno(&e)),
        );
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.counts.add(Op::Forget);
        self.fs.inodes().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.counts.add(Op::Getattr);
        match self.fs.inodes().getattr(ino.0) {
            Ok(stat) => reply.attr(&self.ttl(&stat), &attr(&stat)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.counts.add(Op::Setattr);
        let fs = self.as_caller(req);
        let inodes = fs.inodes();
        let run = || -> Result<Stat, PosixError> {
            if let Some(len) = size {
                match fh {
                    Some(fh) => fs.ftruncate(Fd(fh.0 as u32), len)?,
                    None => drop(inodes.truncate(ino.0, len)?),
                }
            }
            if uid.is_some() || gid.is_some() {
                inodes.chown(ino.0, uid, gid)?;
            }
            if let Some(mode) = mode {
                inodes.chmod(ino.0, mode)?;
            }
            // A truncate comes with "mtime = now", which the truncate itself has done.
            let truncate_time = size.is_some() && atime.is_none();
            if (atime.is_some() || mtime.is_some()) && !truncate_time {
                inodes.utimens(ino.0, set_time(atime), set_time(mtime))?;
            }
            let nothing = size.is_none()
                && uid.is_none()
                && gid.is_none()
                && mode.is_none()
                && atime.is_none()
                && mtime.is_none();
            if nothing {
                // `chown(path, -1, -1)`: the kernel sends a setattr that sets nothing
                // (the ctime it asks for is not passed on without writeback caching),
                // and Linux still changes ctime and clears set-user-id.
                return inodes.chown(ino.0, None, None);
            }
            inodes.getattr(ino.0)
        };
        match run() {
            Ok(stat) => reply.attr(&self.ttl(&stat), &attr(&stat)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.counts.add(Op::Readlink);
        match self.fs.inodes().readlink(ino.0) {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        self.counts.add(Op::Mknod);
        let fs = self.as_caller(req);
        let result = name_str(name).and_then(|name| {
            fs.inodes()
                .mknod(parent.0, name, mode, u64::from(rdev))
                .map_err(|e| errno(&e))
        });
        self.reply_entry(reply, result);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        self.counts.add(Op::Mkdir);
        let fs = self.as_caller(req);
        let result = name_str(name).and_then(|name| {
            fs.inodes()
                .mkdir(parent.0, name, mode)
                .map_err(|e| errno(&e))
        });
        self.reply_entry(reply, result);
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.counts.add(Op::Unlink);
        let fs = self.as_caller(req);
        let result = name_str(name)
            .and_then(|name| fs.inodes().unlink(parent.0, name).map_err(|e| errno(&e)));
        reply_empty(reply, result);
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.counts.add(Op::Rmdir);
        let fs = self.as_caller(req);
        let result = name_str(name)
            .and_then(|name| fs.inodes().rmdir(parent.0, name).map_err(|e| errno(&e)));
        reply_empty(reply, result);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        self.counts.add(Op::Symlink);
        let fs = self.as_caller(req);
        let result = name_str(link_name).and_then(|name| {
            let target = name_str(target.as_os_str())?;
            fs.inodes()
                .symlink(parent.0, name, target)
                .map_err(|e| errno(&e))
        });
        self.reply_entry(reply, result);
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.counts.add(Op::Rename);
        let fs = self.as_caller(req);
        let result = (|| {
            if !(flags - fuser::RenameFlags::RENAME_NOREPLACE).is_empty() {
                return Err(Errno::EINVAL);
            }
            let mut core_flags = RenameFlags::empty();
            if flags.contains(fuser::RenameFlags::RENAME_NOREPLACE) {
                core_flags |= RenameFlags::NOREPLACE;
            }
            fs.inodes()
                .rename(
                    parent.0,
                    name_str(name)?,
                    newparent.0,
                    name_str(newname)?,
                    core_flags,
                )
                .map_err(|e| errno(&e))
        })();
        reply_empty(reply, result);
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.counts.add(Op::Link);
        let fs = self.as_caller(req);
        let result = name_str(newname).and_then(|name| {
            fs.inodes()
                .link(ino.0, newparent.0, name)
                .map_err(|e| errno(&e))
        });
        self.reply_entry(reply, result);
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: fuser::OpenFlags, reply: ReplyOpen) {
        self.counts.add(Op::Open);
        let fs = self.as_caller(req);
        let inodes = fs.inodes();
        let result = (|| {
            if flags.0 & FMODE_EXEC != 0 {
                inodes.access(ino.0, AccessMode::X)?;
            }
            inodes.open(ino.0, open_flags(flags.0))
        })();
        match result {
            // Only regular files reach `open`: the kernel opens special files itself.
            Ok(fd) => reply.opened(
                FileHandle(u64::from(fd.as_raw())),
                Self::fopen_flags(S_IFREG),
            ),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.counts.add(Op::Read);
        let Ok(offset) = i64::try_from(offset) else {
            return reply.error(Errno::EINVAL);
        };
        let mut buf = vec![0; size as usize];
        match self.fs.pread(Fd(fh.0 as u32), &mut buf, offset) {
            Ok(n) => reply.data(&buf[..n]),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.counts.add(Op::Write);
        let Ok(offset) = i64::try_from(offset) else {
            return reply.error(Errno::EINVAL);
        };
        // The caller matters: an unprivileged write clears set-user-id.
        let fs = self.as_caller(req);
        match fs.pwrite(Fd(fh.0 as u32), data, offset) {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.counts.add(Op::Flush);
        // Nothing is buffered between the kernel and the core. This answer tells the
        // kernel so once, and it stops asking on every close.
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: fuser::OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.counts.add(Op::Release);
        reply_empty(reply, self.fs.close(Fd(fh.0 as u32)).map_err(|e| errno(&e)));
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.counts.add(Op::Fsync);
        reply.ok();
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: fuser::OpenFlags, reply: ReplyOpen) {
        self.counts.add(Op::Opendir);
        let fs = self.as_caller(req);
        match fs
            .inodes()
            .open(ino.0, OpenFlags::READ | OpenFlags::DIRECTORY)
        {
            Ok(fd) => reply.opened(FileHandle(u64::from(fd.as_raw())), FopenFlags::empty()),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.counts.add(Op::Readdir);
        let cached = if offset == 0 {
            None
        } else {
            self.listings().get(&fh.0).cloned()
        };
        let listing = match cached {
            Some(listing) => listing,
            None => match self.fs.inodes().read_dir(Fd(fh.0 as u32)) {
                Ok(entries) => {
                    let listing = Arc::new(entries);
                    self.listings().insert(fh.0, Arc::clone(&listing));
                    listing
                }
                Err(e) => return reply.error(errno(&e)),
            },
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, entry) in listing.iter().enumerate().skip(start) {
            let next = i as u64 + 1;
            if reply.add(
                INodeNo(entry.ino),
                next,
                file_type(entry.file_type),
                &entry.name,
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: fuser::OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.counts.add(Op::Releasedir);
        self.listings().remove(&fh.0);
        reply_empty(reply, self.fs.close(Fd(fh.0 as u32)).map_err(|e| errno(&e)));
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.counts.add(Op::Fsyncdir);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.counts.add(Op::Statfs);
        let s = self.fs.inodes().statfs();
        reply.statfs(
            s.blocks,
            s.blocks_free,
            s.blocks_free,
            s.files,
            s.files_free,
            s.block_size,
            s.name_max,
            s.block_size,
        );
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        self.counts.add(Op::Access);
        let fs = self.as_caller(req);
        let mode = AccessMode::from_bits_truncate(mask.bits() as u32);
        reply_empty(
            reply,
            fs.inodes().access(ino.0, mode).map_err(|e| errno(&e)),
        );
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.counts.add(Op::Create);
        let fs = self.as_caller(req);
        let mut core_flags = open_flags(flags);
        if flags & libc::O_EXCL != 0 {
            core_flags |= OpenFlags::EXCL;
        }
        let result = name_str(name).and_then(|name| {
            fs.inodes()
                .create(parent.0, name, mode, core_flags)
                .map_err(|e| errno(&e))
        });
        match result {
            Ok((stat, fd)) => reply.created(
                &self.ttl(&stat),
                &attr(&stat),
                Generation(0),
                FileHandle(u64::from(fd.as_raw())),
                Self::fopen_flags(stat.mode),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.counts.add(Op::Fallocate);
        if mode != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let fs = self.as_caller(req);
        reply_empty(
            reply,
            fs.fallocate(Fd(fh.0 as u32), offset, length)
                .map_err(|e| errno(&e)),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: fuser::IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        self.counts.add(Op::Ioctl);
        // The core's files have no device behind them: every ioctl is "not a
        // terminal", as on tmpfs (`isatty` asks this of every file it is given).
        reply.error(Errno::ENOTTY);
    }
}

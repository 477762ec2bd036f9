//! `Inodes`: the tree addressed by inode number and entry name, as the kernel's VFS
//! (and so FUSE) sees a filesystem.
//!
//! The kernel walks paths itself and asks the filesystem one step at a time:
//! `lookup(parent, name)`, `mkdir(parent, name)`, `open(ino)`… Each method here runs
//! the same checks, in the same order, as the path operation it corresponds to (both
//! call one implementation in `fs.rs`); only the walk is replaced by the one step the
//! caller names. Every method that returns an entry's [`Stat`] (a lookup or a
//! creation) also takes one *reference* on that inode, as the kernel's lookup count
//! does: a referenced inode keeps its number and content after its last link and
//! descriptor are gone, until [`Inodes::forget`] drops the references.

use std::borrow::Cow;

use crate::error::Errno::{self, *};
use crate::flags::{AccessMode, OpenFlags};
use crate::fs::node_kind;
use crate::path::{Last, Resolver};
use crate::stat::{S_IFMT, SetTime, Stat};
use crate::state::{Ino, Kind, MAY_EXEC, ROOT, State};
use crate::watch::EventKind;
use crate::{Fd, MemoryFileSystem, PosixError, Result};

/// The root directory's inode number.
pub const ROOT_INO: u64 = ROOT;

/// One entry of a directory listing, as `readdir(3)` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u64,
    /// File type bits ([`S_IFREG`](crate::S_IFREG), [`S_IFDIR`](crate::S_IFDIR)…).
    pub file_type: u32,
    /// Entry name (`.` and `..` included).
    pub name: String,
}

/// Filesystem statistics, as `statfs(2)` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatFs {
    /// Block size in bytes.
    pub block_size: u32,
    /// Total blocks: the capacity, or what is used plus [`UNLIMITED_FREE`] bytes for a
    /// tree without a capacity.
    pub blocks: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Inodes in use plus free inodes.
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
    /// Longest entry name.
    pub name_max: u32,
}

/// Free space a tree without a capacity reports through [`Inodes::statfs`] (1 TiB).
pub const UNLIMITED_FREE: u64 = 1 << 40;

/// Most inodes [`Inodes::statfs`] reports (the slab could hold more; tools only need
/// a number).
const MAX_INODES: u64 = u32::MAX as u64;

bitflags::bitflags! {
    /// Flags of [`Inodes::rename`] (`renameat2(2)`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct RenameFlags: u32 {
        /// Fail with `EEXIST` instead of replacing an existing target.
        const NOREPLACE = 1;
    }
}

/// The tree by inode number and entry name, as the kernel's VFS (and so FUSE) sees a
/// filesystem, acting with the credentials of the handle it came from.
///
/// Each method runs the same checks, in the same order, as the path operation it
/// corresponds to; only the path walk is replaced by the one step the caller names.
/// Every method that returns an entry's [`Stat`] (a lookup or a creation) also takes
/// one *reference* on that inode, as the kernel's lookup count does: a referenced
/// inode keeps its number and content after its last link and descriptor are gone,
/// until [`forget`](Self::forget) drops the references.
///
/// ```
/// use memory_fs_posix::{MemoryFileSystem, OpenFlags, ROOT_INO};
///
/// let fs = MemoryFileSystem::new();
/// let inodes = fs.inodes();
/// let dir = inodes.mkdir(ROOT_INO, "docs", 0o755)?;
/// let (file, fd) = inodes.create(dir.ino, "a.txt", 0o644, OpenFlags::WRITE)?;
/// fs.write(fd, b"hello")?;
/// fs.close(fd)?;
/// assert_eq!(inodes.lookup(dir.ino, "a.txt")?.size, 5);
/// inodes.unlink(dir.ino, "a.txt")?;
/// // Still referenced (by the create and the lookup): the inode lives on.
/// assert_eq!(inodes.getattr(file.ino)?.nlink, 0);
/// inodes.forget(file.ino, 2);
/// assert!(inodes.getattr(file.ino).is_err());
/// # Ok::<(), memory_fs_posix::PosixError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Inodes<'a> {
    fs: &'a MemoryFileSystem,
}

impl MemoryFileSystem {
    /// The inode-level view of this tree, acting as this handle's credentials.
    pub fn inodes(&self) -> Inodes<'_> {
        Inodes { fs: self }
    }
}

/// Wraps an errno with the operation and the inode (and name) it concerned.
fn fail_at<'a>(op: &'a str, ino: u64, name: &'a str) -> impl FnOnce(Errno) -> PosixError + 'a {
    move |e| PosixError::new(e, &format!("{op} ino {ino}"), Some(name))
}

fn fail_ino(op: &str, ino: u64) -> impl FnOnce(Errno) -> PosixError + '_ {
    move |e| PosixError::new(e, &format!("{op} ino {ino}"), None)
}

impl Inodes<'_> {
    /// The one step of a walk: search permission on directory `parent`, then `name`
    /// as the last component (`.` and `..` as a path would have them).
    fn step<'n>(
        &self,
        st: &State,
        parent: Ino,
        name: &'n str,
    ) -> std::result::Result<(Ino, Last<'n>), Errno> {
        if name.is_empty() {
            return Err(ENOENT);
        }
        if name.contains(['/', '\0']) {
            return Err(EINVAL);
        }
        let dir = st.get(parent)?;
        if !dir.is_dir() {
            return Err(ENOTDIR);
        }
        if !dir.permits(&self.fs.cred, MAY_EXEC) {
            return Err(EACCES);
        }
        let last = match name {
            "." => Last::Dot,
            ".." => Last::DotDot,
            n => Last::Name(Cow::Borrowed(n), false),
        };
        Ok((parent, last))
    }

    /// Takes a reference on `ino` and returns its status.
    fn pinned(st: &mut State, ino: Ino) -> std::result::Result<Stat, Errno> {
        st.pin(ino)?;
        Ok(st.get_mut(ino)?.report(ino))
    }

    /// The path of `name` in `parent`, for watch events (only when someone watches).
    fn event_path(&self, parent: Ino, name: &str) -> Option<String> {
        if self.fs.shared.watchers.is_empty() {
            return None;
        }
        let dir = self.fs.path_of(parent)?;
        Some(format!("{}/{name}", dir.trim_end_matches('/')))
    }

    fn emit_at(&self, kind: EventKind, parent: Ino, name: &str) {
        if let Some(path) = self.event_path(parent, name) {
            self.fs.emit(kind, &path);
        }
    }

    /// Looks `name` up in directory `parent` (search permission needed) and takes a
    /// reference on what it finds. Symlinks are not followed.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES`, `ENAMETOOLONG`, `EINVAL` (a name with `/`).
    pub fn lookup(&self, parent: u64, name: &str) -> Result<Stat> {
        let inner = || {
            let mut st = self.fs.lock();
            let (parent, last) = self.step(&st, parent, name)?;
            let ino = Resolver::new(&st, &self.fs.cred, ROOT).lookup_last(parent, &last, false)?;
            Self::pinned(&mut st, ino)
        };
        inner().map_err(fail_at("lookup", parent, name))
    }

    /// Drops `n` references taken by the methods that return an entry; an inode with
    /// no link, descriptor or reference left is freed. Unknown inodes are ignored.
    pub fn forget(&self, ino: u64, n: u64) {
        // Nothing to report: forgetting an inode that is already gone is harmless.
        let _ = self.fs.lock().unpin(ino, n);
    }

    /// Status of inode `ino` (no permission is needed, as for `fstat`).
    ///
    /// # Errors
    /// `EIO` if no such inode is alive.
    pub fn getattr(&self, ino: u64) -> Result<Stat> {
        let mut st = self.fs.lock();
        st.get_mut(ino)
            .map(|i| i.report(ino))
            .map_err(fail_ino("getattr", ino))
    }

    /// The target of symlink `ino`.
    ///
    /// # Errors
    /// `EINVAL` if it is not a symlink.
    pub fn readlink(&self, ino: u64) -> Result<String> {
        let st = self.fs.lock();
        match st.get(ino).map(|i| &i.kind) {
            Ok(Kind::Symlink(t)) => Ok(t.to_string()),
            Ok(_) => Err(PosixError::new(
                EINVAL,
                &format!("readlink ino {ino}"),
                None,
            )),
            Err(e) => Err(fail_ino("readlink", ino)(e)),
        }
    }

    /// Whether the caller may access `ino` as `mode` asks.
    ///
    /// # Errors
    /// `EACCES`, `EROFS` (write on a read-only tree).
    pub fn access(&self, ino: u64, mode: AccessMode) -> Result<()> {
        let st = self.fs.lock();
        st.get(ino)
            .and_then(|inode| self.fs.access_inode(inode, mode))
            .map_err(fail_ino("access", ino))
    }

    /// Creates directory `name` in `parent` with permissions `mode & 0o1777` (no umask
    /// is applied: the caller applies its own) and takes a reference on it.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::mkdir`].
    pub fn mkdir(&self, parent: u64, name: &str, mode: u32) -> Result<Stat> {
        let now = self.fs.now();
        let inner = || {
            let mut st = self.fs.lock();
            let (dir, last) = self.step(&st, parent, name)?;
            let ino = self.fs.make_dir(&mut st, dir, last, mode & 0o1777, now)?;
            Self::pinned(&mut st, ino)
        };
        let stat = inner().map_err(fail_at("mkdir", parent, name))?;
        self.emit_at(EventKind::Created, parent, name);
        Ok(stat)
    }

    /// Creates a regular file, FIFO, socket or device node `name` in `parent` (type
    /// and permissions in `mode`, no umask applied) and takes a reference on it.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::mknod`].
    pub fn mknod(&self, parent: u64, name: &str, mode: u32, rdev: u64) -> Result<Stat> {
        let now = self.fs.now();
        let inner = || {
            let kind = node_kind(mode, rdev)?;
            let mut st = self.fs.lock();
            let (dir, last) = self.step(&st, parent, name)?;
            let mode = mode & (S_IFMT | 0o7777);
            let ino = self.fs.make_node(&mut st, dir, last, mode, kind, now)?;
            Self::pinned(&mut st, ino)
        };
        let stat = inner().map_err(fail_at("mknod", parent, name))?;
        self.emit_at(EventKind::Created, parent, name);
        Ok(stat)
    }

    /// Creates symlink `name` in `parent` pointing to `target` and takes a reference.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::symlink`].
    pub fn symlink(&self, parent: u64, name: &str, target: &str) -> Result<Stat> {
        let now = self.fs.now();
        let inner = || {
            crate::path::check_path(target)?;
            let mut st = self.fs.lock();
            let (dir, last) = self.step(&st, parent, name)?;
            let ino = self.fs.make_symlink(&mut st, dir, last, target, now)?;
            Self::pinned(&mut st, ino)
        };
        let stat = inner().map_err(fail_at("symlink", parent, name))?;
        self.emit_at(EventKind::Created, parent, name);
        Ok(stat)
    }

    /// Makes `newname` in `newparent` another link to inode `ino` and takes a
    /// reference on it.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::link`].
    pub fn link(&self, ino: u64, newparent: u64, newname: &str) -> Result<Stat> {
        let now = self.fs.now();
        let inner = || {
            let mut st = self.fs.lock();
            st.get(ino)?;
            let (dir, last) = self.step(&st, newparent, newname)?;
            self.fs.link_at(&mut st, ino, dir, last, now)?;
            Self::pinned(&mut st, ino)
        };
        let stat = inner().map_err(fail_at("link", newparent, newname))?;
        self.emit_at(EventKind::Created, newparent, newname);
        Ok(stat)
    }

    /// Removes the non-directory entry `name` from `parent`.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::unlink`].
    pub fn unlink(&self, parent: u64, name: &str) -> Result<()> {
        let now = self.fs.now();
        let inner = || {
            let mut st = self.fs.lock();
            let (dir, last) = self.step(&st, parent, name)?;
            self.fs.remove_name(&mut st, dir, last, now)
        };
        inner().map_err(fail_at("unlink", parent, name))?;
        self.emit_at(EventKind::Removed, parent, name);
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::rmdir`].
    pub fn rmdir(&self, parent: u64, name: &str) -> Result<()> {
        let now = self.fs.now();
        let inner = || {
            let mut st = self.fs.lock();
            let (dir, last) = self.step(&st, parent, name)?;
            self.fs.remove_dir(&mut st, dir, last, now)
        };
        inner().map_err(fail_at("rmdir", parent, name))?;
        self.emit_at(EventKind::Removed, parent, name);
        Ok(())
    }

    /// Renames `name` in `parent` to `newname` in `newparent`.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::rename`], and `EEXIST` with [`RenameFlags::NOREPLACE`]
    /// when the target exists.
    pub fn rename(
        &self,
        parent: u64,
        name: &str,
        newparent: u64,
        newname: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        let now = self.fs.now();
        let noreplace = flags.contains(RenameFlags::NOREPLACE);
        let inner = || {
            let mut st = self.fs.lock();
            let (op, olast) = self.step(&st, parent, name)?;
            let (np, nlast) = self.step(&st, newparent, newname)?;
            self.fs
                .rename_at(&mut st, op, olast, np, nlast, noreplace, now)
        };
        let changed = inner().map_err(fail_at("rename", parent, name))?;
        if changed && let Some(from) = self.event_path(parent, name) {
            self.fs.emit(EventKind::RenamedFrom, &from);
            self.emit_at(EventKind::RenamedTo, newparent, newname);
        }
        Ok(())
    }

    /// Creates regular file `name` in `parent` with permissions `mode` (no umask
    /// applied) and opens it with `flags`; an existing file is opened instead unless
    /// `flags` has [`OpenFlags::EXCL`]. Takes a reference on the inode.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::open`] with [`OpenFlags::CREATE`].
    pub fn create(
        &self,
        parent: u64,
        name: &str,
        mode: u32,
        flags: OpenFlags,
    ) -> Result<(Stat, Fd)> {
        let now = self.fs.now();
        let flags = flags | OpenFlags::CREATE;
        let mut created = false;
        let mut inner = || {
            let mut st = self.fs.lock();
            let (dir, last) = self.step(&st, parent, name)?;
            let Last::Name(name, _) = &last else {
                return Err(EISDIR);
            };
            let ino = match self.fs.create_target(&st, dir, name)? {
                Some(ino) => ino,
                None => {
                    created = true;
                    let kind = Kind::File(Default::default());
                    let mode = (mode & 0o7777) | crate::S_IFREG;
                    st.create(dir, name, mode, &self.fs.cred, kind, now)?
                }
            };
            let (fd, _) = self.fs.finish_open(&mut st, ino, created, flags)?;
            match Self::pinned(&mut st, ino) {
                Ok(stat) => Ok((stat, Fd(fd))),
                Err(e) => {
                    let _ = st.close_fd(fd);
                    Err(e)
                }
            }
        };
        let out = inner().map_err(fail_at("create", parent, name))?;
        if created {
            self.emit_at(EventKind::Created, parent, name);
        }
        Ok(out)
    }

    /// Opens inode `ino` with `flags` (`CREATE` and `EXCL` are ignored), checking
    /// permissions as `open(2)` does, and truncating with [`OpenFlags::TRUNC`].
    ///
    /// # Errors
    /// `EACCES`, `EISDIR` (a directory opened for writing), `ENOTDIR`
    /// ([`OpenFlags::DIRECTORY`] on something else), `ELOOP` (a symlink), `ENXIO` (a
    /// FIFO, socket or device), `EROFS`.
    pub fn open(&self, ino: u64, flags: OpenFlags) -> Result<Fd> {
        let flags = flags - OpenFlags::CREATE - OpenFlags::EXCL;
        let (fd, truncated) = {
            let mut st = self.fs.lock();
            self.fs
                .finish_open(&mut st, ino, false, flags)
                .map_err(fail_ino("open", ino))?
        };
        if truncated {
            self.fs.emit_fd(ino, EventKind::Modified);
        }
        Ok(Fd(fd))
    }

    /// The entries of the directory open on `fd` (`.` and `..` first, then the rest
    /// sorted by name).
    ///
    /// # Errors
    /// `EBADF` (not open for reading), `ENOTDIR`.
    pub fn read_dir(&self, fd: Fd) -> Result<Vec<DirEntry>> {
        let inner = || {
            let st = self.fs.lock();
            let of = st.fd(fd.0)?;
            if !of.flags.readable() {
                return Err(EBADF);
            }
            let dir = st.get(of.ino)?.dir().ok_or(ENOTDIR)?;
            let mut out = Vec::with_capacity(dir.len() + 2);
            out.push(DirEntry {
                ino: of.ino,
                file_type: crate::S_IFDIR,
                name: ".".to_owned(),
            });
            out.push(DirEntry {
                ino: dir.parent,
                file_type: crate::S_IFDIR,
                name: "..".to_owned(),
            });
            let start = out.len();
            for (name, ino) in dir.iter() {
                out.push(DirEntry {
                    ino,
                    file_type: st.get(ino)?.mode & S_IFMT,
                    name: name.to_owned(),
                });
            }
            out[start..].sort_unstable_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        };
        inner().map_err(|e| PosixError::new(e, &format!("readdir fd {}", fd.0), None))
    }

    /// Sets the permission bits of `ino` (see [`MemoryFileSystem::chmod`]).
    ///
    /// # Errors
    /// `EPERM`, `EROFS`.
    pub fn chmod(&self, ino: u64, mode: u32) -> Result<Stat> {
        self.change("chmod", ino, |fs, st| {
            fs.chmod_inode(st.get_mut(ino)?, mode)
        })
    }

    /// Changes owner and/or group of `ino` (see [`MemoryFileSystem::chown`]).
    ///
    /// # Errors
    /// `EPERM`, `EROFS`.
    pub fn chown(&self, ino: u64, uid: Option<u32>, gid: Option<u32>) -> Result<Stat> {
        let (uid, gid) = (
            uid.filter(|&v| v != u32::MAX),
            gid.filter(|&v| v != u32::MAX),
        );
        self.change("chown", ino, |fs, st| {
            fs.chown_inode(st.get_mut(ino)?, uid, gid)
        })
    }

    /// Sets the times of `ino` (see [`MemoryFileSystem::utimens`]).
    ///
    /// # Errors
    /// `EPERM`, `EACCES`, `EROFS`.
    pub fn utimens(&self, ino: u64, atime: SetTime, mtime: SetTime) -> Result<Stat> {
        self.change("utimens", ino, |fs, st| {
            fs.utimens_inode(st.get_mut(ino)?, atime, mtime)
        })
    }

    /// Sets the length of regular file `ino`, checking write permission as
    /// [`MemoryFileSystem::truncate`] does (use [`MemoryFileSystem::ftruncate`] to go
    /// through a descriptor instead).
    ///
    /// # Errors
    /// `EISDIR`, `EINVAL`, `EACCES`, `EFBIG`, `EROFS`.
    pub fn truncate(&self, ino: u64, len: u64) -> Result<Stat> {
        let now = self.fs.now();
        let stat = self.change("truncate", ino, |fs, st| {
            if i64::try_from(len).is_err() {
                return Err(EINVAL);
            }
            fs.truncate_checked(st, ino, len, now)
        })?;
        Ok(stat)
    }

    /// Runs one metadata change on `ino` under the lock, emits the matching event and
    /// returns the new status.
    fn change(
        &self,
        op: &str,
        ino: u64,
        f: impl FnOnce(&MemoryFileSystem, &mut State) -> std::result::Result<(), Errno>,
    ) -> Result<Stat> {
        let stat = {
            let mut st = self.fs.lock();
            f(self.fs, &mut st)
                .and_then(|()| {
                    st.metadata_changed(ino);
                    Ok(st.get_mut(ino)?.report(ino))
                })
                .map_err(fail_ino(op, ino))?
        };
        let kind = if op == "truncate" {
            EventKind::Modified
        } else {
            EventKind::MetadataChanged
        };
        self.fs.emit_fd(ino, kind);
        Ok(stat)
    }

    /// Sizes and counts of the tree.
    pub fn statfs(&self) -> StatFs {
        let usage = self.fs.usage();
        let block = 4096u64;
        let total = usage
            .capacity
            .unwrap_or_else(|| usage.bytes.saturating_add(UNLIMITED_FREE));
        let used_blocks = usage.bytes.div_ceil(block);
        let blocks = total.div_ceil(block).max(used_blocks);
        StatFs {
            block_size: 4096,
            blocks,
            blocks_free: blocks - used_blocks,
            files: MAX_INODES.max(usage.inodes),
            files_free: MAX_INODES.saturating_sub(usage.inodes),
            name_max: crate::NAME_MAX_BYTES as u32,
        }
    }
}

//! The tree's state: inodes in a slab, the descriptor table, and permission checks.
//!
//! Everything here runs under the filesystem's one lock; the public methods in
//! `fs.rs` take it, resolve paths with `path.rs`, and call into this module.

use crate::Credentials;
use crate::changes::InodeChange;
use crate::clock::Now;
use crate::data::Content;
use crate::dcache::PathCache;
use crate::error::Errno::{self, *};
use crate::flags::OpenFlags;
use crate::name::{Name, Query};
use crate::stat::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISGID, S_ISUID, S_ISVTX, Stat, Timespec};

/// Kernel-style references to inodes (FUSE lookup counts): inode number → count.
pub(crate) type Pins = foldhash::HashMap<Ino, u64>;

/// A timestamp packed to 12 bytes (alignment 4), so an inode's three times take 36
/// bytes instead of 48; converted to and from [`Timespec`] at the edges.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed(4))]
pub(crate) struct PackedTime {
    sec: i64,
    nsec: u32,
}

/// Set in a ctime's nanoseconds (always below 2^30) once the inode's times have been
/// reported since they last changed, as Linux's `I_CTIME_QUERIED` (see `clock.rs`).
const QUERIED: u32 = 1 << 31;

impl From<Timespec> for PackedTime {
    fn from(t: Timespec) -> Self {
        Self {
            sec: t.sec,
            nsec: t.nsec.min(999_999_999),
        }
    }
}

impl From<PackedTime> for Timespec {
    fn from(t: PackedTime) -> Self {
        let (sec, nsec) = (t.sec, t.nsec);
        Timespec {
            sec,
            nsec: nsec & !QUERIED,
        }
    }
}

/// An inode number (index into the slab plus one; the root is 1).
pub(crate) type Ino = u64;

/// The root directory's inode number.
pub(crate) const ROOT: Ino = 1;

/// `MAY_EXEC`, `MAY_WRITE`, `MAY_READ` as the kernel spells them.
pub(crate) const MAY_EXEC: u32 = 1;
pub(crate) const MAY_WRITE: u32 = 2;
pub(crate) const MAY_READ: u32 = 4;

/// Size tmpfs reports per directory entry (`BOGO_DIRENT_SIZE`).
const DIRENT_SIZE: u64 = 20;

/// Most descriptors open at once.
const MAX_FDS: usize = 1 << 20;

/// One inode.
#[derive(Debug)]
pub(crate) struct Inode {
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) nlink: u32,
    /// Descriptors referring to this inode; it lives while `nlink + open > 0`.
    pub(crate) open: u32,
    pub(crate) atime: PackedTime,
    pub(crate) mtime: PackedTime,
    pub(crate) ctime: PackedTime,
    pub(crate) kind: Kind,
}

/// What an inode holds.
#[derive(Debug)]
pub(crate) enum Kind {
    File(Content),
    /// Boxed: directories are few, and files should not pay for their size.
    Dir(Box<Dir>),
    Symlink(Box<str>),
    /// A FIFO, socket or device node: only its mode and device number.
    Special(u64),
}

/// Directory entries: a hash map with a fast, randomly seeded hasher (lookups are the
/// hot path; listings sort on demand), names inline when short.
type Entries = hashbrown::HashMap<Name, Ino, foldhash::fast::RandomState>;

/// A directory: its entries and its parent (the root is its own parent; a removed
/// directory keeps the parent it was removed from).
#[derive(Debug)]
pub(crate) struct Dir {
    entries: Entries,
    pub(crate) parent: Ino,
    /// Bumped whenever an entry is removed or replaced, so cached resolutions that
    /// ended here know they are stale (see `dcache.rs`).
    generation: u64,
}

impl Dir {
    pub(crate) fn new(parent: Ino) -> Self {
        Self {
            entries: Entries::default(),
            parent,
            generation: 0,
        }
    }

    /// The inode `name` refers to.
    pub(crate) fn get(&self, name: &str) -> Option<Ino> {
        self.entries.get(&Query(name)).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Ino)> {
        self.entries.iter().map(|(name, &ino)| (name.as_str(), ino))
    }

    /// Adds `name` (the caller has checked it is free).
    pub(crate) fn insert(&mut self, name: &str, ino: Ino) {
        if self.entries.insert(Name::new(name), ino).is_some() {
            self.generation += 1;
        }
    }

    /// Removes `name`, returning what it referred to.
    pub(crate) fn remove(&mut self, name: &str) -> Option<Ino> {
        let ino = self.entries.remove(&Query(name))?;
        self.generation += 1;
        Some(ino)
    }
}

/// An open file description.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenFile {
    pub(crate) ino: Ino,
    pub(crate) flags: OpenFlags,
    pub(crate) pos: u64,
}

/// Inodes per slab page.
const PAGE: usize = 1024;

/// Inodes in fixed-size pages: growing never copies inodes and never leaves more than
/// one page of unused slots (a doubling `Vec` would waste up to half its capacity).
#[derive(Debug, Default)]
struct Slab {
    pages: Vec<Box<[Option<Inode>]>>,
    len: usize,
}

impl Slab {
    fn slot(&self, index: usize) -> Option<&Option<Inode>> {
        self.pages
            .get(index / PAGE)
            .and_then(|p| p.get(index % PAGE))
    }

    fn slot_mut(&mut self, index: usize) -> Option<&mut Option<Inode>> {
        self.pages
            .get_mut(index / PAGE)
            .and_then(|p| p.get_mut(index % PAGE))
    }

    /// Appends an inode and returns its index.
    fn push(&mut self, inode: Inode) -> usize {
        if self.len.is_multiple_of(PAGE) {
            self.pages.push((0..PAGE).map(|_| None).collect());
        }
        let index = self.len;
        self.len += 1;
        if let Some(slot) = self.slot_mut(index) {
            *slot = Some(inode);
        }
        index
    }
}

/// The whole mutable state of one tree.
#[derive(Debug)]
pub(crate) struct State {
    inodes: Slab,
    free_inos: Vec<Ino>,
    fds: Vec<Option<OpenFile>>,
    /// Inodes held by a kernel-style reference (see [`State::pin`]); they outlive
    /// their last link and descriptor until unpinned.
    pins: Pins,
    /// Bytes of file content currently allocated (holes excluded).
    pub(crate) used: u64,
    pub(crate) umask: u32,
    /// Paths resolved before (see `dcache.rs`).
    pub(crate) paths: PathCache,
    /// Changes not yet reported, while someone observes (see `changes.rs`).
    pub(crate) journal: Option<Vec<InodeChange>>,
}

impl Inode {
    pub(crate) fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub(crate) fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    pub(crate) fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    pub(crate) fn dir(&self) -> Option<&Dir> {
        match &self.kind {
            Kind::Dir(d) => Some(d),
            _ => None,
        }
    }

    pub(crate) fn dir_mut(&mut self) -> Option<&mut Dir> {
        match &mut self.kind {
            Kind::Dir(d) => Some(d),
            _ => None,
        }
    }

    pub(crate) fn content(&self) -> Option<&Content> {
        match &self.kind {
            Kind::File(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn content_mut(&mut self) -> Option<&mut Content> {
        match &mut self.kind {
            Kind::File(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(c) => c.len(),
            Kind::Dir(d) => (d.len() as u64 + 2) * DIRENT_SIZE,
            Kind::Symlink(t) => t.len() as u64,
            Kind::Special(_) => 0,
        }
    }

    /// The change time.
    pub(crate) fn ctime(&self) -> Timespec {
        self.ctime.into()
    }

    /// Whether the times were reported since they last changed.
    pub(crate) fn times_queried(&self) -> bool {
        let nsec = self.ctime.nsec;
        nsec & QUERIED != 0
    }

    /// Sets mtime and ctime for a change of content or entries.
    pub(crate) fn touch(&mut self, now: Now<'_>) {
        let t = now.for_change(self);
        self.mtime = t.into();
        self.ctime = t.into();
    }

    /// Sets ctime for a change of metadata.
    pub(crate) fn touch_ctime(&mut self, now: Now<'_>) {
        self.ctime = now.for_change(self).into();
    }

    /// The status, reported to a caller: marks the times as looked at.
    pub(crate) fn report(&mut self, ino: Ino) -> Stat {
        self.ctime.nsec |= QUERIED;
        self.stat(ino)
    }

    pub(crate) fn stat(&self, ino: Ino) -> Stat {
        let blocks = match &self.kind {
            Kind::File(c) => c.allocated().div_ceil(4096) * 8,
            _ => 0,
        };
        Stat {
            ino,
            mode: self.mode,
            nlink: u64::from(self.nlink),
            uid: self.uid,
            gid: self.gid,
            size: self.size(),
            blocks,
            blksize: 4096,
            rdev: match self.kind {
                Kind::Special(rdev) => rdev,
                _ => 0,
            },
            atime: self.atime.into(),
            mtime: self.mtime.into(),
            ctime: self.ctime.into(),
        }
    }

    /// `generic_permission`: may `cred` access this inode for `mask` (`MAY_*` bits)?
    pub(crate) fn permits(&self, cred: &Credentials, mask: u32) -> bool {
        let mask = mask & 7;
        if cred.uid == 0 {
            // CAP_DAC_OVERRIDE: everything but executing a file without any x bit.
            return mask & MAY_EXEC == 0 || self.is_dir() || self.mode & 0o111 != 0;
        }
        let bits = if cred.uid == self.uid {
            self.mode >> 6
        } else if cred.in_group(self.gid) {
            self.mode >> 3
        } else {
            self.mode
        };
        mask & !bits & 7 == 0
    }

    /// Owner or root (`inode_owner_or_capable`).
    pub(crate) fn owned_by(&self, cred: &Credentials) -> bool {
        cred.uid == 0 || cred.uid == self.uid
    }

    /// Clears set-user-id (always) and set-group-id (when group-executable), as a
    /// write or truncate by an unprivileged caller does.
    pub(crate) fn kill_suid(&mut self, cred: &Credentials) {
        if cred.uid == 0 || !self.is_file() {
            return;
        }
        let mut mode = self.mode & !S_ISUID;
        if mode & S_ISGID != 0 && mode & 0o010 != 0 {
            mode &= !S_ISGID;
        }
        self.mode = mode;
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new(0o022, Timespec::default())
    }
}

impl State {
    /// An empty tree: a root directory owned by root, mode 0755.
    pub(crate) fn new(umask: u32, now: Timespec) -> Self {
        let root = Inode {
            mode: S_IFDIR | 0o755,
            uid: 0,
            gid: 0,
            nlink: 2,
            open: 0,
            atime: now.into(),
            mtime: now.into(),
            ctime: now.into(),
            kind: Kind::Dir(Box::new(Dir::new(ROOT))),
        };
        let mut inodes = Slab::default();
        inodes.push(root);
        Self {
            inodes,
            free_inos: Vec::new(),
            fds: Vec::new(),
            pins: Pins::default(),
            used: 0,
            umask,
            paths: PathCache::default(),
            journal: None,
        }
    }

    pub(crate) fn get(&self, ino: Ino) -> Result<&Inode, Errno> {
        usize::try_from(ino.wrapping_sub(1))
            .ok()
            .and_then(|i| self.inodes.slot(i))
            .and_then(Option::as_ref)
            .ok_or(EIO)
    }

    pub(crate) fn get_mut(&mut self, ino: Ino) -> Result<&mut Inode, Errno> {
        usize::try_from(ino.wrapping_sub(1))
            .ok()
            .and_then(|i| self.inodes.slot_mut(i))
            .and_then(Option::as_mut)
            .ok_or(EIO)
    }

    /// Looks `name` up in directory `dir`.
    pub(crate) fn child(&self, dir: Ino, name: &str) -> Result<Option<Ino>, Errno> {
        Ok(self.get(dir)?.dir().ok_or(ENOTDIR)?.get(name))
    }

    pub(crate) fn parent_of(&self, dir: Ino) -> Result<Ino, Errno> {
        Ok(self.get(dir)?.dir().ok_or(ENOTDIR)?.parent)
    }

    /// Number of live inodes.
    pub(crate) fn inode_count(&self) -> usize {
        self.inodes.len - self.free_inos.len()
    }

    /// Adds a new inode and links it as `name` in `parent` (which must be a directory
    /// without that entry). Directories get `..` wiring and bump the parent's nlink.
    pub(crate) fn create(
        &mut self,
        parent: Ino,
        name: &str,
        mode: u32,
        cred: &Credentials,
        kind: Kind,
        now: Now<'_>,
    ) -> Result<Ino, Errno> {
        let parent_inode = self.get(parent)?;
        let is_dir = mode & S_IFMT == S_IFDIR;
        let mut mode = mode;
        let gid = if parent_inode.mode & S_ISGID != 0 {
            if is_dir {
                mode |= S_ISGID;
            }
            parent_inode.gid
        } else {
            cred.gid
        };
        if !is_dir
            && mode & (S_ISGID | 0o010) == (S_ISGID | 0o010)
            && cred.uid != 0
            && !cred.in_group(gid)
        {
            mode &= !S_ISGID;
        }
        let inode = Inode {
            mode,
            uid: cred.uid,
            gid,
            nlink: if is_dir { 2 } else { 1 },
            open: 0,
            atime: now.time().into(),
            mtime: now.time().into(),
            ctime: now.time().into(),
            kind,
        };
        let ino = match self.free_inos.pop() {
            Some(ino) => {
                let index = usize::try_from(ino - 1).map_err(|_| EIO)?;
                *self.inodes.slot_mut(index).ok_or(EIO)? = Some(inode);
                ino
            }
            None => self.inodes.push(inode) as Ino + 1,
        };
        if is_dir && let Some(d) = self.get_mut(ino)?.dir_mut() {
            d.parent = parent;
        }
        let p = self.get_mut(parent)?;
        if is_dir {
            p.nlink += 1;
        }
        p.touch(now);
        p.dir_mut().ok_or(ENOTDIR)?.insert(name, ino);
        self.record_attributes(parent);
        Ok(ino)
    }

    /// Removes entry `name` from `parent` and drops one link of its inode (a directory
    /// loses both of its own links and its parent's `..` link).
    pub(crate) fn remove_entry(
        &mut self,
        parent: Ino,
        name: &str,
        now: Now<'_>,
    ) -> Result<(), Errno> {
        let p = self.get_mut(parent)?;
        let ino = p.dir_mut().ok_or(ENOTDIR)?.remove(name).ok_or(ENOENT)?;
        p.touch(now);
        self.record(|| InodeChange::Entry {
            parent,
            name: name.to_owned(),
        });
        self.record_attributes(parent);
        self.record_attributes(ino);
        let child = self.get(ino)?;
        let child_is_dir = child.is_dir();
        if child_is_dir || child.is_symlink() {
            // Walks may pass through it (see `dcache.rs`).
            self.paths.invalidate();
        }
        if child_is_dir {
            self.get_mut(parent)?.nlink -= 1;
            let child = self.get_mut(ino)?;
            child.nlink = 0;
            child.touch_ctime(now);
            // A removed directory keeps its parent, as a kernel dentry does: `..` from a
            // working directory that was removed still leads back. The parent stays
            // allocated while the child does; `release_if_unused` drops this reference.
            self.pin(parent)?;
        } else {
            let child = self.get_mut(ino)?;
            child.nlink = child.nlink.saturating_sub(1);
            child.touch_ctime(now);
        }
        self.release_if_unused(ino)
    }

    /// Frees an inode no entry, descriptor or reference keeps any more. A removed
    /// directory's reference on its parent goes with it, which may free the parent in
    /// turn (iteratively: a chain of removed directories can be deep).
    pub(crate) fn release_if_unused(&mut self, ino: Ino) -> Result<(), Errno> {
        let mut next = Some(ino);
        while let Some(ino) = next.take() {
            let inode = self.get(ino)?;
            if inode.nlink != 0
                || inode.open != 0
                || (!self.pins.is_empty() && self.pins.contains_key(&ino))
            {
                break;
            }
            let freed = inode.content().map_or(0, Content::allocated);
            let parent = inode.dir().map(|d| d.parent);
            if parent.is_some() {
                // Its number may come back as another directory: no cached walk may
                // start at or pass through it any more.
                self.paths.invalidate();
            }
            self.used = self.used.saturating_sub(freed);
            let index = usize::try_from(ino - 1).map_err(|_| EIO)?;
            *self.inodes.slot_mut(index).ok_or(EIO)? = None;
            self.free_inos.push(ino);
            if let Some(parent) = parent {
                next = self.drop_pin(parent, 1).then_some(parent);
            }
        }
        Ok(())
    }

    /// Drops `n` references on `ino`; true when none is left.
    fn drop_pin(&mut self, ino: Ino, n: u64) -> bool {
        let Some(count) = self.pins.get_mut(&ino) else {
            return false;
        };
        *count = count.saturating_sub(n);
        if *count == 0 {
            self.pins.remove(&ino);
            return true;
        }
        false
    }

    /// The absolute path of live directory `dir`, from its parents' entries.
    ///
    /// # Errors
    /// `ENOENT` if `dir` has been removed (so has no path), as `getcwd` answers.
    pub(crate) fn dir_path(&self, dir: Ino) -> Result<String, Errno> {
        let mut names = Vec::new();
        let mut cur = dir;
        while cur != ROOT {
            let inode = self.get(cur)?;
            // Only a live directory is in its parent, and a live directory's
            // ancestors are all live (rmdir needs an empty directory).
            if inode.nlink == 0 {
                return Err(ENOENT);
            }
            let parent = inode.dir().ok_or(ENOTDIR)?.parent;
            let name = self
                .get(parent)?
                .dir()
                .ok_or(ENOTDIR)?
                .iter()
                .find_map(|(name, ino)| (ino == cur).then_some(name))
                .ok_or(ENOENT)?;
            names.push(name);
            cur = parent;
        }
        if names.is_empty() {
            return Ok("/".to_owned());
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        Ok(path)
    }

    /// Takes one reference on a live inode: it stays allocated (with its number) even
    /// when its last link and descriptor go, until [`unpin`](Self::unpin) drops it.
    pub(crate) fn pin(&mut self, ino: Ino) -> Result<(), Errno> {
        self.get(ino)?;
        *self.pins.entry(ino).or_insert(0) += 1;
        Ok(())
    }

    /// Drops `n` references taken by [`pin`](Self::pin) and frees the inode if nothing
    /// else keeps it.
    pub(crate) fn unpin(&mut self, ino: Ino, n: u64) -> Result<(), Errno> {
        if self.drop_pin(ino, n) {
            self.release_if_unused(ino)?;
        }
        Ok(())
    }

    /// After a change of `ino`'s mode, owner or times: a directory's mode and owner
    /// decide search permission, so cached walks are stale.
    pub(crate) fn metadata_changed(&mut self, ino: Ino) {
        if self.get(ino).is_ok_and(Inode::is_dir) {
            self.paths.invalidate();
        }
        self.record_attributes(ino);
    }

    /// The generation of live directory `dir` (see `dcache.rs`).
    pub(crate) fn dir_generation(&self, dir: Ino) -> Option<u64> {
        self.get(dir).ok()?.dir().map(Dir::generation)
    }

    /// Whether `ancestor` is `dir` or one of its ancestors.
    pub(crate) fn is_ancestor(&self, ancestor: Ino, mut dir: Ino) -> Result<bool, Errno> {
        loop {
            if dir == ancestor {
                return Ok(true);
            }
            let parent = self.parent_of(dir)?;
            if dir == ROOT || parent == dir {
                return Ok(false);
            }
            dir = parent;
        }
    }

    /// Opens a descriptor on `ino` with the lowest free number.
    pub(crate) fn alloc_fd(&mut self, ino: Ino, flags: OpenFlags) -> Result<u32, Errno> {
        let slot = match self.fds.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.fds.len() < MAX_FDS => {
                self.fds.push(None);
                self.fds.len() - 1
            }
            None => return Err(EMFILE),
        };
        self.fds[slot] = Some(OpenFile { ino, flags, pos: 0 });
        self.get_mut(ino)?.open += 1;
        u32::try_from(slot).map_err(|_| EMFILE)
    }

    pub(crate) fn fd(&self, fd: u32) -> Result<OpenFile, Errno> {
        self.fds.get(fd as usize).copied().flatten().ok_or(EBADF)
    }

    pub(crate) fn fd_mut(&mut self, fd: u32) -> Result<&mut OpenFile, Errno> {
        self.fds
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(EBADF)
    }

    pub(crate) fn close_fd(&mut self, fd: u32) -> Result<(), Errno> {
        let file = self
            .fds
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(EBADF)?;
        while self.fds.last().is_some_and(Option::is_none) {
            self.fds.pop();
        }
        let inode = self.get_mut(file.ino)?;
        inode.open = inode.open.saturating_sub(1);
        self.release_if_unused(file.ino)
    }

    /// Whether a sticky directory forbids `cred` removing `victim` from `dir`.
    pub(crate) fn sticky_denies(&self, dir: &Inode, victim: &Inode, cred: &Credentials) -> bool {
        dir.mode & S_ISVTX != 0 && cred.uid != 0 && cred.uid != victim.uid && cred.uid != dir.uid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_stay_small() {
        // Per-file memory is a product goal (≤ 200 bytes beyond content); the inode is
        // most of it.
        assert!(
            std::mem::size_of::<Option<Inode>>() <= 104,
            "{}",
            std::mem::size_of::<Option<Inode>>()
        );
    }
}

//! The store root as an open directory, and every walk beneath it.
//!
//! Nothing here ever resolves a path by name from outside the root, and nothing follows
//! a symbolic link. Linux's `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` resolves a
//! whole key in one system call and refuses, inside the kernel, any link or escape on
//! the way. Whenever it answers something other than "found" or "missing" (a link on
//! the way, a file on the way, a kernel or sandbox without `openat2`), the walk goes on
//! one component at a time, each opened with `O_NOFOLLOW` relative to the directory
//! opened just before: a name swapped for a link between two steps is refused at the
//! step that meets it, so no walk can be redirected out of the root. The component
//! walk also finds out what is in the way, to word the error. A kernel that lacks
//! `openat2` is asked once.

use std::path::Path;
#[cfg(target_os = "linux")]
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

#[cfg(target_os = "linux")]
use crate::opened::{Kept, Opened};

/// How often a component walk retries a step whose answer changed under it (a name
/// that was a directory when looked at, and something else when opened).
const RETRIES: usize = 8;

/// What a walk beneath the root found.
#[derive(Debug)]
pub(crate) enum Walk {
    /// The path, opened.
    Found(OwnedFd),
    /// A component is missing (or a regular file stands where a directory belongs, for
    /// a walk that does not create).
    Missing,
    /// Something that is not a directory is in the way: which component, and what.
    Blocked(Blocked),
}

/// What stands in a walk's way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocked {
    /// The component, as named in the key.
    pub(crate) segment: String,
    /// Whether it is a symbolic link (else a file or some other non-directory).
    pub(crate) link: bool,
}

/// A directory a walk ended in: the root itself, or one below it.
#[derive(Debug)]
pub(crate) enum DirFd<'a> {
    /// The store root.
    Root(BorrowedFd<'a>),
    /// A directory below it.
    Below(OwnedFd),
    /// A directory below it that the store keeps open (see [`crate::opened`]).
    #[cfg(target_os = "linux")]
    Kept(Arc<Kept>),
}

impl DirFd<'_> {
    /// Notes that `name` was just put in this directory.
    pub(crate) fn saw(&self, name: &str) {
        #[cfg(target_os = "linux")]
        if let DirFd::Kept(kept) = self {
            kept.saw(name);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = name;
    }

    /// Whether this directory is known, right now, to hold something other than
    /// `name` (`false`: not known, it may).
    pub(crate) fn holds_other_than(&self, name: &str) -> bool {
        #[cfg(target_os = "linux")]
        if let DirFd::Kept(kept) = self {
            return kept.holds_other_than(name);
        }
        let _ = name;
        false
    }
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DirFd::Root(fd) => fd.as_fd(),
            DirFd::Below(fd) => fd.as_fd(),
            #[cfg(target_os = "linux")]
            DirFd::Kept(fd) => fd.as_fd(),
        }
    }
}

/// The store root, held open.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    /// The root opened for reading, which `flock` needs (a path-only descriptor cannot
    /// be locked): the lock that orders conditional writes across processes.
    lock_fd: OwnedFd,
    /// Orders conditional writes of this process: `flock` belongs to an open file, and
    /// every thread of every clone of the store shares this one.
    lock: Mutex<()>,
    /// Whether `openat2` is worth asking (cleared once it answers "unsupported").
    fast: AtomicBool,
    /// The directories kept open between calls, where this system allows it.
    #[cfg(target_os = "linux")]
    opened: Option<Opened>,
}

/// The conditional-write lock, held: this process's mutex and the root's `flock`.
/// Dropping it releases both; a process that dies releases its `flock` with it.
pub(crate) struct Locked<'a> {
    root: &'a Root,
    _guard: MutexGuard<'a, ()>,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Unlocking an open file we hold cannot fail in a way we could act on; the lock
        // goes when the descriptor closes at the latest.
        let _ = rustix::fs::flock(&self.root.lock_fd, FlockOperation::Unlock);
    }
}

impl Root {
    /// Opens `path` (an existing directory), keeping up to `keep` directories below it
    /// open between calls.
    pub(crate) fn open(path: &Path, keep: usize) -> std::io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let lock_fd = rustix::fs::openat(
            &fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        #[cfg(target_os = "linux")]
        let opened = Opened::new(fd.as_fd(), keep);
        #[cfg(not(target_os = "linux"))]
        let _ = keep;
        Ok(Self {
            fd,
            lock_fd,
            lock: Mutex::new(()),
            fast: AtomicBool::new(cfg!(target_os = "linux")),
            #[cfg(target_os = "linux")]
            opened,
        })
    }

    /// The kept directories, while they are kept.
    #[cfg(target_os = "linux")]
    fn opened(&self) -> Option<&Opened> {
        self.opened.as_ref().filter(|o| o.on())
    }

    /// Whether directories are kept open between calls (then a key is best reached
    /// through its kept directory, not by [`Root::fast`]).
    pub(crate) fn keeps(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.opened().is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// As [`Root::parent_dir`] without `create`, with the directory holding `prefix`
    /// too when it comes at no cost (both kept): what a delete needs to prune.
    pub(crate) fn parent_dir_with_holder(
        &self,
        prefix: &str,
    ) -> std::io::Result<(DirWalk<'_>, Option<DirFd<'_>>)> {
        #[cfg(target_os = "linux")]
        if let Some(opened) = self.opened()
            && !prefix.is_empty()
            && let Some((dir, holder)) = opened.kept_with_holder(prefix)
        {
            let holder = match holder {
                Some(fd) => Some(DirFd::Kept(fd)),
                None if !prefix.contains('/') => Some(DirFd::Root(self.fd())),
                None => None,
            };
            return Ok((DirWalk::Found(DirFd::Kept(dir)), holder));
        }
        Ok((self.parent_dir(prefix, false)?, None))
    }

    /// The directory `prefix` beneath the root (a path of plain names, `""` for the
    /// root), as a path-only descriptor; with `create`, missing directories are made
    /// on the way. Taken from the kept directories where they are kept.
    pub(crate) fn parent_dir(&self, prefix: &str, create: bool) -> std::io::Result<DirWalk<'_>> {
        if prefix.is_empty() {
            return Ok(DirWalk::Found(DirFd::Root(self.fd())));
        }
        #[cfg(target_os = "linux")]
        if let Some(opened) = self.opened() {
            return opened.dir(self.fd(), prefix, create);
        }
        let segments: Vec<&str> = prefix.split('/').collect();
        self.dir(&segments, create, false)
    }

    /// The root directory's descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Takes the conditional-write lock, waiting for other threads and processes.
    pub(crate) fn lock(&self) -> std::io::Result<Locked<'_>> {
        // A panic under the lock leaves no state of ours behind: the mutex guards nothing
        // but the order of conditional writes.
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        rustix::io::retry_on_intr(|| {
            rustix::fs::flock(&self.lock_fd, FlockOperation::LockExclusive)
        })?;
        Ok(Locked {
            root: self,
            _guard: guard,
        })
    }

    /// Opens `rel` (a relative path of plain names) beneath the root with `flags`,
    /// following no symbolic link anywhere; `O_NOFOLLOW` and `O_CLOEXEC` are added.
    /// `None` when the kernel cannot say (no `openat2`, or something in the way):
    /// the caller takes the component walk.
    pub(crate) fn fast(&self, rel: &str, flags: OFlags) -> Option<Walk> {
        if !self.fast.load(Ordering::Relaxed) {
            return None;
        }
        self.openat2(rel, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC)
    }

    #[cfg(target_os = "linux")]
    fn openat2(&self, rel: &str, flags: OFlags) -> Option<Walk> {
        use rustix::fs::ResolveFlags;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
            Ok(fd) => Some(Walk::Found(fd)),
            Err(Errno::NOENT) => Some(Walk::Missing),
            // No `openat2` here (old kernel, or a sandbox that filters it): stop asking.
            Err(Errno::NOSYS | Errno::PERM | Errno::INVAL | Errno::TOOBIG) => {
                self.fast.store(false, Ordering::Relaxed);
                None
            }
            // A link on the way (`ELOOP`; `ENOTDIR` when a final link meets
            // `O_DIRECTORY`), a file on the way (`ENOTDIR`), a concurrent rename
            // (`EAGAIN`), and every other error: the component walk finds out what it
            // is and says so.
            Err(_) => None,
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn openat2(&self, _rel: &str, _flags: OFlags) -> Option<Walk> {
        None
    }

    /// Opens the directory `segments` beneath the root (the root itself for none), as a
    /// path-only descriptor, or for reading with `readable`. With `create`, missing
    /// directories are made on the way.
    pub(crate) fn dir(
        &self,
        segments: &[&str],
        create: bool,
        readable: bool,
    ) -> std::io::Result<DirWalk<'_>> {
        let flags = if readable {
            OFlags::RDONLY | OFlags::DIRECTORY
        } else {
            OFlags::PATH | OFlags::DIRECTORY
        };
        if segments.is_empty() {
            return Ok(if readable {
                let fd = rustix::fs::openat(&self.fd, ".", flags | OFlags::CLOEXEC, Mode::empty())?;
                DirWalk::Found(DirFd::Below(fd))
            } else {
                DirWalk::Found(DirFd::Root(self.fd()))
            });
        }
        match self.fast(&segments.join("/"), flags) {
            Some(Walk::Found(fd)) => return Ok(DirWalk::Found(DirFd::Below(fd))),
            Some(Walk::Missing) if !create => return Ok(DirWalk::Missing),
            _ => {}
        }
        let mut at = DirFd::Root(self.fd());
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let step_flags = if last {
                flags
            } else {
                OFlags::PATH | OFlags::DIRECTORY
            };
            match step(&at, segment, step_flags, create)? {
                Walk::Found(fd) => at = DirFd::Below(fd),
                Walk::Missing => return Ok(DirWalk::Missing),
                Walk::Blocked(blocked) => return Ok(DirWalk::Blocked(blocked)),
            }
        }
        Ok(DirWalk::Found(at))
    }
}

/// What [`Root::dir`] found.
#[derive(Debug)]
pub(crate) enum DirWalk<'a> {
    /// The directory, opened.
    Found(DirFd<'a>),
    /// It does not exist (and was not to be made).
    Missing,
    /// Something that is not a directory is in the way.
    Blocked(Blocked),
}

/// Opens the directory `name` in `at` with `flags` (and `O_NOFOLLOW`), making it first
/// with `create`. A symbolic link is never opened: the step reports it.
pub(crate) fn step(
    at: &impl AsFd,
    name: &str,
    flags: OFlags,
    create: bool,
) -> std::io::Result<Walk> {
    let flags = flags | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for _ in 0..RETRIES {
        match rustix::fs::openat(at, name, flags, Mode::empty()) {
            Ok(fd) => return Ok(Walk::Found(fd)),
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(at, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(Errno::NOENT) => return Ok(Walk::Missing),
            Err(Errno::NOTDIR | Errno::LOOP) => {
                match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode))
                {
                    Ok(FileType::Symlink) => {
                        return Ok(Walk::Blocked(Blocked {
                            segment: name.to_owned(),
                            link: true,
                        }));
                    }
                    // A directory again: it changed between the two calls; look again.
                    Ok(FileType::Directory) => {}
                    Ok(_) if create => {
                        return Ok(Walk::Blocked(Blocked {
                            segment: name.to_owned(),
                            link: false,
                        }));
                    }
                    Ok(_) => return Ok(Walk::Missing),
                    Err(Errno::NOENT) if !create => return Ok(Walk::Missing),
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Swapped back and forth the whole time: treat it as the link it keeps becoming.
    Ok(Walk::Blocked(Blocked {
        segment: name.to_owned(),
        link: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this kernel (and sandbox) answers `openat2` at all, asked directly.
    fn openat2_available(dir: &Path) -> bool {
        #[cfg(target_os = "linux")]
        {
            let how = rustix::fs::ResolveFlags::empty();
            let flags = OFlags::PATH | OFlags::CLOEXEC;
            !matches!(
                rustix::fs::openat2(rustix::fs::CWD, dir, flags, Mode::empty(), how),
                Err(Errno::NOSYS | Errno::PERM)
            )
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            false
        }
    }

    fn found(walk: &std::io::Result<DirWalk<'_>>) -> bool {
        matches!(walk, Ok(DirWalk::Found(_)))
    }

    #[test]
    fn walks_beneath_the_root_and_stops_at_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("a/b")).expect("mkdir");
        std::fs::write(tmp.path().join("a/file"), b"x").expect("write");
        std::os::unix::fs::symlink("a", tmp.path().join("link")).expect("symlink");
        let root = Root::open(tmp.path(), 0).expect("open root");

        if openat2_available(tmp.path()) {
            assert!(matches!(
                root.fast("a/file", OFlags::PATH),
                Some(Walk::Found(_))
            ));
            assert!(matches!(
                root.fast("a/none", OFlags::PATH),
                Some(Walk::Missing)
            ));
            assert!(root.fast("link/file", OFlags::PATH).is_none());
            assert!(root.fast("a/file/x", OFlags::PATH).is_none());
            assert!(
                root.fast.load(Ordering::Relaxed),
                "refusals must not switch the fast path off"
            );
        } else {
            eprintln!("!! openat2 is unavailable here: every walk takes the component walk");
        }
        // The component walk, whichever way the fast path went.
        assert!(found(&root.dir(&["a", "b"], false, false)));
        assert!(found(&root.dir(&["a", "b"], false, true)));
        assert!(matches!(
            root.dir(&["a", "none"], false, false),
            Ok(DirWalk::Missing)
        ));
        assert!(matches!(
            root.dir(&["a", "file", "x"], false, false),
            Ok(DirWalk::Missing)
        ));
        let through_link = root.dir(&["link", "b"], false, false);
        assert!(
            matches!(&through_link, Ok(DirWalk::Blocked(b)) if b.link && b.segment == "link"),
            "{through_link:?}"
        );
        let through_file = root.dir(&["a", "file", "x"], true, false);
        assert!(
            matches!(&through_file, Ok(DirWalk::Blocked(b)) if !b.link && b.segment == "file"),
            "{through_file:?}"
        );
        assert!(found(&root.dir(&["new", "deep"], true, false)));
        assert!(tmp.path().join("new/deep").is_dir());
    }

    #[test]
    fn the_lock_excludes_other_open_files_of_the_root() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let one = Root::open(tmp.path(), 0).expect("open");
        let other = Root::open(tmp.path(), 0).expect("open");
        let held = one.lock().expect("lock");
        let flags = FlockOperation::NonBlockingLockExclusive;
        assert_eq!(
            rustix::fs::flock(&other.lock_fd, flags),
            Err(Errno::WOULDBLOCK),
            "another open file of the root waits"
        );
        drop(held);
        rustix::fs::flock(&other.lock_fd, flags).expect("free once released");
    }
}

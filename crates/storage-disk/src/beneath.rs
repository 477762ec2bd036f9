//! The store root as an open directory, and Linux's `openat2` walk beneath it.
//!
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` resolves a whole key in one system
//! call and refuses, inside the kernel, any symbolic link or escape on the way, so no
//! one can swap a directory for a link between a check and a use. Whenever it answers
//! something other than "found" or "missing" — a link on the way, a kernel or sandbox
//! without `openat2`, any other error — the caller takes the portable walk instead,
//! which inspects each component and words the error precisely. A kernel that lacks
//! `openat2` is asked once.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
#[cfg(target_os = "linux")]
use rustix::io::Errno;

/// What a walk beneath the root found.
#[derive(Debug)]
pub(crate) enum Walk {
    /// The path, opened.
    Found(OwnedFd),
    /// A component is missing.
    Missing,
    /// Anything else: the caller takes the portable walk.
    Portable,
}

/// The store root, held open.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    /// Whether `openat2` is worth asking (cleared once it answers "unsupported").
    fast: AtomicBool,
}

impl Root {
    /// Opens `path` (an existing directory) as a path-only descriptor.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            fast: AtomicBool::new(cfg!(target_os = "linux")),
        })
    }

    /// The root directory's descriptor.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Opens `rel` (a relative path of plain names) beneath the root with `flags`,
    /// following no symbolic link anywhere; `O_NOFOLLOW` and `O_CLOEXEC` are added.
    pub(crate) fn walk(&self, rel: &str, flags: OFlags) -> Walk {
        if !self.fast.load(Ordering::Relaxed) {
            return Walk::Portable;
        }
        self.openat2(rel, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC)
    }

    #[cfg(target_os = "linux")]
    fn openat2(&self, rel: &str, flags: OFlags) -> Walk {
        use rustix::fs::ResolveFlags;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
            Ok(fd) => Walk::Found(fd),
            Err(Errno::NOENT) => Walk::Missing,
            // No `openat2` here (old kernel, or a sandbox that filters it): stop asking.
            Err(Errno::NOSYS | Errno::PERM | Errno::INVAL | Errno::TOOBIG) => {
                self.fast.store(false, Ordering::Relaxed);
                Walk::Portable
            }
            // A link on the way (`ELOOP`; `ENOTDIR` when a final link meets
            // `O_DIRECTORY`), a file on the way (`ENOTDIR`), a concurrent rename
            // (`EAGAIN`), and every other error: the portable walk finds out what it is
            // and says so.
            Err(_) => Walk::Portable,
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn openat2(&self, _rel: &str, _flags: OFlags) -> Walk {
        Walk::Portable
    }
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

    #[test]
    fn walks_beneath_the_root_and_stops_at_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("a")).expect("mkdir");
        std::fs::write(tmp.path().join("a/file"), b"x").expect("write");
        std::os::unix::fs::symlink("a", tmp.path().join("link")).expect("symlink");
        let root = Root::open(tmp.path()).expect("open root");

        let found = root.walk("a/file", OFlags::PATH);
        let read = root.walk("a/file", OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY);
        let dir = root.walk("a", OFlags::PATH | OFlags::DIRECTORY);
        let missing = root.walk("a/none", OFlags::PATH);
        let through_file = root.walk("a/file/x", OFlags::PATH);
        let through_link = root.walk("link/file", OFlags::PATH);
        let final_link = root.walk("link", OFlags::PATH | OFlags::DIRECTORY);
        if openat2_available(tmp.path()) {
            for walk in [found, read, dir] {
                assert!(matches!(walk, Walk::Found(_)), "{walk:?}");
            }
            assert!(matches!(missing, Walk::Missing), "{missing:?}");
            for walk in [through_file, through_link, final_link] {
                assert!(matches!(walk, Walk::Portable), "{walk:?}");
            }
            assert!(
                root.fast.load(Ordering::Relaxed),
                "refusals must not switch the fast path off"
            );
        } else {
            eprintln!("!! openat2 is unavailable here: every walk takes the portable path");
            for walk in [
                found,
                read,
                dir,
                missing,
                through_file,
                through_link,
                final_link,
            ] {
                assert!(matches!(walk, Walk::Portable), "{walk:?}");
            }
        }
    }
}

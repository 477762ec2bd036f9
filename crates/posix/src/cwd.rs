//! The working directory: `chdir`, `fchdir`, `getcwd`, and where relative paths start.
//!
//! A handle's working directory is an inode the tree keeps alive (a reference, as a
//! kernel's `fs_struct` holds one), so it may be removed while a handle works in it:
//! Linux then answers `getcwd` with `ENOENT`, refuses new entries in it, and still
//! leads `..` back to the parent it was removed from. Clones of a handle share one
//! working directory (as threads of a process do); [`MemoryFileSystem::with_credentials`]
//! starts a new one in the same directory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::error::Errno::{self, *};
use crate::fs::Shared;
use crate::state::{Ino, MAY_EXEC, ROOT, State};
use crate::{Fd, MemoryFileSystem, PosixError, Result};

/// The working directory of one handle and its clones.
#[derive(Debug)]
pub(crate) struct Cwd {
    /// Read and written only under the tree's lock, which orders every access; the
    /// atomic only makes the cell shareable.
    ino: AtomicU64,
    tree: Weak<Shared>,
}

impl Cwd {
    /// The root directory of `tree` (which needs no reference: it is never freed).
    pub(crate) fn root(tree: &Arc<Shared>) -> Arc<Self> {
        Arc::new(Self {
            ino: AtomicU64::new(ROOT),
            tree: Arc::downgrade(tree),
        })
    }

    /// The directory, read under the lock that `st` proves is held.
    pub(crate) fn get(&self, _st: &State) -> Ino {
        self.ino.load(Ordering::Relaxed)
    }
}

impl Drop for Cwd {
    fn drop(&mut self) {
        let ino = *self.ino.get_mut();
        if ino == ROOT {
            return;
        }
        if let Some(tree) = self.tree.upgrade() {
            // Dropping the last reference frees a removed directory; nothing to report.
            let _ = tree.lock().unpin(ino, 1);
        }
    }
}

impl MemoryFileSystem {
    /// A new working-directory cell in the same directory as this handle's.
    pub(crate) fn fork_cwd(&self) -> Arc<Cwd> {
        // The root needs no reference (it is never freed), so a handle in the root,
        // as a FUSE mount's are for every request, forks without taking the lock;
        // anything else is read again under it.
        if self.cwd.ino.load(Ordering::Relaxed) == ROOT {
            return Cwd::root(&self.shared);
        }
        let mut st = self.lock();
        let ino = self.cwd.get(&st);
        if ino != ROOT && st.pin(ino).is_err() {
            return Cwd::root(&self.shared);
        }
        Arc::new(Cwd {
            ino: AtomicU64::new(ino),
            tree: Arc::downgrade(&self.shared),
        })
    }

    /// Makes `dir` the working directory (taking its reference, dropping the old one).
    fn set_cwd(&self, st: &mut State, dir: Ino) -> std::result::Result<(), Errno> {
        if dir != ROOT {
            st.pin(dir)?;
        }
        let old = self.cwd.ino.swap(dir, Ordering::Relaxed);
        if old != ROOT {
            st.unpin(old, 1)?;
        }
        Ok(())
    }

    /// `set_fs_pwd` after the lookup: a directory (`ENOTDIR`) the caller may search
    /// (`EACCES`).
    fn enter(&self, st: &mut State, dir: Ino) -> std::result::Result<(), Errno> {
        let inode = st.get(dir)?;
        if !inode.is_dir() {
            return Err(ENOTDIR);
        }
        if !inode.permits(&self.cred, MAY_EXEC) {
            return Err(EACCES);
        }
        self.set_cwd(st, dir)
    }

    /// Changes the working directory of this handle (and its clones) to `path`, which
    /// relative paths then start from.
    ///
    /// # Errors
    /// `ENOTDIR` (not a directory), `EACCES` (no search permission on it or on the way),
    /// `ENOENT`, `ELOOP`, `ENAMETOOLONG`.
    ///
    /// ```
    /// use memory_fs_posix::{MemoryFileSystem, OpenFlags};
    /// let fs = MemoryFileSystem::new();
    /// fs.mkdir("/home", 0o755)?;
    /// fs.chdir("/home")?;
    /// fs.mkdir("alice", 0o700)?;
    /// assert!(fs.stat("/home/alice")?.is_dir());
    /// assert_eq!(fs.getcwd()?, "/home");
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn chdir(&self, path: &str) -> Result<()> {
        let inner = || {
            let mut st = self.lock();
            let dir = self.resolver(&st).resolve(path, true)?;
            self.enter(&mut st, dir)
        };
        inner().map_err(|e| PosixError::new(e, "chdir", Some(path)))
    }

    /// Changes the working directory to the directory open on `fd`.
    ///
    /// # Errors
    /// `EBADF`, `ENOTDIR` (not a directory), `EACCES` (no search permission).
    pub fn fchdir(&self, fd: Fd) -> Result<()> {
        let inner = || {
            let mut st = self.lock();
            let dir = st.fd(fd.0)?.ino;
            self.enter(&mut st, dir)
        };
        inner().map_err(|e| PosixError::new(e, &format!("fchdir fd {}", fd.0), None))
    }

    /// The absolute path of the working directory.
    ///
    /// # Errors
    /// `ENOENT` if the working directory has been removed.
    pub fn getcwd(&self) -> Result<String> {
        let st = self.lock();
        st.dir_path(self.cwd.get(&st))
            .map_err(|e| PosixError::new(e, "getcwd", None))
    }
}

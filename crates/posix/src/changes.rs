//! Change reports at the inode level, for caches of the tree kept elsewhere: a FUSE
//! mount's kernel caches entries, attributes and file pages, and must be told when
//! anything else changes them.
//!
//! While someone observes, every mutation records what it changed in the state's
//! journal; the lock guard ([`Locked`]) hands the journal to the observers when it
//! unlocks, so a report arrives before the operation returns but never under the
//! lock. An observer does not hear about changes made through its own handle (the one
//! [`MemoryFileSystem::observe_changes`] returns, and every handle made from it): a
//! FUSE mount serves the kernel through that handle, and the kernel already knows
//! what it asked for.

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::MemoryFileSystem;
use crate::state::{Ino, State};

/// One change that a cache of the tree must forget.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InodeChange {
    /// The status of inode `ino` changed (mode, owner, times, size or link count).
    Attributes {
        /// The inode.
        ino: u64,
    },
    /// The bytes of file `ino` from `offset` changed (`len` bytes, or to the end when
    /// `len` is 0), and so did its status.
    Content {
        /// The file.
        ino: u64,
        /// First byte changed.
        offset: u64,
        /// Bytes changed; 0 means up to the end.
        len: u64,
    },
    /// Entry `name` of directory `parent` was removed, or names another inode now.
    Entry {
        /// The directory.
        parent: u64,
        /// The entry's name.
        name: String,
    },
}

/// What an observer is called with.
type Callback = dyn Fn(&[InodeChange]) + Send + Sync;

#[derive(Clone)]
struct Observer {
    id: u64,
    /// Changes made through handles of this origin are not reported to it.
    origin: u64,
    callback: Arc<Callback>,
}

/// The observers of one tree.
#[derive(Default)]
pub(crate) struct Observers {
    list: Mutex<Vec<Observer>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self
            .list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        write!(f, "Observers({n})")
    }
}

impl Observers {
    fn list(&self) -> MutexGuard<'_, Vec<Observer>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An observation of a tree's changes; dropping it ends the observation.
#[derive(Debug)]
pub struct ChangeObserver {
    fs: MemoryFileSystem,
    id: u64,
}

impl Drop for ChangeObserver {
    fn drop(&mut self) {
        // The tree's lock first, then the list's, as `observe_changes` takes them.
        let mut st = self.fs.shared.lock();
        let mut list = self.fs.shared.observers.list();
        list.retain(|o| o.id != self.id);
        if list.is_empty() {
            st.journal = None;
        }
    }
}

impl MemoryFileSystem {
    /// Reports every change of the tree's inodes, except those made through the
    /// returned handle (and handles made from it with `clone` or
    /// [`with_credentials`](Self::with_credentials)), to `callback`: after the
    /// operation that made them has released the tree, before it returns.
    ///
    /// This is how a cache of the tree kept elsewhere stays coherent: a FUSE mount
    /// serves the kernel through the returned handle and passes on what every other
    /// handle changes as the kernel's invalidation notifications. The callback runs
    /// on the thread that made the change; it may use the tree.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use memory_fs_posix::{InodeChange, MemoryFileSystem};
    ///
    /// let fs = MemoryFileSystem::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// let (observer, own) = fs.observe_changes(move |c: &[InodeChange]| {
    ///     sink.lock().unwrap().extend_from_slice(c);
    /// });
    /// own.mkdir("/quiet", 0o755)?; // made through the observer's own handle
    /// assert!(seen.lock().unwrap().is_empty());
    /// fs.chmod("/quiet", 0o700)?;
    /// let ino = fs.stat("/quiet")?.ino;
    /// assert_eq!(seen.lock().unwrap()[..], [InodeChange::Attributes { ino }]);
    /// drop(observer);
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn observe_changes(
        &self,
        callback: impl Fn(&[InodeChange]) + Send + Sync + 'static,
    ) -> (ChangeObserver, MemoryFileSystem) {
        let observers = &self.shared.observers;
        // Origin 0 is every ordinary handle's.
        let id = observers.next.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut st = self.shared.lock();
            st.journal.get_or_insert_with(Vec::new);
            observers.list().push(Observer {
                id,
                origin: id,
                callback: Arc::new(callback),
            });
        }
        let own = MemoryFileSystem {
            origin: id,
            ..self.clone()
        };
        (
            ChangeObserver {
                fs: self.clone(),
                id,
            },
            own,
        )
    }
}

impl State {
    /// Records a change for the observers, if anyone observes.
    pub(crate) fn record(&mut self, change: impl FnOnce() -> InodeChange) {
        if let Some(journal) = &mut self.journal {
            journal.push(change());
        }
    }

    /// Records that the status of `ino` changed.
    pub(crate) fn record_attributes(&mut self, ino: Ino) {
        self.record(|| InodeChange::Attributes { ino });
    }
}

/// The tree's lock, held by one handle; unlocking hands what was changed meanwhile to
/// the observers (see the module documentation).
pub(crate) struct Locked<'a> {
    guard: ManuallyDrop<MutexGuard<'a, State>>,
    fs: &'a MemoryFileSystem,
}

impl<'a> Locked<'a> {
    pub(crate) fn new(guard: MutexGuard<'a, State>, fs: &'a MemoryFileSystem) -> Self {
        Self {
            guard: ManuallyDrop::new(guard),
            fs,
        }
    }
}

impl Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let changes = match &mut self.guard.journal {
            Some(journal) if !journal.is_empty() => std::mem::take(journal),
            _ => Vec::new(),
        };
        // SAFETY: the guard is dropped exactly once, here, and never used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        if changes.is_empty() {
            return;
        }
        let origin = self.fs.origin;
        let targets: Vec<Observer> = self
            .fs
            .shared
            .observers
            .list()
            .iter()
            .filter(|o| o.origin != origin)
            .cloned()
            .collect();
        for observer in targets {
            (observer.callback)(&changes);
        }
    }
}

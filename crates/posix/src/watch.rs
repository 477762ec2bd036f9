//! Watching: subscriptions that receive change events in order, without ever
//! blocking the writer.
//!
//! Events go through unbounded channels, so a slow watcher costs memory, never a
//! stalled write. With no subscription the cost of a change is one atomic load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::{MemoryFileSystem, Result};

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A file, directory, symlink or hard link was created.
    Created,
    /// A file's content changed (write, truncate).
    Modified,
    /// A name was removed (unlink, rmdir).
    Removed,
    /// A name was renamed away; the next event is its `RenamedTo`.
    RenamedFrom,
    /// A name was renamed here; the previous event was its `RenamedFrom`.
    RenamedTo,
    /// Permissions, owner or times changed.
    MetadataChanged,
}

/// One change, with the absolute, normalised path it concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchEvent {
    /// What happened.
    pub kind: EventKind,
    /// Where (lexically normalised: no `.`, `..` or repeated slashes).
    pub path: String,
}

#[derive(Debug)]
struct Subscription {
    id: u64,
    path: String,
    recursive: bool,
    tx: Sender<WatchEvent>,
}

/// The subscriptions of one tree.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    count: AtomicUsize,
    next_id: AtomicUsize,
    subs: Mutex<Vec<Subscription>>,
}

impl Watchers {
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    pub(crate) fn emit(&self, kind: EventKind, path: &str) {
        if self.is_empty() {
            return;
        }
        let path = normalize(path);
        let subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        for sub in subs.iter() {
            if covers(&sub.path, sub.recursive, &path) {
                // A dropped receiver is unsubscribed by its Watcher's Drop; ignore.
                let _ = sub.tx.send(WatchEvent {
                    kind,
                    path: path.clone(),
                });
            }
        }
    }

    fn subscribe(&self, path: String, recursive: bool) -> (u64, Receiver<WatchEvent>) {
        let (tx, rx) = mpsc::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) as u64;
        let mut subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        subs.push(Subscription {
            id,
            path,
            recursive,
            tx,
        });
        self.count.store(subs.len(), Ordering::Release);
        (id, rx)
    }

    fn unsubscribe(&self, id: u64) {
        let mut subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        subs.retain(|s| s.id != id);
        self.count.store(subs.len(), Ordering::Release);
    }

    /// Number of live subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// Whether a watch on `root` sees an event at `path`.
fn covers(root: &str, recursive: bool, path: &str) -> bool {
    if path == root {
        return true;
    }
    let rest = if root == "/" {
        path.strip_prefix('/')
    } else {
        path.strip_prefix(root).and_then(|r| r.strip_prefix('/'))
    };
    match rest {
        Some(rest) => recursive || !rest.contains('/'),
        None => false,
    }
}

/// Lexical normalisation to an absolute path.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A subscription to changes under a path; dropping it unsubscribes.
///
/// Iterating blocks until the next event (and ends only if the tree is gone).
///
/// ```
/// use memory_fs_posix::{EventKind, MemoryFileSystem};
///
/// let fs = MemoryFileSystem::new();
/// fs.mkdir("/inbox", 0o755)?;
/// let watcher = fs.watch("/inbox", false)?;
/// fs.mkdir("/inbox/new", 0o755)?;
/// let event = watcher.try_recv().expect("an event");
/// assert_eq!((event.kind, event.path.as_str()), (EventKind::Created, "/inbox/new"));
/// # Ok::<(), memory_fs_posix::PosixError>(())
/// ```
#[derive(Debug)]
pub struct Watcher {
    fs: MemoryFileSystem,
    id: u64,
    rx: Receiver<WatchEvent>,
}

impl Watcher {
    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<WatchEvent> {
        self.rx.try_recv().ok()
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<WatchEvent> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Iterator for Watcher {
    type Item = WatchEvent;

    fn next(&mut self) -> Option<WatchEvent> {
        self.rx.recv().ok()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.fs.shared.watchers.unsubscribe(self.id);
    }
}

impl MemoryFileSystem {
    /// Subscribes to changes of `path` and the entries in it (everything below it when
    /// `recursive`). The path must exist.
    ///
    /// # Errors
    /// The lookup errors of [`realpath`](Self::realpath).
    pub fn watch(&self, path: &str, recursive: bool) -> Result<Watcher> {
        let root = self.realpath(path)?;
        let (id, rx) = self.shared.watchers.subscribe(root, recursive);
        Ok(Watcher {
            fs: self.clone(),
            id,
            rx,
        })
    }

    /// Number of live watchers on this tree.
    pub fn watcher_count(&self) -> usize {
        self.shared.watchers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_covers() {
        assert_eq!(normalize("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(normalize("x"), "/x");
        assert!(covers("/a", false, "/a/b"));
        assert!(!covers("/a", false, "/a/b/c"));
        assert!(covers("/a", true, "/a/b/c"));
        assert!(!covers("/a", true, "/ab"));
        assert!(covers("/", false, "/x"));
        assert!(!covers("/", false, "/x/y"));
    }
}

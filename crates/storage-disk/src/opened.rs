//! Directories of the store held open between calls, so a key's directory is found
//! without a walk, and kept true to the tree by inotify.
//!
//! A directory is entered, and then kept, only by the component walk: one `O_NOFOLLOW`
//! step from a directory that is already kept and watched (the root, watched from the
//! start). Each kept directory is watched for the directories named in it changing —
//! one removed, renamed away, renamed onto or exchanged (`IN_DELETE`, `IN_MOVED_FROM`,
//! `IN_MOVED_TO` with `IN_ISDIR`: a directory's name can change in no other way) — and
//! for itself going (`IN_DELETE_SELF`, `IN_MOVE_SELF`, `IN_IGNORED`). The kernel
//! queues an event inside the call that makes the change, before that call returns,
//! and every lookup reads the queue first and forgets the directories the events name
//! and everything below them. So a lookup never answers with a directory that a
//! change completed before it began has moved, removed or replaced: it answers what a
//! walk at that moment would. Changes made while a call runs are raced as they are
//! with a walk: the call goes on in the directory it reached.
//!
//! The watch is added through `/proc/self/fd/N`, which names the opened directory
//! itself (the kernel resolves that link to the open file, not to a path). Where there
//! is no inotify or no `/proc`, or the watch limit is reached, directories are not
//! kept and every call walks.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::fs::{AtFlags, OFlags};
use rustix::io::Errno;

use crate::beneath::{DirFd, DirWalk, Walk, step};

/// What a kept directory is watched for.
const WATCHED: WatchFlags = WatchFlags::DELETE
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR);

/// Events that end what a watch says about its own directory.
const GONE: ReadFlags = ReadFlags::DELETE_SELF
    .union(ReadFlags::MOVE_SELF)
    .union(ReadFlags::IGNORED)
    .union(ReadFlags::UNMOUNT);

/// Bytes of events read at a time.
const EVENT_BUF: usize = 4096;

/// The fixed part of an event (`struct inotify_event`: wd, mask, cookie, len).
const EVENT_HEADER: usize = 16;

/// The longest name an event carries, with its terminating NUL.
const NAME_MAX: usize = 256;

/// The kept directories of one store.
#[derive(Debug)]
pub(crate) struct Opened {
    inotify: OwnedFd,
    /// Cleared when keeping directories stops being possible (no `/proc`, the queue
    /// cannot be read): from then on every call walks.
    on: AtomicBool,
    /// At most this many directories are kept (each holds a descriptor).
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Kept directories by their path below the root (`a/b`), with their watch.
    dirs: BTreeMap<Box<str>, (Arc<Kept>, i32)>,
    /// The path each watch is on (`""` for the root).
    watches: HashMap<i32, Box<str>>,
    buf: Vec<u8>,
}

/// A kept directory.
#[derive(Debug)]
pub(crate) struct Kept {
    fd: OwnedFd,
    /// A name last seen in it (a key just saved there), which proves it is not empty
    /// for as long as it is there.
    witness: Mutex<Option<Box<str>>>,
}

impl AsFd for Kept {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Kept {
    fn witness(&self) -> MutexGuard<'_, Option<Box<str>>> {
        // Only a hint is guarded: a panic leaves a name that is checked before use.
        self.witness.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that `name` was just put in the directory.
    pub(crate) fn saw(&self, name: &str) {
        let mut witness = self.witness();
        if witness.as_deref() != Some(name) {
            *witness = Some(name.into());
        }
    }

    /// Whether the directory holds something other than `name`, as far as a known
    /// name proves it: `true` only when such a name is there right now (so an `rmdir`
    /// would fail); `false` when no known name proves it (it may still hold others).
    pub(crate) fn holds_other_than(&self, name: &str) -> bool {
        let Some(witness) = self.witness().clone().filter(|w| **w != *name) else {
            return false;
        };
        match rustix::fs::statat(&self.fd, &*witness, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => true,
            Err(_) => {
                let mut current = self.witness();
                if current.as_deref() == Some(&*witness) {
                    *current = None;
                }
                false
            }
        }
    }
}

/// A change the queue reported.
enum Change {
    /// Forget this directory and everything below it (`""`: everything).
    Below(String),
    /// A watched directory itself moved or went (`dropped`: and its watch with it).
    Own { wd: i32, dropped: bool },
}

impl Opened {
    /// Starts keeping directories below `root` (at most `capacity`), or `None` when
    /// this system cannot (no inotify, no `/proc`, no watch left).
    pub(crate) fn new(root: BorrowedFd<'_>, capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let inotify = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).ok()?;
        let wd = add_watch(&inotify, root).ok()?;
        let mut watches = HashMap::new();
        watches.insert(wd, Box::from(""));
        Some(Self {
            inotify,
            on: AtomicBool::new(true),
            capacity,
            state: Mutex::new(State {
                dirs: BTreeMap::new(),
                watches,
                buf: vec![0; EVENT_BUF],
            }),
        })
    }

    /// Whether directories are being kept.
    pub(crate) fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements: a panic leaves at worst a
        // directory forgotten.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The directory `prefix` (a non-empty path of plain names) below `root`: kept, or
    /// walked to from the deepest kept directory above it (made on the way with
    /// `create`) and kept.
    pub(crate) fn dir<'r>(
        &self,
        root: BorrowedFd<'r>,
        prefix: &str,
        create: bool,
    ) -> std::io::Result<DirWalk<'r>> {
        let mut state = self.state();
        self.catch_up(&mut state);
        if let Some((fd, _)) = state.dirs.get(prefix) {
            return Ok(DirWalk::Found(DirFd::Kept(Arc::clone(fd))));
        }
        // The deepest kept directory above, and where the rest of the walk starts.
        let mut start = 0;
        let mut at: Option<Arc<Kept>> = None;
        for (i, _) in prefix.rmatch_indices('/') {
            if let Some((fd, _)) = state.dirs.get(&prefix[..i]) {
                at = Some(Arc::clone(fd));
                start = i + 1;
                break;
            }
        }
        // Room for every directory of the walk; else everything is forgotten first, and
        // the walk starts at the root (a directory is kept only below a kept one, whose
        // watch reports what happens to its name).
        let needed = prefix[start..].split('/').count();
        if state.dirs.len() + needed > self.capacity {
            self.forget_all(&mut state);
            start = 0;
            at = None;
        }
        // Whether the directory walked from is watched, so the next may be kept.
        let mut keeping = self.on();
        let mut walked: Option<OwnedFd> = None;
        let mut end = start;
        for segment in prefix[start..].split('/') {
            end += segment.len();
            let found = match (&walked, &at) {
                (Some(fd), _) => step(fd, segment, OFlags::PATH, create)?,
                (None, Some(fd)) => step(&**fd, segment, OFlags::PATH, create)?,
                (None, None) => step(&root, segment, OFlags::PATH, create)?,
            };
            let fd = match found {
                Walk::Found(fd) => fd,
                Walk::Missing => return Ok(DirWalk::Missing),
                Walk::Blocked(blocked) => return Ok(DirWalk::Blocked(blocked)),
            };
            if keeping {
                match self.keep(&mut state, &prefix[..end], fd) {
                    Ok(kept) => {
                        at = Some(kept);
                        walked = None;
                    }
                    Err(fd) => {
                        keeping = false;
                        walked = Some(fd);
                    }
                }
            } else {
                walked = Some(fd);
            }
            end += 1;
        }
        Ok(DirWalk::Found(match (walked, at) {
            (Some(fd), _) => DirFd::Below(fd),
            (None, Some(fd)) => DirFd::Kept(fd),
            (None, None) => unreachable!("a non-empty prefix has a segment"),
        }))
    }

    /// The kept directory `prefix` and the kept directory holding it (`None` for the
    /// root, or one not kept), in one look at the queue; `None` when `prefix` is not
    /// kept.
    pub(crate) fn kept_with_holder(&self, prefix: &str) -> Option<(Arc<Kept>, Option<Arc<Kept>>)> {
        let mut state = self.state();
        self.catch_up(&mut state);
        let (dir, _) = state.dirs.get(prefix)?;
        let holder = prefix
            .rsplit_once('/')
            .and_then(|(holder, _)| state.dirs.get(holder))
            .map(|(fd, _)| Arc::clone(fd));
        Some((Arc::clone(dir), holder))
    }

    /// Watches and keeps `fd`, the directory at `path`; hands it back if it cannot be
    /// watched or there is no room. Its parent must be kept (or be the root).
    fn keep(&self, state: &mut State, path: &str, fd: OwnedFd) -> Result<Arc<Kept>, OwnedFd> {
        // A walk deeper than all the room there is keeps what fits.
        if state.dirs.len() >= self.capacity {
            return Err(fd);
        }
        let wd = match add_watch(&self.inotify, fd.as_fd()) {
            Ok(wd) => wd,
            Err(e) => {
                // No `/proc` (or no right to it) will not change; a full watch table may.
                if e != Errno::NOSPC {
                    self.stop(state);
                }
                return Err(fd);
            }
        };
        // The same directory reached under two names (a bind mount below the root):
        // the watch cannot say which name changed, so neither is kept.
        if let Some(other) = state.watches.get(&wd)
            && **other != *path
        {
            let other = other.to_string();
            self.forget(state, &other);
            return Err(fd);
        }
        let fd = Arc::new(Kept {
            fd,
            witness: Mutex::new(None),
        });
        state.watches.insert(wd, path.into());
        state.dirs.insert(path.into(), (Arc::clone(&fd), wd));
        Ok(fd)
    }

    /// Reads every queued event and forgets what they name.
    fn catch_up(&self, state: &mut State) {
        let mut changes = Vec::new();
        let mut lost = false;
        loop {
            let n = match rustix::io::read(&self.inotify, &mut state.buf[..]) {
                Ok(n) => n,
                Err(Errno::WOULDBLOCK) => break,
                Err(Errno::INTR) => continue,
                Err(_) => {
                    // The queue cannot be read: nothing kept can be trusted again.
                    self.stop(state);
                    return;
                }
            };
            let mut at = 0;
            while let Some(header) = state.buf[..n].get(at..at + EVENT_HEADER) {
                let word = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
                let wd = i32::from_ne_bytes(word(0));
                let flags = ReadFlags::from_bits_retain(u32::from_ne_bytes(word(4)));
                let len = u32::from_ne_bytes(word(12)) as usize;
                let name = state.buf[..n]
                    .get(at + EVENT_HEADER..at + EVENT_HEADER + len)
                    .unwrap_or_default();
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                at += EVENT_HEADER + len;
                if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                    lost = true;
                    continue;
                }
                let Some(dir) = state.watches.get(&wd) else {
                    // A watch already forgotten.
                    continue;
                };
                if flags.intersects(GONE) {
                    let dropped = flags.intersects(ReadFlags::IGNORED | ReadFlags::UNMOUNT);
                    changes.push(Change::Own { wd, dropped });
                } else if flags.contains(ReadFlags::ISDIR) {
                    // A name that is not UTF-8 names no kept directory.
                    if let Ok(name) = std::str::from_utf8(name) {
                        changes.push(Change::Below(if dir.is_empty() {
                            name.to_owned()
                        } else {
                            format!("{dir}/{name}")
                        }));
                    }
                }
            }
            // A read that left room for another event took every event queued.
            if n + EVENT_HEADER + NAME_MAX < state.buf.len() {
                break;
            }
        }
        if lost {
            // Events were lost: nothing kept can be trusted.
            self.forget_all(state);
            return;
        }
        for change in changes {
            match change {
                Change::Below(path) => self.forget(state, &path),
                Change::Own { wd, dropped } => {
                    let Some(path) = state.watches.get(&wd).cloned() else {
                        continue;
                    };
                    if !path.is_empty() {
                        self.forget(state, &path);
                        state.watches.remove(&wd);
                    } else if dropped {
                        // The root's watch is gone: changes below it would go unseen.
                        self.stop(state);
                    } else {
                        // The root moved (which the store does not support): what is
                        // below it is still below it, but nothing is kept on trust.
                        self.forget_all(state);
                    }
                }
            }
        }
    }

    /// Forgets the directory at `path` and every one below it.
    fn forget(&self, state: &mut State, path: &str) {
        if path.is_empty() {
            self.forget_all(state);
            return;
        }
        // Everything from `path` up to `path0` (`'0'` follows `'/'`), which holds
        // `path`, `path/…` and names such as `path.x` that are kept as they are.
        let end = format!("{path}0");
        let below: Vec<Box<str>> = state
            .dirs
            .range::<str, _>((
                std::ops::Bound::Included(path),
                std::ops::Bound::Excluded(end.as_str()),
            ))
            .map(|(k, _)| k)
            .filter(|k| k.len() == path.len() || k.as_bytes()[path.len()] == b'/')
            .cloned()
            .collect();
        for key in below {
            if let Some((_, wd)) = state.dirs.remove(&key) {
                self.unwatch(state, wd);
            }
        }
    }

    /// Forgets every kept directory (the root stays watched).
    fn forget_all(&self, state: &mut State) {
        for (_, (_, wd)) in std::mem::take(&mut state.dirs) {
            self.unwatch(state, wd);
        }
    }

    fn unwatch(&self, state: &mut State, wd: i32) {
        if state.watches.get(&wd).is_some_and(|p| p.is_empty()) {
            return;
        }
        state.watches.remove(&wd);
        // Fails only for a watch the kernel dropped already.
        let _ = inotify::remove_watch(&self.inotify, wd);
    }

    /// Stops keeping directories.
    fn stop(&self, state: &mut State) {
        self.on.store(false, Ordering::Relaxed);
        self.forget_all(state);
    }
}

/// Watches the opened directory `fd` itself, named through `/proc/self/fd`.
fn add_watch(inotify: &OwnedFd, fd: BorrowedFd<'_>) -> rustix::io::Result<i32> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    inotify::add_watch(inotify, path, WATCHED)
}

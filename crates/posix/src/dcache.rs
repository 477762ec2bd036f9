//! The resolved-path cache (the core's dentry cache): a path that resolved before is
//! answered with one hash probe instead of a lookup per component.
//!
//! Only successful resolutions are kept, and each is checked on every hit, so a hit
//! answers exactly what a walk would:
//!
//! - Adding an entry never changes where an existing path leads, so creations keep
//!   the cache. Removing or replacing an entry does, so:
//!   - every change that can redirect a walk *through* a directory or a symlink (one
//!     removed, renamed or replaced; a directory's mode or owner changed, which
//!     decides search permission; a directory freed, whose number may come back)
//!     bumps one tree-wide generation, which all entries must match;
//!   - a file removed or replaced changes only the last step of the paths ending in
//!     its directory, so it bumps that directory's own generation, which entries
//!     ending there must match. Unlinking files elsewhere keeps them.
//! - Search permission is checked on the way for the caller that filled the entry;
//!   an entry serves another caller only when every directory on the way lets
//!   everyone search it (all three `x` bits), or the caller is root.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;

use crate::name::Name;
use crate::state::Ino;

/// Most paths kept; a full cache starts over (cheaper than tracking recency, and a
/// miss costs only the walk it would have saved).
const CAPACITY: usize = 1 << 16;
/// Longest path kept: longer ones are rare and would make entries large.
const MAX_PATH: usize = 255;

/// What a walk depended on, recorded while it ran (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trail {
    /// The directory holding the last name looked up.
    pub(crate) last_dir: Ino,
    /// That directory's generation when it was looked in.
    pub(crate) last_dir_generation: u64,
    /// Every directory searched on the way lets everyone search it.
    pub(crate) searchable_by_all: bool,
}

/// One cached resolution, packed into 64 bytes and aligned to them, so that a hit
/// touches one cache line: a hit costs mostly the memory it touches, and with the
/// table's own alignment (16 bytes; a large table comes from `mmap` 16 bytes past a
/// page boundary) every entry straddled two lines, a second miss that `perf` put at a
/// fifth of the probe.
#[derive(Debug)]
#[repr(align(64))]
struct Cached {
    /// `start << 1 | follow`.
    key: u64,
    path: Name,
    /// The inode, with `Trail::searchable_by_all` in the top bit (inode numbers are
    /// slab indices, far below it).
    ino: u64,
    last_dir: Ino,
    last_dir_generation: u64,
    generation: u64,
}

const SEARCHABLE: u64 = 1 << 63;

fn key(start: Ino, follow: bool) -> u64 {
    start << 1 | u64::from(follow)
}

/// The cache of one tree. It lives in the tree's state, under its lock; the table is
/// in a `RefCell` so a resolver holding the state shared can still fill it.
#[derive(Debug, Default)]
pub(crate) struct PathCache {
    table: RefCell<HashTable<Cached>>,
    hasher: foldhash::fast::RandomState,
    /// The tree-wide generation (see the module documentation).
    generation: u64,
    /// Tests compare a tree with the cache against one without it.
    #[cfg(test)]
    pub(crate) disabled: bool,
}

impl PathCache {
    /// Makes every entry stale: something a walk may pass through has changed.
    pub(crate) fn invalidate(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    fn hash(&self, key: u64, path: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_u64(key);
        h.write(path);
        h.finish()
    }

    /// The inode `path` (from `start`, following a final symlink if `follow`) resolved
    /// to, if that still holds for a caller (`root` or not); `dir_generation` gives a
    /// live directory's generation.
    pub(crate) fn get(
        &self,
        start: Ino,
        follow: bool,
        path: &str,
        root: bool,
        dir_generation: impl FnOnce(Ino) -> Option<u64>,
    ) -> Option<Ino> {
        #[cfg(test)]
        if self.disabled {
            return None;
        }
        if path.len() > MAX_PATH {
            return None;
        }
        let key = key(start, follow);
        let hash = self.hash(key, path.as_bytes());
        let table = self.table.borrow();
        let hit = table.find(hash, |c| {
            c.key == key && c.path.as_bytes() == path.as_bytes()
        })?;
        let valid = hit.generation == self.generation
            && (root || hit.ino & SEARCHABLE != 0)
            && dir_generation(hit.last_dir) == Some(hit.last_dir_generation);
        valid.then_some(hit.ino & !SEARCHABLE)
    }

    /// Remembers that `path` resolved to `ino` along `trail`.
    pub(crate) fn insert(&self, start: Ino, follow: bool, path: &str, ino: Ino, trail: Trail) {
        if path.len() > MAX_PATH {
            return;
        }
        let key = key(start, follow);
        let hash = self.hash(key, path.as_bytes());
        let mut table = self.table.borrow_mut();
        let ino = if trail.searchable_by_all {
            ino | SEARCHABLE
        } else {
            ino
        };
        let generation = self.generation;
        let fill = |c: &mut Cached| {
            c.ino = ino;
            c.last_dir = trail.last_dir;
            c.last_dir_generation = trail.last_dir_generation;
            c.generation = generation;
        };
        if let Some(c) = table.find_mut(hash, |c| {
            c.key == key && c.path.as_bytes() == path.as_bytes()
        }) {
            fill(c);
            return;
        }
        if table.len() >= CAPACITY {
            table.clear();
        }
        let mut entry = Cached {
            key,
            path: Name::new(path),
            ino: 0,
            last_dir: 0,
            last_dir_generation: 0,
            generation: 0,
        };
        fill(&mut entry);
        table.insert_unique(hash, entry, |c| self.hash(c.key, c.path.as_bytes()));
    }

    /// Entries held (stale ones included).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_fits_a_cache_line() {
        assert_eq!(std::mem::size_of::<Cached>(), 64);
        assert_eq!(std::mem::align_of::<Cached>(), 64);
        let cache = PathCache::default();
        let trail = Trail {
            last_dir: 1,
            last_dir_generation: 0,
            searchable_by_all: true,
        };
        for i in 0..100 {
            cache.insert(1, true, &format!("/d/f{i}"), i + 2, trail);
        }
        for entry in cache.table.borrow().iter() {
            assert_eq!(std::ptr::from_ref(entry) as usize % 64, 0);
        }
    }
}

//! Watching the store: the logical files that were saved, edited or deleted, by
//! anyone — this process, another one, another machine.
//!
//! A watch compares the records under `.memory-fs/files/` with what it saw last
//! (each record's [`Version`] from one `files_versions` listing, and for a changed one
//! the record itself), so what it reports is what was committed, whoever committed it,
//! and a commit still in flight is reported once it lands. It looks again when the
//! store signals a change ([`Storage::watch_keys`]: the memory tree's watchers, inotify
//! on disk, SQLite's data version) and otherwise every poll interval (S3).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memory_fs_file::storage::{KeyWatch, SafePath, Storage, Version};
use memory_fs_file::{FileId, FileRecord, Result};

/// Where records live.
const RECORDS: &str = ".memory-fs/files";

/// What happened to a logical file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// A new save: new content (the file's first save included).
    Saved,
    /// Its metadata changed (tags, user data) with the same content.
    Edited,
    /// The file is gone.
    Deleted,
}

impl ChangeKind {
    /// `saved`, `edited` or `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saved => "saved",
            Self::Edited => "edited",
            Self::Deleted => "deleted",
        }
    }
}

/// One change of one logical file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file.
    pub id: FileId,
    /// What happened.
    pub kind: ChangeKind,
    /// The file's newest version after the change, for a versioned file.
    pub version: Option<u32>,
    /// The record's revision after the change (`None` once deleted).
    pub revision: Option<u64>,
}

/// What a watch remembers of one file.
#[derive(Debug, Clone)]
struct Seen {
    version: Version,
    revision: u64,
    content: Option<String>,
    last: Option<u32>,
}

/// A watch over the logical files of a store, or of one of them.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use memory_fs_target::{Catalog, ChangeKind};
/// use memory_fs_target::file::{Content, File, FileId, FileSpec, FileType, SystemClock};
/// use memory_fs_storage_memory::MemoryStorage;
///
/// let storage = Arc::new(MemoryStorage::new());
/// let catalog = Catalog::new(storage.clone(), Arc::new(SystemClock));
/// let mut watch = catalog.watch(None)?;
/// let spec = FileSpec::new(FileId::new("doc")?, FileType::text());
/// File::save(storage, &spec, Content::Text("hi"))?;
/// let changes = watch.wait(Duration::from_secs(10))?;
/// assert_eq!((changes[0].id.as_str(), changes[0].kind), ("doc", ChangeKind::Saved));
/// # Ok::<(), memory_fs_target::file::FileError>(())
/// ```
pub struct Watch {
    storage: Arc<dyn Storage>,
    only: Option<FileId>,
    signal: Option<KeyWatch>,
    interval: Duration,
    seen: BTreeMap<FileId, Seen>,
    /// Set after the first look, which only learns what is there.
    primed: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("storage", &self.storage)
            .field("only", &self.only)
            .field("signalled", &self.signal.is_some())
            .field("interval", &self.interval)
            .field("files", &self.seen.len())
            .finish()
    }
}

impl Watch {
    /// A watch of `storage` (of file `only`, or of every file), starting from what is
    /// stored now: only later changes are reported.
    ///
    /// # Errors
    /// Storage errors; [`FileError::CorruptRecord`](memory_fs_file::FileError) for a
    /// record that cannot be read.
    pub fn new(storage: Arc<dyn Storage>, only: Option<FileId>) -> Result<Self> {
        let prefix = Self::prefix(only.as_ref())?;
        let signal = storage.watch_keys(&prefix)?;
        let mut watch = Self {
            storage,
            only,
            signal,
            interval: Duration::from_secs(1),
            seen: BTreeMap::new(),
            primed: false,
        };
        watch.look()?;
        watch.primed = true;
        Ok(watch)
    }

    /// How often to look again when the store gives no signal (S3), and at the least
    /// when it does: 1 s unless set.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Whether the store signals its changes (otherwise the watch polls).
    pub fn is_signalled(&self) -> bool {
        self.signal.is_some()
    }

    fn prefix(only: Option<&FileId>) -> Result<SafePath> {
        Ok(match only {
            Some(id) => SafePath::new(format!("{RECORDS}/{id}"))?,
            None => SafePath::new(RECORDS)?,
        })
    }

    /// Waits at most `timeout` for changes and returns them (empty: none came).
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Change>> {
        let until = Instant::now() + timeout;
        loop {
            let changes = self.poll()?;
            if !changes.is_empty() {
                return Ok(changes);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let pause = left.min(self.interval);
            match &mut self.signal {
                Some(signal) => {
                    signal.wait(pause);
                }
                None => std::thread::sleep(pause),
            }
        }
    }

    /// Looks once, now, and returns what changed since the last look, in id order.
    ///
    /// # Errors
    /// Storage errors; a record that cannot be read.
    pub fn poll(&mut self) -> Result<Vec<Change>> {
        self.look()
    }

    fn look(&mut self) -> Result<Vec<Change>> {
        let prefix = Self::prefix(self.only.as_ref())?;
        let listed = self.storage.files_versions(Some(&prefix))?;
        let mut now: BTreeMap<FileId, Version> = BTreeMap::new();
        for (key, version) in listed {
            // Only `<RECORDS>/<id>`: a deeper key is nobody's record.
            let mut segments = key.segments().skip(2);
            let (Some(name), None) = (segments.next(), segments.next()) else {
                continue;
            };
            if let Ok(id) = FileId::new(name)
                && self.only.as_ref().is_none_or(|o| *o == id)
            {
                now.insert(id, version);
            }
        }
        let mut changes = Vec::new();
        for (id, version) in &now {
            let known = self.seen.get(id);
            if known.is_some_and(|s| s.version == *version) {
                continue;
            }
            let Some(record) = self.record(id)? else {
                continue;
            };
            // A commit in flight is reported once it lands.
            if record.pending.is_some() {
                continue;
            }
            let seen = Seen {
                version: version.clone(),
                revision: record.revision,
                content: record.head.first_metadata().map(|m| m.content_hash.clone()),
                last: record.versions.as_ref().and_then(|v| v.last()),
            };
            let kind = match known {
                None => Some(ChangeKind::Saved),
                Some(k) if k.revision == seen.revision => None,
                Some(k) if k.content != seen.content || k.last != seen.last => {
                    Some(ChangeKind::Saved)
                }
                Some(_) => Some(ChangeKind::Edited),
            };
            if let Some(kind) = kind
                && self.primed
            {
                changes.push(Change {
                    id: id.clone(),
                    kind,
                    version: seen.last,
                    revision: Some(seen.revision),
                });
            }
            self.seen.insert(id.clone(), seen);
        }
        let gone: Vec<FileId> = self
            .seen
            .keys()
            .filter(|id| !now.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            self.seen.remove(&id);
            changes.push(Change {
                id,
                kind: ChangeKind::Deleted,
                version: None,
                revision: None,
            });
        }
        changes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(changes)
    }

    fn record(&self, id: &FileId) -> Result<Option<FileRecord>> {
        let key = SafePath::new(format!("{RECORDS}/{id}"))?;
        match self.storage.file_bytes(&key)? {
            Some(bytes) => FileRecord::from_bytes(key.as_str(), &bytes).map(Some),
            None => Ok(None),
        }
    }
}

impl Iterator for Watch {
    type Item = Result<Vec<Change>>;

    /// Waits for the next changes, however long that takes.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.wait(Duration::from_secs(3600)) {
                Ok(changes) if changes.is_empty() => {}
                other => return Some(other),
            }
        }
    }
}

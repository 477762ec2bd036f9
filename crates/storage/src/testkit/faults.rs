//! Wrappers that break or count what passes through them: [`Faulty`] fails the k-th
//! write (once, or from then on, as a crash would), [`Counting`] counts every call.
//!
//! A guarantee such as "a save leaves the previous or the new version, never a mix"
//! is proven by running the operation once for every k with a `Faulty` storage and
//! checking the store afterwards through the inner storage.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::{Batch, Capabilities, Expect, Result, SafePath, Storage, StorageError, Version, Write};

/// How a [`Faulty`] storage fails its k-th write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The k-th write fails with a backend error and writes nothing; later calls
    /// reach the storage again (the caller may clean up).
    Error,
    /// From the k-th write on, every call fails without reaching the storage, reads
    /// included: the process died there. Recovery is left to whoever opens the inner
    /// storage next.
    Crash,
}

/// A storage that fails its `k`-th write (1-based) as [`Fault`] says.
///
/// Writes are counted per request: `file_save`, `file_create`, `file_save_if`,
/// `file_delete`, `file_copy`, `clear`, each item of `files_save`/`files_delete`, and
/// `apply` as one write where the inner storage's batches are atomic, else one per
/// write of the batch (its checks are reads).
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    k: usize,
    fault: Fault,
    writes: AtomicUsize,
    tripped: AtomicBool,
}

impl<S: Storage> Faulty<S> {
    /// Wraps `inner`, failing its `k`-th write. `k = 0` never fails.
    pub fn new(inner: S, k: usize, fault: Fault) -> Self {
        Self {
            inner,
            k,
            fault,
            writes: AtomicUsize::new(0),
            tripped: AtomicBool::new(false),
        }
    }

    /// The storage underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Writes attempted so far (the failed one included).
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Whether the fault has happened.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    fn injected(&self, path: Option<&SafePath>) -> StorageError {
        StorageError::backend(
            self.inner.capabilities().backend,
            path.map(SafePath::as_str),
            std::io::Error::other(format!("injected fault at write {}", self.k)),
        )
    }

    /// Fails when crashed.
    fn read(&self, path: Option<&SafePath>) -> Result<()> {
        if self.fault == Fault::Crash && self.tripped() {
            return Err(self.injected(path));
        }
        Ok(())
    }

    /// Counts a write and fails it when its turn has come (or after a crash).
    fn write(&self, path: Option<&SafePath>) -> Result<()> {
        self.read(path)?;
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.k != 0 && n == self.k {
            self.tripped.store(true, Ordering::SeqCst);
            return Err(self.injected(path));
        }
        Ok(())
    }
}

impl<S: Storage> Storage for Faulty<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.write(Some(path))?;
        self.inner.file_save(path, data)
    }
    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        self.read(Some(path))?;
        self.inner.file_bytes(path)
    }
    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        self.read(Some(path))?;
        self.inner.file_exists(path)
    }
    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        self.write(Some(path))?;
        self.inner.file_delete(path)
    }
    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        self.read(prefix)?;
        self.inner.files_paths(prefix)
    }
    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        self.read(prefix)?;
        self.inner.files_versions(prefix)
    }
    fn clear(&self) -> Result<()> {
        self.write(None)?;
        self.inner.clear()
    }
    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.write(Some(path))?;
        self.inner.file_create(path, data)
    }
    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        if self.inner.capabilities().atomic_batch {
            self.write(None)?;
            return self.inner.files_save(items);
        }
        items
            .iter()
            .try_for_each(|(path, data)| self.file_save(path, data))
    }
    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        if self.inner.capabilities().atomic_batch {
            self.write(None)?;
            return self.inner.files_delete(paths);
        }
        paths
            .iter()
            .try_fold(0, |n, path| Ok(n + usize::from(self.file_delete(path)?)))
    }
    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        self.read(Some(path))?;
        self.inner.file_get(path)
    }
    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        self.write(Some(path))?;
        self.inner.file_save_if(path, data, expect)
    }
    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        if self.inner.capabilities().atomic_batch {
            self.write(batch.writes().first().map(Write::path))?;
            return self.inner.apply(batch);
        }
        for (path, expect) in batch.checks() {
            let current = self.file_get(path)?.map(|(_, version)| version);
            expect.check(path, current.as_ref())?;
        }
        for write in batch.writes() {
            match write {
                Write::Put { path, data } => self.file_save(path, data)?,
                Write::Delete { path } => {
                    self.file_delete(path)?;
                }
                Write::Copy { from, to } => {
                    if !self.file_copy(from, to)? {
                        return Err(StorageError::NotFound {
                            path: from.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        self.write(Some(to))?;
        self.inner.file_copy(from, to)
    }
    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        if self.inner.capabilities().atomic_batch {
            self.write(None)?;
            return self.inner.files_remove(paths);
        }
        paths
            .iter()
            .try_for_each(|path| self.file_delete(path).map(drop))
    }
}

/// What a [`Counting`] storage has seen, call by call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `file_bytes` and `file_get`.
    pub reads: usize,
    /// `file_exists`.
    pub exists: usize,
    /// `files_paths`.
    pub lists: usize,
    /// `file_save`, `file_create`, `file_save_if`, `file_copy`, and each item of
    /// `files_save`.
    pub writes: usize,
    /// `file_delete` and each key of `files_delete`.
    pub deletes: usize,
    /// `apply` calls.
    pub batches: usize,
    /// `clear`.
    pub clears: usize,
}

impl Counts {
    /// Every call counted.
    pub fn total(&self) -> usize {
        self.reads
            + self.exists
            + self.lists
            + self.writes
            + self.deletes
            + self.batches
            + self.clears
    }
}

/// A storage that counts the calls reaching it (a proxy for requests: on S3 each
/// call is one request, a listing one per page and `apply` one per key it touches).
#[derive(Debug, Default)]
pub struct Counting<S> {
    inner: S,
    reads: AtomicUsize,
    exists: AtomicUsize,
    lists: AtomicUsize,
    writes: AtomicUsize,
    deletes: AtomicUsize,
    batches: AtomicUsize,
    clears: AtomicUsize,
}

impl<S: Storage> Counting<S> {
    /// Wraps `inner` with every count at zero.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            reads: AtomicUsize::new(0),
            exists: AtomicUsize::new(0),
            lists: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            deletes: AtomicUsize::new(0),
            batches: AtomicUsize::new(0),
            clears: AtomicUsize::new(0),
        }
    }

    /// The storage underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        Counts {
            reads: self.reads.load(Ordering::SeqCst),
            exists: self.exists.load(Ordering::SeqCst),
            lists: self.lists.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
            deletes: self.deletes.load(Ordering::SeqCst),
            batches: self.batches.load(Ordering::SeqCst),
            clears: self.clears.load(Ordering::SeqCst),
        }
    }

    /// The counts so far, then every count back to zero.
    pub fn take(&self) -> Counts {
        let counts = self.counts();
        for c in [
            &self.reads,
            &self.exists,
            &self.lists,
            &self.writes,
            &self.deletes,
            &self.batches,
            &self.clears,
        ] {
            c.store(0, Ordering::SeqCst);
        }
        counts
    }
}

fn bump(counter: &AtomicUsize, by: usize) {
    counter.fetch_add(by, Ordering::SeqCst);
}

impl<S: Storage> Storage for Counting<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        bump(&self.writes, 1);
        self.inner.file_save(path, data)
    }
    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        bump(&self.reads, 1);
        self.inner.file_bytes(path)
    }
    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        bump(&self.exists, 1);
        self.inner.file_exists(path)
    }
    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        bump(&self.deletes, 1);
        self.inner.file_delete(path)
    }
    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        bump(&self.lists, 1);
        self.inner.files_paths(prefix)
    }
    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        if !self.inner.capabilities().listed_versions {
            // The provided implementation, through this wrapper so that its listing
            // and its read of every value are counted.
            let mut listed = Vec::new();
            for path in self.files_paths(prefix)? {
                if let Some((_, version)) = self.file_get(&path)? {
                    listed.push((path, version));
                }
            }
            return Ok(listed);
        }
        bump(&self.lists, 1);
        self.inner.files_versions(prefix)
    }
    fn clear(&self) -> Result<()> {
        bump(&self.clears, 1);
        self.inner.clear()
    }
    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        bump(&self.writes, 1);
        self.inner.file_create(path, data)
    }
    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        bump(&self.writes, items.len());
        self.inner.files_save(items)
    }
    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        bump(&self.deletes, paths.len());
        self.inner.files_delete(paths)
    }
    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        bump(&self.reads, 1);
        self.inner.file_get(path)
    }
    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        bump(&self.writes, 1);
        self.inner.file_save_if(path, data, expect)
    }
    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        bump(&self.batches, 1);
        self.inner.apply(batch)
    }
    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        bump(&self.writes, 1);
        self.inner.file_copy(from, to)
    }
    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        bump(&self.deletes, paths.len());
        self.inner.files_remove(paths)
    }
}

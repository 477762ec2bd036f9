//! `apply` on the memory store: checks, then writes, all-or-nothing behind the gate.
//!
//! The batch runs while the store's gate is held alone, so no other call of the store
//! sees it half done. Every put is staged first (a full tree fails there with
//! `ENOSPC`, before any key moves); then the writes run in order, each recording how
//! to undo itself: a value replaced or deleted is moved aside into the staging
//! directory rather than dropped, and every directory made or pruned is noted. When a
//! write fails (a key conflict on this tree-shaped store, an error of the tree), the
//! journal is played backwards and the tree is as it was. Renames, `mkdir` and `rmdir`
//! of the POSIX core consume no capacity, so undoing cannot run out of space.

use memory_fs_posix::{Errno, PosixError};
use memory_fs_storage::{Batch, Result, SafePath, StorageError, Write};

use crate::MemoryStorage;
use crate::error::backend;

/// One step already taken, and so one step to undo.
enum Undo {
    /// A new value now sits at this path where there was none.
    Placed(String),
    /// The old value of `path` was moved to `aside`.
    Aside { path: String, aside: String },
    /// This directory was made.
    MadeDir(String),
    /// This (empty) directory was removed.
    RemovedDir(String),
}

/// Runs `batch` on `store`, taking the gate.
pub(crate) fn apply(store: &MemoryStorage, batch: &Batch<'_>) -> Result<()> {
    for (path, _) in batch.checks() {
        MemoryStorage::path(path)?;
    }
    for write in batch.writes() {
        MemoryStorage::path(write.path())?;
    }
    let _alone = store.exclusive();
    for (path, expect) in batch.checks() {
        expect.check(path, store.version_of(path)?.as_ref())?;
    }
    apply_locked(store, batch)
}

/// Runs the writes of `batch` (its checks already passed), with the gate held.
pub(crate) fn apply_locked(store: &MemoryStorage, batch: &Batch<'_>) -> Result<()> {
    let mut staged: Vec<Option<String>> = Vec::with_capacity(batch.writes().len());
    for write in batch.writes() {
        match write {
            Write::Put { path, data } => match store.stage(data) {
                Ok(name) => staged.push(Some(name)),
                Err(e) => {
                    discard(store, staged.iter().flatten());
                    return Err(backend(path.as_str(), e));
                }
            },
            Write::Delete { .. } => staged.push(None),
            Write::Copy { from, to } => {
                // The value `from` holds at this point of the batch: what an earlier
                // write of it leaves, or what is stored now.
                let i = staged.len();
                let earlier = batch.writes()[..i].iter().rfind(|w| w.path() == from);
                let data = match earlier {
                    Some(Write::Put { data, .. }) => Ok(Some(data.to_vec())),
                    Some(Write::Delete { .. }) => Ok(None),
                    Some(Write::Copy { .. }) | None => store.read(from),
                };
                let data = match data {
                    Ok(Some(data)) => data,
                    Ok(None) => {
                        discard(store, staged.iter().flatten());
                        return Err(StorageError::NotFound {
                            path: from.to_string(),
                        });
                    }
                    Err(e) => {
                        discard(store, staged.iter().flatten());
                        return Err(e);
                    }
                };
                match store.stage(&data) {
                    Ok(name) => staged.push(Some(name)),
                    Err(e) => {
                        discard(store, staged.iter().flatten());
                        return Err(backend(to.as_str(), e));
                    }
                }
            }
        }
    }
    let mut journal = Vec::new();
    let mut failure = None;
    for (i, write) in batch.writes().iter().enumerate() {
        let step = match write {
            Write::Put { path, .. } | Write::Copy { to: path, .. } => match staged[i].take() {
                Some(name) => put(store, path, &name, &mut journal),
                None => Ok(()),
            },
            Write::Delete { path } => delete(store, path, &mut journal),
        };
        if let Err(e) = step {
            failure = Some(e);
            break;
        }
    }
    discard(store, staged.iter().flatten());
    match failure {
        None => {
            for undo in &journal {
                if let Undo::Aside { aside, .. } = undo {
                    // The old value is no longer anyone's; only memory is at stake.
                    let _ = store.fs.unlink(aside);
                }
            }
            Ok(())
        }
        Some(e) => {
            roll_back(store, journal);
            Err(e)
        }
    }
}

/// Removes staged files that were never placed.
fn discard<'a>(store: &MemoryStorage, names: impl Iterator<Item = &'a String>) {
    for name in names {
        let _ = store.fs.unlink(name);
    }
}

/// Moves the value at `path` (a regular file) aside; `Ok(false)` if there is none.
fn move_aside(store: &MemoryStorage, path: &str, journal: &mut Vec<Undo>) -> Result<bool> {
    match store.fs.lstat(path) {
        Ok(st) if st.is_file() => {}
        Ok(_) => return Ok(false),
        Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => return Ok(false),
        Err(e) => return Err(backend(path, e)),
    }
    let aside = store.staging_name();
    store
        .fs
        .rename(path, &aside)
        .map_err(|e| backend(path, e))?;
    journal.push(Undo::Aside {
        path: path.to_owned(),
        aside,
    });
    Ok(true)
}

fn put(store: &MemoryStorage, key: &SafePath, staged: &str, journal: &mut Vec<Undo>) -> Result<()> {
    let path = MemoryStorage::path(key)?;
    move_aside(store, &path, journal)?;
    let mut made = Vec::new();
    // Exclusive: the old value is aside, so an existing name here is a directory.
    let placed = store.place(key, staged, true, &mut made);
    journal.extend(made.into_iter().map(Undo::MadeDir));
    placed?;
    journal.push(Undo::Placed(path));
    Ok(())
}

fn delete(store: &MemoryStorage, key: &SafePath, journal: &mut Vec<Undo>) -> Result<()> {
    let path = MemoryStorage::path(key)?;
    if move_aside(store, &path, journal)? {
        let mut removed = Vec::new();
        store.prune(key, &mut removed);
        journal.extend(removed.into_iter().map(Undo::RemovedDir));
    }
    Ok(())
}

/// Plays `journal` backwards. Each step reverses one that succeeded moments ago with
/// the gate held, so it can fail only if someone bypassing the store changed the tree.
fn roll_back(store: &MemoryStorage, journal: Vec<Undo>) {
    for undo in journal.into_iter().rev() {
        let _: std::result::Result<(), PosixError> = match undo {
            Undo::Placed(path) => store.fs.unlink(&path),
            Undo::Aside { path, aside } => store.fs.rename(&aside, &path),
            Undo::MadeDir(dir) => store.fs.rmdir(&dir),
            Undo::RemovedDir(dir) => store.fs.mkdir(&dir, 0o755),
        };
    }
}

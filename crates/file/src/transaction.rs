//! `Transaction`: saves, edits and deletes of several logical files, committed all
//! together or not at all.

use std::collections::HashMap;
use std::sync::Arc;

use memory_fs_storage::{SafePath, Storage};
use serde_json::{Map, Value};

use crate::commit::{self, Body, Change, KeyWrite};
use crate::plan;
use crate::stream::{self, Staged};
use crate::{Clock, Content, FileError, FileId, FileMetadata, FileRecord, FileSpec, Result};

/// One operation of a transaction.
enum Op {
    Save {
        spec: FileSpec,
        stored: Vec<u8>,
    },
    /// A save whose content was streamed to a staging key when the op was added.
    Stream {
        spec: FileSpec,
        staged: Staged,
    },
    Edit(Box<dyn Fn(&mut FileMetadata) + Send + Sync>),
    Delete,
}

/// Changes of several logical files that commit together: after the commit every file
/// is changed, after an error or a crash none is.
///
/// Operations apply in the order given; several on one file compose (a save then a
/// tag, say). At commit each file's change is planned against its current record;
/// when another writer changed one of them first, the whole transaction is planned
/// again, so it never overwrites a change it did not see.
///
/// ```
/// use std::sync::Arc;
/// use memory_fs_file::{Content, File, FileId, FileSpec, FileType, SystemClock, Transaction};
/// use memory_fs_storage_memory::MemoryStorage;
///
/// let storage = Arc::new(MemoryStorage::new());
/// let a = FileSpec::new(FileId::new("a")?, FileType::text()).folders(["docs"]);
/// let b = FileSpec::new(FileId::new("b")?, FileType::text()).folders(["docs"]);
/// let mut tx = Transaction::new(storage.clone(), Arc::new(SystemClock));
/// tx.save(&a, Content::Text("one"))?.save(&b, Content::Text("two"))?;
/// tx.add_tags(&FileId::new("a")?, ["pair"]);
/// tx.commit()?;
/// let a = File::open(storage, &FileId::new("a")?)?.expect("committed");
/// assert_eq!(a.metadata().map(|m| m.tags.clone()), Some(vec!["pair".to_owned()]));
/// # Ok::<(), memory_fs_file::FileError>(())
/// ```
pub struct Transaction {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    ops: Vec<(FileId, Op)>,
    /// Set once the commit landed: the staged contents are then in place (and gone).
    committed: bool,
}

impl Drop for Transaction {
    /// Removes the staged contents of streamed saves that were never committed.
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for (id, op) in &self.ops {
            if let Op::Stream { staged, .. } = op {
                stream::discard(&*self.storage, id, staged);
            }
        }
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("storage", &self.storage)
            .field("operations", &self.ops.len())
            .finish_non_exhaustive()
    }
}

impl Transaction {
    /// An empty transaction on `storage`.
    pub fn new(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>) -> Self {
        Self {
            storage,
            clock,
            ops: Vec::new(),
            committed: false,
        }
    }

    /// Saves `content` as `spec` says.
    ///
    /// # Errors
    /// Serialization and encoding errors (the transaction is unchanged).
    pub fn save(&mut self, spec: &FileSpec, content: Content<'_>) -> Result<&mut Self> {
        let stored = content.stored(spec.id(), spec.file_type())?.into_owned();
        self.ops.push((
            spec.id().clone(),
            Op::Save {
                spec: spec.clone(),
                stored,
            },
        ));
        Ok(self)
    }

    /// Saves the bytes `reader` yields as `spec` says, streamed (a `binary` or
    /// `base64` type, as [`File::save_from`](crate::File::save_from)): the content goes
    /// to a staging key now, and into place at the commit. Dropping the transaction
    /// uncommitted removes it.
    ///
    /// # Errors
    /// As [`File::save_from`](crate::File::save_from) (the transaction is unchanged).
    pub fn save_from(
        &mut self,
        spec: &FileSpec,
        reader: &mut dyn std::io::Read,
    ) -> Result<&mut Self> {
        let base64 = stream::streamable(spec)?;
        let before = commit::read_record(&*self.storage, spec.id())?;
        let seeds = stream::seeds(before.record.as_ref());
        let staged = stream::stage_as(&*self.storage, &*self.clock, reader, base64, &seeds)?;
        self.ops.push((
            spec.id().clone(),
            Op::Stream {
                spec: spec.clone(),
                staged,
            },
        ));
        Ok(self)
    }

    /// Adds tags to the file's last save.
    pub fn add_tags<I: IntoIterator<Item = S>, S: Into<String>>(
        &mut self,
        id: &FileId,
        tags: I,
    ) -> &mut Self {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.ops.push((
            id.clone(),
            Op::Edit(Box::new(move |m: &mut FileMetadata| {
                for t in &tags {
                    if !m.tags.contains(t) {
                        m.tags.push(t.clone());
                    }
                }
            })),
        ));
        self
    }

    /// Replaces the user data of the file's last save.
    pub fn update_data(&mut self, id: &FileId, data: Map<String, Value>) -> &mut Self {
        self.ops.push((
            id.clone(),
            Op::Edit(Box::new(move |m: &mut FileMetadata| m.data = data.clone())),
        ));
        self
    }

    /// Deletes the file.
    pub fn delete(&mut self, id: &FileId) -> &mut Self {
        self.ops.push((id.clone(), Op::Delete));
        self
    }

    /// The files the transaction changes, in the order first named.
    pub fn ids(&self) -> Vec<FileId> {
        let mut ids: Vec<FileId> = Vec::new();
        for (id, _) in &self.ops {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// Commits every operation, all or nothing, and returns the files' records after
    /// (`None` for a file deleted), in the order of [`ids`](Self::ids).
    ///
    /// # Errors
    /// [`FileError::NotFound`] for an edit of a file that does not exist; storage
    /// errors; [`FileError::Contended`]. On any error no file is changed.
    pub fn commit(mut self) -> Result<Vec<Option<FileRecord>>> {
        let ids = self.ids();
        let storage = self.storage.clone();
        let clock = self.clock.clone();
        let ops = &self.ops;
        let committed = commit::commit(&*storage, &*clock, &ids, |records, attempt| {
            let mut changes = Vec::with_capacity(ids.len());
            for (id, before) in ids.iter().zip(records) {
                let change = compose(
                    &*storage,
                    &*clock,
                    id,
                    before.as_ref(),
                    ops.iter().filter(|(i, _)| i == id).map(|(_, op)| op),
                    attempt,
                )?;
                changes.extend(change);
            }
            Ok(changes)
        });
        self.committed = committed.is_ok();
        committed
    }
}

/// One file's operations folded into one change against `before`.
fn compose<'a>(
    storage: &dyn Storage,
    clock: &dyn Clock,
    id: &FileId,
    before: Option<&FileRecord>,
    ops: impl Iterator<Item = &'a Op>,
    attempt: usize,
) -> Result<Option<Change<'a>>> {
    let mut current: Option<FileRecord> = before.cloned();
    let mut writes: Vec<KeyWrite<'a>> = Vec::new();
    let mut at: HashMap<SafePath, usize> = HashMap::new();
    let mut checks = Vec::new();
    let mut touched = false;
    for op in ops {
        let change = match op {
            Op::Save { spec, stored } => plan::save(
                storage,
                clock,
                current.as_ref(),
                spec,
                Body::Bytes(stored),
                attempt,
                None,
            )?,
            Op::Stream { spec, staged } => plan::save(
                storage,
                clock,
                current.as_ref(),
                spec,
                Body::Staged(staged),
                attempt,
                None,
            )?,
            Op::Edit(edit) => {
                let Some(record) = current.as_ref() else {
                    return Err(FileError::NotFound { id: id.to_string() });
                };
                Some(plan::edit(record, &**edit)?)
            }
            Op::Delete => match current.as_ref() {
                Some(record) => Some(plan::delete(record)?),
                None => None,
            },
        };
        let Some(change) = change else {
            continue;
        };
        touched = true;
        checks.extend(change.checks);
        for write in change.writes {
            let key = match &write {
                KeyWrite::Put { key, .. }
                | KeyWrite::Content { key, .. }
                | KeyWrite::Delete { key } => key.clone(),
            };
            match at.get(&key) {
                Some(&i) => {
                    // A later write of a key replaces the earlier one; what the key
                    // held before the transaction stays what an undo restores.
                    let write = match (&writes[i], write) {
                        (KeyWrite::Put { old, .. }, KeyWrite::Put { key, data, .. }) => {
                            KeyWrite::Put {
                                key,
                                data,
                                old: old.clone(),
                            }
                        }
                        (_, w) => w,
                    };
                    writes[i] = write;
                }
                None => {
                    at.insert(key, writes.len());
                    writes.push(write);
                }
            }
        }
        current = change.after;
    }
    if !touched {
        return Ok(None);
    }
    Ok(Some(Change {
        id: id.clone(),
        before: before.cloned(),
        after: current,
        writes,
        checks,
    }))
}

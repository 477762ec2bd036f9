//! The audit log as the facade shows it: one entry per logical operation (a save, an
//! edit, a delete of logical files, named by the file layer's commits) with the
//! records of the store's log (kept by the audit layer, `audit=LABEL` in the store URL)
//! that make it up, the files it touched and the content it wrote.

use std::collections::HashMap;

use memory_fs_target::file::storage::layers::AUDIT_PREFIX;
use memory_fs_target::file::storage::layers::audit::{
    AuditOp, AuditRecord, ChangeAction, read_trail,
};
use memory_fs_target::file::storage::layers::operation::Operation;
use memory_fs_target::file::{FileId, RESERVED};

use crate::{Error, MemoryFs, Result};

/// Which entries [`MemoryFs::audit_log`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only entries that touched this logical file.
    pub id: Option<String>,
    /// Only entries with a record committed at or after this time (milliseconds since
    /// the epoch, UTC).
    pub since: Option<i64>,
}

/// One logical operation of the audit log, or one change made outside any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The records that make up the entry, oldest first: every record of one logical
    /// operation (on disk and S3 a commit is its intent, its keys and its completion,
    /// with an `abort` record for a step that failed; on SQLite and memory it is one
    /// record), or the one record of a change that names no operation.
    pub records: Vec<AuditRecord>,
    /// The logical operation (its id and what it did to each file), when the records
    /// name one.
    pub operation: Option<Operation>,
    /// The ids of the logical files the entry touched, sorted.
    pub files: Vec<String>,
    /// The content written to each file, as the audit layer hashed it.
    pub contents: Vec<LoggedContent>,
}

/// A content written by a logged operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedContent {
    /// The logical file.
    pub id: String,
    /// SHA-256 (hex) of the content.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

impl LogEntry {
    /// The entry's first record (an entry has at least one).
    pub fn first(&self) -> &AuditRecord {
        &self.records[0]
    }

    /// What the entry did to `id`: the operation's action for that file (`save`,
    /// `edit`, `delete`, …), else the storage operation of its first record.
    pub fn action(&self, id: Option<&str>) -> String {
        if let Some(op) = &self.operation {
            let mut actions: Vec<&str> = op
                .files
                .iter()
                .filter(|f| id.is_none_or(|id| f.id == id))
                .map(|f| f.action.as_str())
                .collect();
            actions.dedup();
            if !actions.is_empty() {
                return actions.join(",");
            }
        }
        self.first().op.name().to_owned()
    }

    /// Whether a record of the entry says that a step of it failed and was not made
    /// (an `abort` record, on disk and S3).
    pub fn has_abort(&self) -> bool {
        self.records.iter().any(|r| r.op == AuditOp::Abort)
    }
}

/// The logical file a key belongs to: the id of a record key
/// (`.memory-fs/files/<id>`), or the id a key in the Python layout is named after
/// (`<folder>/<id>.<ext>`, with `.config` and `.metadata` beside it). Index postings,
/// transaction journals and other keys the library keeps name no file here.
fn file_of(key: &str) -> Option<String> {
    let id = if let Some(rest) = key.strip_prefix(RESERVED).and_then(|r| r.strip_prefix('/')) {
        rest.strip_prefix("files/")?.to_owned()
    } else {
        let name = key.rsplit('/').next()?;
        let name = name
            .strip_suffix(".config")
            .or_else(|| name.strip_suffix(".metadata"))
            .unwrap_or(name);
        name.split('.').next()?.to_owned()
    };
    FileId::new(&id).ok().map(|_| id)
}

/// The logical file whose content `key` is: a key of the Python layout that is not a
/// config or a metadata key.
fn content_of(key: &str) -> Option<String> {
    if key.starts_with(RESERVED) || key.ends_with(".config") || key.ends_with(".metadata") {
        return None;
    }
    file_of(key)
}

impl LogEntry {
    fn new(record: AuditRecord) -> Self {
        Self {
            operation: record.operation.clone(),
            records: vec![record],
            files: Vec::new(),
            contents: Vec::new(),
        }
    }

    /// Fills `files` and `contents` from the records.
    fn finish(&mut self) {
        let mut files: Vec<String> = match &self.operation {
            Some(op) => op.files.iter().map(|f| f.id.clone()).collect(),
            None => Vec::new(),
        };
        for change in self.records.iter().flat_map(|r| &r.changes) {
            files.extend(file_of(&change.key));
            if change.action != ChangeAction::Put {
                continue;
            }
            if let (Some(id), Some(sha256), Some(size)) =
                (content_of(&change.key), &change.sha256, change.size)
            {
                let content = LoggedContent {
                    id,
                    sha256: sha256.clone(),
                    size,
                };
                // A content saved in several folders is one content.
                if !self.contents.contains(&content) {
                    self.contents.push(content);
                }
            }
        }
        files.sort_unstable();
        files.dedup();
        self.files = files;
    }
}

/// The entries of `records`: those of one operation together, at the place of the
/// operation's first record.
fn entries(records: Vec<AuditRecord>) -> Vec<LogEntry> {
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut by_operation: HashMap<String, usize> = HashMap::new();
    for record in records {
        let at = record
            .operation
            .as_ref()
            .and_then(|op| by_operation.get(&op.id).copied());
        match at {
            Some(i) => entries[i].records.push(record),
            None => {
                if let Some(op) = &record.operation {
                    by_operation.insert(op.id.clone(), entries.len());
                }
                entries.push(LogEntry::new(record));
            }
        }
    }
    for entry in &mut entries {
        entry.finish();
    }
    entries
}

impl MemoryFs {
    /// The store's audit log, verified from its first record (an edited, removed or
    /// reordered record is an integrity error), as one entry per logical operation,
    /// with the entries `query` selects.
    ///
    /// Every commit of the file layer names its logical operation, so that one save is
    /// one entry whatever the store: on SQLite and memory its one record, on disk and
    /// S3 the several records written ahead of its steps (intent, keys, completion).
    ///
    /// # Errors
    /// [`Error::Layer`] when the store is not opened with the audit layer
    /// (`audit=LABEL`); an integrity error where the chain is broken; storage errors.
    pub fn audit_log(&self, query: &LogQuery) -> Result<Vec<LogEntry>> {
        if !self.storage().capabilities().audited {
            return Err(Error::Layer {
                layer: "audit",
                reason: format!(
                    "this store is not opened with its audit log (kept under {AUDIT_PREFIX}/): add audit=LABEL to the store URL"
                ),
            });
        }
        let trail = read_trail(&**self.storage())?;
        let mut entries = entries(trail.records);
        entries.retain(|e| {
            let recent = query.since.is_none_or(|since| {
                e.records
                    .iter()
                    .any(|r| i64::try_from(r.time).unwrap_or(i64::MAX) >= since)
            });
            recent && query.id.as_ref().is_none_or(|id| e.files.contains(id))
        });
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::{content_of, file_of};

    #[test]
    fn keys_name_their_files() {
        assert_eq!(
            file_of(".memory-fs/files/report").as_deref(),
            Some("report")
        );
        assert_eq!(file_of("latest/report.json").as_deref(), Some("report"));
        assert_eq!(file_of("v2/report.json.config").as_deref(), Some("report"));
        assert_eq!(
            file_of("a/b/report.json.metadata").as_deref(),
            Some("report")
        );
        assert_eq!(file_of("notes").as_deref(), Some("notes"));
        assert_eq!(file_of(".memory-fs/index/tag/x/report"), None);
        assert_eq!(file_of(".memory-fs/tx/abc"), None);
        assert_eq!(content_of("latest/report.json").as_deref(), Some("report"));
        assert_eq!(content_of("latest/report.json.config"), None);
        assert_eq!(content_of("latest/report.json.metadata"), None);
        assert_eq!(content_of(".memory-fs/files/report"), None);
    }
}

//! The audit log as the facade shows it: each record of the store's log (kept by the
//! audit layer, `audit=LABEL` in the store URL) with the logical files it touched.

use memory_fs_target::file::storage::layers::AUDIT_PREFIX;
use memory_fs_target::file::storage::layers::audit::{AuditRecord, read_trail};
use memory_fs_target::file::{FileId, RESERVED};

use crate::{Error, MemoryFs, Result};

/// Which records [`MemoryFs::audit_log`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only records that touched this logical file.
    pub id: Option<String>,
    /// Only records committed at or after this time (milliseconds since the epoch, UTC).
    pub since: Option<i64>,
}

/// One record of the audit log and the logical files it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The record as stored (sequence number, time, caller, operation, keys with their
    /// sizes and SHA-256, chain hashes).
    pub record: AuditRecord,
    /// The ids of the logical files whose keys the record changed, sorted.
    pub files: Vec<String>,
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

impl MemoryFs {
    /// The store's audit log, verified from its first record (an edited, removed or
    /// reordered record is an integrity error), with the records `query` selects.
    ///
    /// On a store with atomic batches (SQLite, memory) each commit is one record; on
    /// disk and S3 a commit of a logical file is several (its intent, its keys, its
    /// completion), each written ahead of its change.
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
        let mut entries = Vec::new();
        for record in trail.records {
            if query
                .since
                .is_some_and(|since| i64::try_from(record.time).unwrap_or(i64::MAX) < since)
            {
                continue;
            }
            let mut files: Vec<String> = record
                .changes
                .iter()
                .filter_map(|c| file_of(&c.key))
                .collect();
            files.sort_unstable();
            files.dedup();
            if query.id.as_ref().is_some_and(|id| !files.contains(id)) {
                continue;
            }
            entries.push(LogEntry { record, files });
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::file_of;

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
    }
}

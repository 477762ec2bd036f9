//! The listing snapshot: on a store whose listings carry versions (S3), every settled
//! record in one value, so that listing the store reads one value and its listing
//! instead of one value per file.
//!
//! The snapshot is a cache, never a source of truth: each record in it is kept with the
//! version it was read at, and it is used only where the store's listing shows that same
//! version now. A record written, replaced or removed since is read (or dropped) as the
//! listing says, and the snapshot is saved again when anything differed. A lost or
//! damaged snapshot costs reads, never a wrong answer. A file deleted since the last
//! listing keeps its record (metadata, never content) in the snapshot until the next
//! listing saves it again.
//!
//! Format (JSON): `{"format": 1, "records": {"<id>": ["<version>", "<record JSON>"]}}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use memory_fs_file::storage::{SafePath, Storage, Version};
use memory_fs_file::{File, FileId, Result};
use serde_json::{Value, json};

/// Where the snapshot lives.
pub(crate) const SNAPSHOT: &str = ".memory-fs/catalog";

/// The format written and the only one read.
const FORMAT: u64 = 1;

/// One record as the snapshot keeps it: the version it was read at and its bytes.
type Entry = (Version, String);

/// Every record of the store under `records`, each as [`File::open`] would give it
/// (`Ok(None)` for a file being created or removed), in id order. Reads the listing,
/// the snapshot, and only the records the snapshot does not hold at their listed
/// version; saves the snapshot again when it was out of date.
pub(crate) fn files(
    storage: &Arc<dyn Storage>,
    records: &SafePath,
) -> Result<Vec<(FileId, Result<Option<File>>)>> {
    let key = SafePath::new(SNAPSHOT)?;
    let listed = storage.files_versions(Some(records))?;
    let mut old = read(&**storage, &key);
    let mut new: BTreeMap<String, Entry> = BTreeMap::new();
    let mut changed = false;
    let mut files = Vec::with_capacity(listed.len());
    for (path, version) in listed {
        let Ok(id) = FileId::new(path.file_name()) else {
            continue;
        };
        let cached = old
            .remove(id.as_str())
            .filter(|(v, _)| *v == version)
            .map(|(_, bytes)| bytes);
        let file = match cached {
            Some(bytes) => {
                let file =
                    File::from_record(storage.clone(), &id, bytes.as_bytes(), version.clone());
                new.insert(id.to_string(), (version, bytes));
                file
            }
            None => {
                changed = true;
                fresh(storage, &path, &id, &mut new)
            }
        };
        files.push((id, file));
    }
    changed |= !old.is_empty();
    if changed {
        // Best effort: a snapshot that cannot be saved only costs the next listing reads.
        let _ = storage.file_save(&key, &encode(&new));
    }
    Ok(files)
}

/// Reads the record at `path` (not in the snapshot at its listed version) and keeps it
/// in `new` when it is settled.
fn fresh(
    storage: &Arc<dyn Storage>,
    path: &SafePath,
    id: &FileId,
    new: &mut BTreeMap<String, Entry>,
) -> Result<Option<File>> {
    let Some((bytes, version)) = storage.file_get(path)? else {
        return Ok(None);
    };
    let file = File::from_record(storage.clone(), id, &bytes, version.clone());
    if let Ok(Some(f)) = &file
        && f.record_version() == Some(&version)
        && let Ok(text) = String::from_utf8(bytes)
    {
        new.insert(id.to_string(), (version, text));
    }
    file
}

/// The snapshot at `key`, or nothing when there is none or it cannot be read.
fn read(storage: &dyn Storage, key: &SafePath) -> BTreeMap<String, Entry> {
    let Ok(Some(bytes)) = storage.file_bytes(key) else {
        return BTreeMap::new();
    };
    decode(&bytes).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Option<BTreeMap<String, Entry>> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    if value.get("format")?.as_u64()? != FORMAT {
        return None;
    }
    let mut entries = BTreeMap::new();
    for (id, entry) in value.get("records")?.as_object()? {
        let [version, record] = entry.as_array()?.as_slice() else {
            return None;
        };
        entries.insert(
            id.clone(),
            (Version::new(version.as_str()?), record.as_str()?.to_owned()),
        );
    }
    Some(entries)
}

fn encode(entries: &BTreeMap<String, Entry>) -> Vec<u8> {
    let records: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(id, (version, record))| (id.clone(), json!([version.as_str(), record])))
        .collect();
    // A map of strings always serializes; were it not to, the empty value written
    // would read back as no snapshot.
    serde_json::to_vec(&json!({"format": FORMAT, "records": records})).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        let mut entries = BTreeMap::new();
        entries.insert(
            "a".to_owned(),
            (Version::new("\"e1\""), "{\"x\":1}".to_owned()),
        );
        assert_eq!(decode(&encode(&entries)), Some(entries));
    }

    #[test]
    fn a_damaged_or_foreign_snapshot_reads_as_none() {
        assert_eq!(decode(b"not json"), None);
        assert_eq!(decode(br#"{"format": 2, "records": {}}"#), None);
        assert_eq!(decode(br#"{"format": 1, "records": {"a": ["v"]}}"#), None);
    }
}

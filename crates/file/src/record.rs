//! `FileRecord`: the library's own record of one logical file, kept beside its keys at
//! `.memory-fs/files/<id>`, so a file is found, listed and queried without reading
//! its config, content or metadata keys.
//!
//! The record is written in the same commit as the keys it describes. On a store
//! without atomic batches it also carries the commit in flight ([`Pending`]): the
//! writes planned, with what is needed to finish them or to undo them.

use base64::Engine as _;
use memory_fs_storage::SafePath;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::layout::{self, FolderKeys};
use crate::{FileConfig, FileError, FileId, FileMetadata, Result, Retention};

/// The format tag every record starts with.
const FORMAT: &str = "memory-fs/record/1";

/// What the index knows of one logical file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    /// Bumped by every commit that changes the file.
    pub revision: u64,
    /// The placement saved last: what a read by id reads.
    pub head: Placement,
    /// Every folder holding the file other than its version folders, in the order
    /// they were first used.
    pub folders: Vec<String>,
    /// The version folders (`v1`, `v2`… under one base) holding the file.
    pub versions: Option<Versions>,
    /// The file's own retention policy: which versions saves and prunes keep
    /// (`None`: the default of whoever saves or prunes, else every version).
    pub retention: Option<Retention>,
    /// A commit that started and has not been seen to end (stores without atomic
    /// batches only).
    pub pending: Option<Pending>,
}

/// One save's folders and what was written in each.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The config of the save: id, type, key, strategy and its folders.
    pub config: FileConfig,
    /// The metadata written in each folder of `config`, in folder order (`None` for a
    /// content-only type, or where the store had none when the file was indexed).
    pub metadata: Vec<Option<FileMetadata>>,
}

impl Placement {
    /// The metadata of `folder`, if this placement has it.
    pub fn metadata_of(&self, folder: &str) -> Option<&FileMetadata> {
        let i = self.config.folders().iter().position(|f| *f == folder)?;
        self.metadata.get(i)?.as_ref()
    }

    /// The metadata of the first folder that has some.
    pub fn first_metadata(&self) -> Option<&FileMetadata> {
        self.metadata.iter().flatten().next()
    }
}

/// The version folders of a file: `<base>v<n>` for each number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// What comes before `v<n>`: `""` or a folder ending in `/`.
    pub base: String,
    /// The numbers held, ascending, without duplicates.
    pub numbers: Vec<u32>,
    /// Where the chain continues from when older versions were pruned (`None`: none
    /// was, the first version held starts the chain).
    pub pruned: Option<ChainAnchor>,
}

/// What a pruned history keeps of the versions it removed: the number of the newest
/// one removed and the chain hash the first version kept continues from (that
/// version's chain hash, or its content hash where it had none), so the chain of what
/// is left is still checked from its first link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainAnchor {
    /// The newest version removed: every version up to it is gone on purpose.
    pub through: u32,
    /// The chain hash the version after it continues.
    pub chain_hash: String,
}

impl Versions {
    /// The folder of version `n`.
    pub fn folder(&self, n: u32) -> String {
        format!("{}v{n}", self.base)
    }

    /// The highest number held.
    pub fn last(&self) -> Option<u32> {
        self.numbers.last().copied()
    }

    /// Adds `n`, keeping the numbers sorted.
    pub fn insert(&mut self, n: u32) {
        if let Err(at) = self.numbers.binary_search(&n) {
            self.numbers.insert(at, n);
        }
    }

    /// The numbers as inclusive ranges (`[1,5]` for 1..=5), the stored form.
    fn ranges(&self) -> Vec<[u32; 2]> {
        let mut out: Vec<[u32; 2]> = Vec::new();
        for &n in &self.numbers {
            match out.last_mut() {
                Some(r) if r[1].checked_add(1) == Some(n) => r[1] = n,
                _ => out.push([n, n]),
            }
        }
        out
    }
}

/// A commit in flight on a store without atomic batches: written into the record
/// (with a compare-and-swap) before any key is touched, cleared when every key is.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The commit's id.
    pub tx: String,
    /// When the commit started (ms since the epoch, the writer's clock).
    pub started_ms: i64,
    /// The process that runs the commit.
    pub owner: Owner,
    /// The journal of a transaction across files this commit belongs to: it is
    /// finished if and only if that journal says the transaction committed.
    pub transaction: Option<SafePath>,
    /// The record before the commit (`None`: the file is new).
    pub previous: Option<Box<FileRecord>>,
    /// Whether the commit removes the file (its record goes too).
    pub removes: bool,
    /// The writes, in the order they are made.
    pub writes: Vec<IntentWrite>,
}

/// Who runs a commit, to tell a live writer from a dead one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The machine's boot id (or host name): pids mean something only on it.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The process's start time (clock ticks since boot), so a reused pid is not
    /// taken for the writer.
    pub started: u64,
}

/// One write of a pending commit.
#[derive(Debug, Clone, PartialEq)]
pub enum IntentWrite {
    /// A small key (config, metadata) written with `data`; `old` is what it held
    /// before (`None`: nothing), so the write can be undone.
    Put {
        /// The key.
        key: SafePath,
        /// The new bytes.
        data: Vec<u8>,
        /// The bytes before.
        old: Option<Vec<u8>>,
    },
    /// A content key written with bytes of this hash and size. Every content of one
    /// commit of one file has the same bytes, so one that landed completes the rest.
    Content {
        /// The key.
        key: SafePath,
        /// [`content_hash`](crate::content_hash) of the new bytes.
        hash: String,
        /// Their size.
        size: u64,
        /// Where a transaction staged the bytes before its commit point.
        staged: Option<SafePath>,
    },
    /// A key deleted.
    Delete {
        /// The key.
        key: SafePath,
    },
}

impl IntentWrite {
    /// The key written.
    pub fn key(&self) -> &SafePath {
        match self {
            Self::Put { key, .. } | Self::Content { key, .. } | Self::Delete { key } => key,
        }
    }
}

impl FileRecord {
    /// The record of a file found through its stored placements (for example by a
    /// scan of a store another program wrote): the head is the placement saved last
    /// (by metadata timestamp; a later placement wins a tie, one without metadata
    /// loses), the folders and versions are those of every placement. `None` for no
    /// placement.
    pub fn from_placements(placements: Vec<Placement>) -> Option<Self> {
        let mut head: Option<usize> = None;
        for (i, p) in placements.iter().enumerate() {
            let newer = match head.map(|h| placements[h].first_metadata()) {
                None => true,
                Some(best) => match (best, p.first_metadata()) {
                    (Some(b), Some(m)) => m.timestamp >= b.timestamp,
                    (None, Some(_)) => true,
                    (_, None) => false,
                },
            };
            if newer {
                head = Some(i);
            }
        }
        let head = placements.get(head?)?.clone();
        let mut record = Self {
            revision: 1,
            head,
            folders: Vec::new(),
            versions: None,
            retention: None,
            pending: None,
        };
        for p in &placements {
            record.add_folders(&p.config.folders());
        }
        Some(record)
    }

    /// Adds folders the file is held in: version folders (`<base>v<N>`) to the
    /// versions, others to the plain folders. A second version series under another
    /// base is kept as plain folders.
    pub(crate) fn add_folders(&mut self, folders: &[&str]) {
        for folder in folders {
            if let Some(n) = layout::version_of(folder) {
                let base = layout::version_base(folder);
                match &mut self.versions {
                    Some(v) if v.base == base => {
                        v.insert(n);
                        continue;
                    }
                    None => {
                        self.versions = Some(Versions {
                            base: base.to_owned(),
                            numbers: vec![n],
                            pruned: None,
                        });
                        continue;
                    }
                    Some(_) => {}
                }
            }
            if !self.folders.iter().any(|f| f == folder) {
                self.folders.push((*folder).to_owned());
            }
        }
    }

    /// Whether two records describe the same file the same way (revision and commit
    /// in flight aside).
    pub fn same_content(&self, other: &Self) -> bool {
        self.head == other.head
            && self.folders == other.folders
            && self.versions == other.versions
            && self.retention == other.retention
    }

    /// The file's id.
    pub fn id(&self) -> &FileId {
        &self.head.config.file_id
    }

    /// The key this record is kept at.
    ///
    /// # Errors
    /// Never for a valid id; the error is the key's validation.
    pub fn key(&self) -> Result<SafePath> {
        layout::record_key(self.id())
    }

    /// Every folder holding the file: the plain folders, then the version folders.
    pub fn all_folders(&self) -> Vec<String> {
        let mut out = self.folders.clone();
        if let Some(v) = &self.versions {
            out.extend(v.numbers.iter().map(|n| v.folder(*n)));
        }
        out
    }

    /// Every key of the file in every folder (content, config and metadata), sorted.
    ///
    /// # Errors
    /// [`FileError::InvalidPath`] when a folder does not make a valid key.
    pub fn keys(&self) -> Result<Vec<SafePath>> {
        let config = &self.head.config;
        let mut keys = Vec::new();
        for folder in self.all_folders() {
            keys.extend(
                FolderKeys::new(&folder, &config.file_id, &config.file_type)?
                    .all()
                    .cloned(),
            );
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The record as stored (compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        let stored = Stored::from(self);
        // A record is plain data (strings, numbers, maps): serializing it cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Parses a stored record.
    ///
    /// # Errors
    /// [`FileError::CorruptRecord`] naming `path` for anything but a record this
    /// version of the library wrote.
    pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<Self> {
        let corrupt = |detail: String| FileError::CorruptRecord {
            path: path.to_owned(),
            detail,
        };
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if stored.format != FORMAT {
            return Err(corrupt(format!(
                "format {:?}, this library reads {FORMAT:?}",
                stored.format
            )));
        }
        stored.into_record(path)
    }
}

// ----- the stored form -----------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct Stored {
    format: String,
    revision: u64,
    head: StoredPlacement,
    folders: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    versions: Option<StoredVersions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention: Option<StoredRetention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<StoredPending>,
}

/// A retention policy as stored: a count and an age in milliseconds.
#[derive(Serialize, Deserialize)]
struct StoredRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep_within_ms: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct StoredAnchor {
    through: u32,
    chain_hash: String,
}

#[derive(Serialize, Deserialize)]
struct StoredPlacement {
    config: Value,
    metadata: Vec<Option<Value>>,
}

#[derive(Serialize, Deserialize)]
struct StoredVersions {
    base: String,
    ranges: Vec<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pruned: Option<StoredAnchor>,
}

#[derive(Serialize, Deserialize)]
struct StoredPending {
    tx: String,
    started_ms: i64,
    host: String,
    pid: u32,
    pid_started: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transaction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<Box<Stored>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    removes: bool,
    writes: Vec<StoredWrite>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum StoredWrite {
    Put {
        key: String,
        data: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old: Option<String>,
    },
    Content {
        key: String,
        hash: String,
        size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staged: Option<String>,
    },
    Delete {
        key: String,
    },
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl From<&FileRecord> for Stored {
    fn from(r: &FileRecord) -> Self {
        Self {
            format: FORMAT.to_owned(),
            revision: r.revision,
            head: StoredPlacement {
                config: r.head.config.to_value(),
                metadata: r
                    .head
                    .metadata
                    .iter()
                    .map(|m| m.as_ref().map(FileMetadata::to_value))
                    .collect(),
            },
            folders: r.folders.clone(),
            versions: r.versions.as_ref().map(|v| StoredVersions {
                base: v.base.clone(),
                ranges: v.ranges(),
                pruned: v.pruned.as_ref().map(|a| StoredAnchor {
                    through: a.through,
                    chain_hash: a.chain_hash.clone(),
                }),
            }),
            retention: r.retention.as_ref().map(|p| StoredRetention {
                keep_last: p.keep_last.map(std::num::NonZeroU32::get),
                keep_within_ms: p
                    .keep_within
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }),
            pending: r.pending.as_ref().map(|p| StoredPending {
                tx: p.tx.clone(),
                started_ms: p.started_ms,
                host: p.owner.host.clone(),
                pid: p.owner.pid,
                pid_started: p.owner.started,
                transaction: p.transaction.as_ref().map(SafePath::to_string),
                previous: p.previous.as_deref().map(|r| Box::new(Stored::from(r))),
                removes: p.removes,
                writes: p
                    .writes
                    .iter()
                    .map(|w| match w {
                        IntentWrite::Put { key, data, old } => StoredWrite::Put {
                            key: key.to_string(),
                            data: b64(data),
                            old: old.as_deref().map(b64),
                        },
                        IntentWrite::Content {
                            key,
                            hash,
                            size,
                            staged,
                        } => StoredWrite::Content {
                            key: key.to_string(),
                            hash: hash.clone(),
                            size: *size,
                            staged: staged.as_ref().map(SafePath::to_string),
                        },
                        IntentWrite::Delete { key } => StoredWrite::Delete {
                            key: key.to_string(),
                        },
                    })
                    .collect(),
            }),
        }
    }
}

impl Stored {
    fn into_record(self, path: &str) -> Result<FileRecord> {
        let corrupt = |detail: String| FileError::CorruptRecord {
            path: path.to_owned(),
            detail,
        };
        let key = |k: String| SafePath::new(k).map_err(|e| corrupt(e.to_string()));
        let unb64 = |s: String| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| corrupt(e.to_string()))
        };
        let config = FileConfig::from_value(path, self.head.config)?;
        let metadata = self
            .head
            .metadata
            .into_iter()
            .map(|m| m.map(|v| FileMetadata::from_value(path, v)).transpose())
            .collect::<Result<Vec<_>>>()?;
        let versions = match self.versions {
            None => None,
            Some(v) => {
                let mut numbers = Vec::new();
                for [a, b] in v.ranges {
                    if a == 0 || b < a || b - a > 10_000_000 {
                        return Err(corrupt(format!("bad version range [{a}, {b}]")));
                    }
                    numbers.extend(a..=b);
                }
                numbers.sort_unstable();
                numbers.dedup();
                let pruned = v.pruned.map(|a| ChainAnchor {
                    through: a.through,
                    chain_hash: a.chain_hash,
                });
                if let Some(a) = &pruned
                    && numbers.first().is_some_and(|first| *first <= a.through)
                {
                    return Err(corrupt(format!(
                        "versions pruned through v{} but v{} is held",
                        a.through, numbers[0]
                    )));
                }
                Some(Versions {
                    base: v.base,
                    numbers,
                    pruned,
                })
            }
        };
        let retention = match self.retention {
            None => None,
            Some(r) => {
                let keep_last = match r.keep_last {
                    None => None,
                    Some(n) => Some(std::num::NonZeroU32::new(n).ok_or_else(|| {
                        corrupt("a retention that keeps the last 0 versions".into())
                    })?),
                };
                Some(Retention {
                    keep_last,
                    keep_within: r.keep_within_ms.map(std::time::Duration::from_millis),
                })
            }
        };
        let pending = match self.pending {
            None => None,
            Some(p) => {
                let previous = match p.previous {
                    None => None,
                    Some(prev) => Some(Box::new(prev.into_record(path)?)),
                };
                let mut writes = Vec::with_capacity(p.writes.len());
                for w in p.writes {
                    writes.push(match w {
                        StoredWrite::Put { key: k, data, old } => IntentWrite::Put {
                            key: key(k)?,
                            data: unb64(data)?,
                            old: old.map(unb64).transpose()?,
                        },
                        StoredWrite::Content {
                            key: k,
                            hash,
                            size,
                            staged,
                        } => IntentWrite::Content {
                            key: key(k)?,
                            hash,
                            size,
                            staged: staged.map(key).transpose()?,
                        },
                        StoredWrite::Delete { key: k } => IntentWrite::Delete { key: key(k)? },
                    });
                }
                Some(Pending {
                    tx: p.tx,
                    started_ms: p.started_ms,
                    owner: Owner {
                        host: p.host,
                        pid: p.pid,
                        started: p.pid_started,
                    },
                    transaction: p.transaction.map(key).transpose()?,
                    previous,
                    removes: p.removes,
                    writes,
                })
            }
        };
        if metadata.len() != config.folders().len() {
            return Err(corrupt(format!(
                "{} metadata entries for {} folders",
                metadata.len(),
                config.folders().len()
            )));
        }
        Ok(FileRecord {
            revision: self.revision,
            head: Placement { config, metadata },
            folders: self.folders,
            versions,
            retention,
            pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileType;

    fn record() -> FileRecord {
        let config = FileConfig::new(FileId::new("report").unwrap(), FileType::json())
            .with_paths(["latest", "v3"]);
        let meta = FileMetadata {
            content_hash: "0123456789".into(),
            chain_hash: Some("ab".into()),
            previous_version_path: Some("v2/report.json".into()),
            content_size: 12,
            tags: vec!["a".into()],
            timestamp: 1_700_000_000_000,
            data: serde_json::Map::new(),
        };
        FileRecord {
            revision: 4,
            head: Placement {
                config,
                metadata: vec![Some(meta.clone()), Some(meta)],
            },
            folders: vec!["latest".into()],
            versions: Some(Versions {
                base: String::new(),
                numbers: vec![1, 2, 3, 7],
                pruned: None,
            }),
            retention: None,
            pending: None,
        }
    }

    #[test]
    fn records_round_trip() {
        let mut r = record();
        assert_eq!(FileRecord::from_bytes("k", &r.to_bytes()).unwrap(), r);
        r.pending = Some(Pending {
            tx: "t1".into(),
            started_ms: 5,
            owner: Owner {
                host: "h".into(),
                pid: 7,
                started: 9,
            },
            transaction: None,
            previous: Some(Box::new(record())),
            removes: false,
            writes: vec![
                IntentWrite::Put {
                    key: SafePath::new("latest/report.json.metadata").unwrap(),
                    data: b"{}".to_vec(),
                    old: None,
                },
                IntentWrite::Content {
                    key: SafePath::new("latest/report.json").unwrap(),
                    hash: "0123456789".into(),
                    size: 12,
                    staged: None,
                },
                IntentWrite::Delete {
                    key: SafePath::new("x").unwrap(),
                },
            ],
        });
        assert_eq!(FileRecord::from_bytes("k", &r.to_bytes()).unwrap(), r);
    }

    #[test]
    fn retention_and_pruned_anchor_round_trip_and_old_records_load() {
        let mut r = record();
        let old = r.to_bytes();
        assert!(!String::from_utf8_lossy(&old).contains("retention"));
        r.retention = Some(
            Retention::keep_last(std::num::NonZeroU32::new(5).unwrap())
                .and_keep_within(std::time::Duration::from_secs(3600)),
        );
        if let Some(v) = &mut r.versions {
            v.numbers = vec![4, 5, 6];
            v.pruned = Some(ChainAnchor {
                through: 3,
                chain_hash: "cd".into(),
            });
        }
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(
            text.contains(r#""pruned":{"through":3,"chain_hash":"cd"}"#)
                && text.contains(r#""retention":{"keep_last":5,"keep_within_ms":3600000}"#),
            "{text}"
        );
        assert_eq!(FileRecord::from_bytes("k", text.as_bytes()).unwrap(), r);
        // A record written before retention existed has neither field.
        let before = FileRecord::from_bytes("k", &old).unwrap();
        assert_eq!(
            (before.retention, before.versions.unwrap().pruned),
            (None, None)
        );
        // An anchor at or past a version still held is a damaged record.
        let bad = text.replace(r#""through":3"#, r#""through":4"#);
        let err = FileRecord::from_bytes("k", bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("pruned through v4"), "{err}");
    }

    #[test]
    fn versions_are_stored_as_ranges() {
        let r = record();
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(text.contains(r#""ranges":[[1,3],[7,7]]"#), "{text}");
        assert_eq!(
            r.keys().unwrap().len(),
            15,
            "latest and four versions, three keys each"
        );
    }

    #[test]
    fn damaged_records_are_refused_with_the_key_named() {
        for bad in [
            &b"not json"[..],
            br#"{"format":"other"}"#,
            br#"{"format":"memory-fs/record/1","revision":1,"head":{"config":{},"metadata":[]},"folders":[]}"#,
        ] {
            let err = FileRecord::from_bytes(".memory-fs/files/x", bad).unwrap_err();
            assert!(err.to_string().contains(".memory-fs/files/x"), "{err}");
        }
    }
}

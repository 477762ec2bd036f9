//! Version history read as a history: the chain of a versioned file checked version
//! by version (each metadata's `previous_version_path` and SHA-256 `chain_hash`).

use std::fmt;

use memory_fs_storage::Storage;

use crate::layout::{FolderKeys, content_name, version_base, version_of};
use crate::{FileId, FileMetadata, FileRecord, Result, chain_hash, content_hash};

/// What is wrong with one version of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFault {
    /// The version's content or metadata is gone, or a version names as its previous
    /// one a version that is gone.
    Missing,
    /// The version's content is not what its metadata says (hash or size), or its
    /// metadata cannot be read.
    Altered,
    /// The version's metadata says it follows another version than the one before it.
    Reordered,
    /// The version's chain hash does not continue the chain of the version before it
    /// (that version, or this one, was rewritten with fresh metadata).
    Broken,
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing",
            Self::Altered => "altered",
            Self::Reordered => "reordered",
            Self::Broken => "broken",
        })
    }
}

/// One fault [`File::verify_chain`](crate::File::verify_chain) found: the file, the
/// version and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// The file.
    pub id: FileId,
    /// The version concerned.
    pub version: u32,
    /// What kind of fault.
    pub fault: ChainFault,
    /// The fault in words, naming the keys concerned.
    pub detail: String,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} v{}: {}: {}",
            self.id.as_str(),
            self.version,
            self.fault,
            self.detail
        )
    }
}

/// What is known of one version after reading it.
struct Link {
    number: u32,
    /// The chain hash the next version continues from (its chain hash, else its
    /// content hash, as saves compute it); `None` when it could not be read.
    continues: Option<String>,
}

/// Walks the versions `record` holds, oldest first, and reports every fault. Reads
/// each version's metadata and content once.
pub(crate) fn verify_chain(
    storage: &dyn Storage,
    record: &FileRecord,
) -> Result<Vec<ChainProblem>> {
    let config = &record.head.config;
    let (id, ty) = (&config.file_id, &config.file_type);
    let mut problems = Vec::new();
    let Some(versions) = &record.versions else {
        return Ok(problems);
    };
    if ty.content_only() {
        return Ok(problems);
    }
    let name = content_name(id, ty);
    let mut report = |version: u32, fault: ChainFault, detail: String| {
        problems.push(ChainProblem {
            id: id.clone(),
            version,
            fault,
            detail,
        });
    };
    let mut previous: Option<Link> = None;
    for &n in &versions.numbers {
        let folder = versions.folder(n);
        let keys = FolderKeys::new(&folder, id, ty)?;
        let Some(meta_key) = keys.metadata else {
            continue;
        };
        let meta = match storage.file_bytes(&meta_key)? {
            None => None,
            Some(bytes) => match FileMetadata::from_json(meta_key.as_str(), &bytes) {
                Ok(m) => Some(m),
                Err(e) => {
                    report(n, ChainFault::Altered, e.to_string());
                    previous = Some(Link {
                        number: n,
                        continues: None,
                    });
                    continue;
                }
            },
        };
        let content = storage.file_bytes(&keys.content)?;
        let (meta, content) = match (meta, content) {
            (Some(m), Some(c)) => (m, c),
            (m, c) => {
                let gone: Vec<&str> = [
                    c.is_none().then_some(keys.content.as_str()),
                    m.is_none().then_some(meta_key.as_str()),
                ]
                .into_iter()
                .flatten()
                .collect();
                report(
                    n,
                    ChainFault::Missing,
                    format!("{} gone", gone.join(" and ")),
                );
                previous = Some(Link {
                    number: n,
                    continues: None,
                });
                continue;
            }
        };
        let actual = content_hash(&content);
        let altered = actual != meta.content_hash || content.len() as u64 != meta.content_size;
        if altered || content.len() as u64 != meta.content_size {
            report(
                n,
                ChainFault::Altered,
                format!(
                    "{} hashes to {actual} ({} bytes) where its metadata says {} ({} bytes)",
                    keys.content,
                    content.len(),
                    meta.content_hash,
                    meta.content_size
                ),
            );
        }

        // Which version this one says it follows, and whether that is the one before.
        let follows = match &meta.previous_version_path {
            None => None,
            Some(path) => {
                let folder = path.strip_suffix(&name).map(|f| f.trim_end_matches('/'));
                match folder
                    .and_then(|f| version_of(f).filter(|_| version_base(f) == versions.base))
                {
                    Some(m) => Some(m),
                    None => {
                        report(
                            n,
                            ChainFault::Reordered,
                            format!(
                                "{meta_key} names {path:?} as its previous version, not a version of this file"
                            ),
                        );
                        previous = Some(Link {
                            number: n,
                            continues: None,
                        });
                        continue;
                    }
                }
            }
        };
        let held_before = previous.as_ref().map(|p| p.number);
        let mut continues_from: Option<Option<String>> = None;
        match (follows, held_before) {
            (None, None) => continues_from = Some(None),
            (None, Some(p)) => report(
                n,
                ChainFault::Reordered,
                format!("{meta_key} starts a chain, but v{p} comes before it"),
            ),
            (Some(m), Some(p)) if m == p => {
                // A version before whose metadata was unreadable leaves nothing to check.
                continues_from = previous
                    .as_ref()
                    .and_then(|l| l.continues.clone())
                    .map(Some);
            }
            (Some(m), _) if versions.numbers.binary_search(&m).is_err() => report(
                n,
                ChainFault::Missing,
                format!("{meta_key} follows v{m}, which is gone"),
            ),
            (Some(m), Some(p)) => report(
                n,
                ChainFault::Reordered,
                format!("{meta_key} follows v{m}, but v{p} comes before it"),
            ),
            (Some(m), None) => report(
                n,
                ChainFault::Reordered,
                format!("{meta_key} follows v{m}, which comes after it"),
            ),
        }

        // The chain hash, where the version before is known.
        // Altered content is reported once, as altered.
        if let (false, Some(stored), Some(from)) = (altered, &meta.chain_hash, &continues_from) {
            let expected = chain_hash(from.as_deref(), &content);
            if *stored != expected {
                let what = match follows {
                    Some(m) => format!("does not continue the chain of v{m}"),
                    None => "does not hash its content".to_owned(),
                };
                report(
                    n,
                    ChainFault::Broken,
                    format!("the chain hash in {meta_key} {what}"),
                );
            }
        }
        previous = Some(Link {
            number: n,
            continues: Some(meta.chain_hash.clone().unwrap_or(meta.content_hash)),
        });
    }
    Ok(problems)
}

/// Version numbers as ranges, `1-3, 5` (`none` for none).
pub(crate) fn ranges(numbers: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out.join(", ")
    }
}

/// One side of a [`Diff`]: a version, or the last save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffSide {
    /// The version (`None` for the last save outside a version folder).
    pub version: Option<u32>,
    /// The content key read.
    pub key: String,
    /// Stored size in bytes.
    pub size: u64,
    /// The content hash (as metadata stores it).
    pub hash: String,
}

/// What changed between two saves of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diff {
    /// Text types (decoded with the file's encoding): a unified diff, empty when the
    /// texts are equal.
    Text {
        /// The older side.
        from: DiffSide,
        /// The newer side.
        to: DiffSide,
        /// The unified diff (3 lines of context, `---`/`+++` naming each side's key).
        unified: String,
    },
    /// JSON types: an RFC 6902 JSON Patch from the older value to the newer, with a
    /// unified diff of the stored text beside it.
    Json {
        /// The older side.
        from: DiffSide,
        /// The newer side.
        to: DiffSide,
        /// The JSON Patch (an array of operations; empty when the values are equal).
        patch: serde_json::Value,
        /// The JSON Pointer paths the patch changes, in its order.
        paths: Vec<String>,
        /// The unified diff of the stored text.
        unified: String,
    },
    /// Binary types: sizes and hashes only.
    Binary {
        /// The older side.
        from: DiffSide,
        /// The newer side.
        to: DiffSide,
    },
}

/// The diff of `a` to `b`, stored bytes of a file of type `ty`.
pub(crate) fn diff(
    ty: &crate::FileType,
    from: DiffSide,
    a: &[u8],
    to: DiffSide,
    b: &[u8],
) -> Result<Diff> {
    use crate::Serialization;
    if matches!(
        ty.serialization,
        Serialization::Binary | Serialization::Base64
    ) {
        return Ok(Diff::Binary { from, to });
    }
    let (old, new) = (ty.decode_text(a)?, ty.decode_text(b)?);
    let unified = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .diff_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&from.key, &to.key)
        .to_string();
    if matches!(
        ty.serialization,
        Serialization::Json | Serialization::TypeSafe
    ) {
        let parse = |text: &str, side: &DiffSide| {
            serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
                crate::FileError::Serialization {
                    action: "deserialize",
                    path: side.key.clone(),
                    detail: e.to_string(),
                }
            })
        };
        let (va, vb) = (parse(&old, &from)?, parse(&new, &to)?);
        let ops = json_patch::diff(&va, &vb);
        let paths = ops.0.iter().map(|op| op.path().to_string()).collect();
        let patch = serde_json::to_value(&ops).map_err(|e| crate::FileError::Serialization {
            action: "serialize",
            path: to.key.clone(),
            detail: e.to_string(),
        })?;
        return Ok(Diff::Json {
            from,
            to,
            patch,
            paths,
            unified,
        });
    }
    Ok(Diff::Text { from, to, unified })
}

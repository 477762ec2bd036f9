//! Version history read as a history: the chain of a versioned file checked version
//! by version (each metadata's `previous_version_path` and SHA-256 `chain_hash`), the
//! diff between two versions, and retention — which old versions a save or a prune
//! removes.
//!
//! **A pruned chain stays verifiable.** Pruning removes only the oldest versions, up
//! to the first one the policy keeps (never one from the middle of the chain), and in
//! the same commit records in the file's record a [`ChainAnchor`]: the number of the
//! newest version removed and the chain hash the first kept version continues from
//! (read from the removed version's metadata before it goes). The walk then checks
//! the first kept version as it checks any other: its `previous_version_path` must
//! name the anchor's version and its chain hash must continue the anchor's hash. A
//! further version removed (the first kept one gone, with or without the record
//! edited), or any version rewritten, is still reported, while a history pruned by
//! policy verifies clean. The anchor lives in the record under `.memory-fs/`, so the
//! config and metadata keys stay exactly what the Python package writes and reads.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use memory_fs_storage::{SafePath, Storage};

use crate::layout::{FolderKeys, content_name, version_base, version_of};
use crate::record::ChainAnchor;
use crate::{FileError, FileId, FileMetadata, FileRecord, Result, chain_hash, content_hash};

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
    let anchor = versions.pruned.as_ref();
    let pruned_note = anchor
        .map(|a| format!(" (versions through v{} were pruned)", a.through))
        .unwrap_or_default();
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
            // The first version kept after a prune continues the anchor's chain.
            (Some(m), None) if anchor.is_some_and(|a| a.through == m) => {
                continues_from = anchor.map(|a| Some(a.chain_hash.clone()));
            }
            (Some(m), _) if versions.numbers.binary_search(&m).is_err() => report(
                n,
                ChainFault::Missing,
                format!("{meta_key} follows v{m}, which is gone{pruned_note}"),
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
                    Some(m) if held_before.is_none() => {
                        format!("does not continue the chain hash kept of pruned v{m}")
                    }
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

// ----- retention -----------------------------------------------------------------------

/// Which versions of a file to keep: the last `keep_last`, and/or those saved less
/// than `keep_within` ago (by their metadata's timestamp). A version either rule keeps
/// is kept; with neither set every version is. The newest version, and any version
/// the last save is placed in, is always kept.
///
/// Pruning removes the oldest versions up to the first one the policy keeps, so the
/// chain of what is left stays whole (the record keeps a [`ChainAnchor`] it is checked
/// from; see [`File::verify_chain`](crate::File::verify_chain)): a version older
/// than the duration that comes after a kept one (a clock set back) stays.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use memory_fs_file::Retention;
///
/// let policy = Retention::keep_last(NonZeroU32::new(10).unwrap())
///     .and_keep_within(Duration::from_secs(30 * 24 * 3600));
/// assert_eq!(policy.keep_last.map(NonZeroU32::get), Some(10));
/// assert!(!policy.keeps_everything());
/// assert!(Retention::default().keeps_everything());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Retention {
    /// Keep the newest this many versions.
    pub keep_last: Option<NonZeroU32>,
    /// Keep the versions saved less than this long ago.
    pub keep_within: Option<Duration>,
}

impl Retention {
    /// Keep the last `n` versions.
    pub fn keep_last(n: NonZeroU32) -> Self {
        Self {
            keep_last: Some(n),
            keep_within: None,
        }
    }

    /// Keep the versions saved less than `age` ago (and always the newest).
    pub fn keep_within(age: Duration) -> Self {
        Self {
            keep_last: None,
            keep_within: Some(age),
        }
    }

    /// This policy, also keeping the last `n` versions.
    #[must_use]
    pub fn and_keep_last(mut self, n: NonZeroU32) -> Self {
        self.keep_last = Some(n);
        self
    }

    /// This policy, also keeping the versions saved less than `age` ago.
    #[must_use]
    pub fn and_keep_within(mut self, age: Duration) -> Self {
        self.keep_within = Some(age);
        self
    }

    /// Whether the policy keeps every version (neither rule set).
    pub fn keeps_everything(&self) -> bool {
        self.keep_last.is_none() && self.keep_within.is_none()
    }
}

/// What a prune of one file removed (or, planned only, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePrune {
    /// The file.
    pub id: FileId,
    /// The policy applied: the file's own, else the default given (`None`: neither,
    /// so nothing is removed).
    pub policy: Option<Retention>,
    /// The versions removed, ascending.
    pub removed: Vec<u32>,
    /// The versions kept, ascending.
    pub kept: Vec<u32>,
    /// The keys removed (content, config and metadata of each version removed), sorted.
    pub keys: Vec<SafePath>,
    /// Why pruning stopped before the policy said it could: a version whose metadata
    /// is missing or unreadable is kept (with every version after it), since neither
    /// its age nor the chain hash the next version continues from can be known.
    pub stopped: Option<String>,
}

/// The versions a prune of `record` under `policy` at `now_ms` removes.
pub(crate) struct PrunePlan {
    pub removed: Vec<u32>,
    pub anchor: Option<ChainAnchor>,
    pub keys: Vec<SafePath>,
    pub stopped: Option<String>,
}

impl PrunePlan {
    /// The record after the prune: the versions removed, the anchor moved on.
    pub(crate) fn apply(&self, record: &mut FileRecord) {
        if self.removed.is_empty() {
            return;
        }
        if let Some(v) = &mut record.versions {
            v.numbers.retain(|n| self.removed.binary_search(n).is_err());
            if self.anchor.is_some() {
                v.pruned.clone_from(&self.anchor);
            }
        }
    }

    /// The report of this plan on `record` (the record before it).
    pub(crate) fn report(self, record: &FileRecord, policy: Option<Retention>) -> FilePrune {
        let held = record
            .versions
            .as_ref()
            .map(|v| v.numbers.clone())
            .unwrap_or_default();
        let kept = held
            .into_iter()
            .filter(|n| self.removed.binary_search(n).is_err())
            .collect();
        FilePrune {
            id: record.id().clone(),
            policy,
            removed: self.removed,
            kept,
            keys: self.keys,
            stopped: self.stopped,
        }
    }
}

/// Plans the prune of `record` (the versions it holds, the newest included) under
/// `policy` at `now_ms`. Reads the metadata of each version it considers removing
/// (from the record where it has it), oldest first, and stops at the first it keeps.
pub(crate) fn plan_prune(
    storage: &dyn Storage,
    record: &FileRecord,
    policy: &Retention,
    now_ms: i64,
) -> Result<PrunePlan> {
    let mut plan = PrunePlan {
        removed: Vec::new(),
        anchor: None,
        keys: Vec::new(),
        stopped: None,
    };
    let Some(versions) = &record.versions else {
        return Ok(plan);
    };
    if policy.keeps_everything() || versions.numbers.len() < 2 {
        return Ok(plan);
    }
    let config = &record.head.config;
    let (id, ty) = (&config.file_id, &config.file_type);
    let head = config.folders();
    // The newest is always kept; `keep_last` keeps more.
    let keep = policy
        .keep_last
        .map_or(1, |n| usize::try_from(n.get()).unwrap_or(usize::MAX));
    let candidates = &versions.numbers[..versions.numbers.len().saturating_sub(keep)];
    let cutoff = policy
        .keep_within
        .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
    for &n in candidates {
        let folder = versions.folder(n);
        if head.iter().any(|f| *f == folder) {
            break;
        }
        let keys = FolderKeys::new(&folder, id, ty)?;
        let meta = match &keys.metadata {
            None => None,
            Some(key) => {
                let read = match record.head.metadata_of(&folder) {
                    Some(m) => Ok(Some(m.clone())),
                    None => crate::plan::read_metadata(storage, &folder, id, ty),
                };
                match read {
                    Ok(Some(m)) => Some(m),
                    Ok(None) => {
                        plan.stopped = Some(format!("v{n} is kept: {key} is missing"));
                        break;
                    }
                    Err(e @ FileError::Storage(_)) => return Err(e),
                    Err(e) => {
                        plan.stopped = Some(format!("v{n} is kept: {e}"));
                        break;
                    }
                }
            }
        };
        if let Some(cutoff) = cutoff {
            // A content-only type has no timestamp to judge its age by.
            match &meta {
                Some(m) if m.timestamp < cutoff => {}
                Some(_) => break,
                None => {
                    plan.stopped = Some(format!(
                        "v{n} is kept: its type has no metadata to tell its age"
                    ));
                    break;
                }
            }
        }
        if let Some(m) = meta {
            plan.anchor = Some(ChainAnchor {
                through: n,
                chain_hash: m.chain_hash.unwrap_or(m.content_hash),
            });
        }
        plan.removed.push(n);
        plan.keys.extend(keys.all().cloned());
    }
    plan.keys.sort();
    Ok(plan)
}

/// Applies retention to a save: `after` (the record after the save, its new version
/// included) takes the spec's policy or keeps the file's own, and loses the versions
/// that policy (else the spec's default) prunes. Returns the deletes to add to the
/// save's commit.
pub(crate) fn retain_on_save<'a>(
    storage: &dyn Storage,
    before: Option<&FileRecord>,
    after: &mut FileRecord,
    spec: &crate::FileSpec,
    now_ms: i64,
) -> Result<Vec<crate::commit::KeyWrite<'a>>> {
    after.retention = spec
        .retention()
        .copied()
        .or_else(|| before.and_then(|b| b.retention));
    let Some(policy) = after
        .retention
        .or_else(|| spec.default_retention().copied())
    else {
        return Ok(Vec::new());
    };
    let plan = plan_prune(storage, after, &policy, now_ms)?;
    plan.apply(after);
    Ok(plan
        .keys
        .into_iter()
        .map(|key| crate::commit::KeyWrite::Delete { key })
        .collect())
}

impl crate::File {
    /// The same file, with `policy` as the retention its saves, restores and prunes
    /// apply when the file has no policy of its own (a project's or store's default).
    #[must_use]
    pub fn with_default_retention(mut self, policy: Option<Retention>) -> Self {
        self.default_retention = policy;
        self
    }

    /// The file's own retention policy, from its record.
    pub fn retention(&self) -> Option<&Retention> {
        self.record.retention.as_ref()
    }

    /// The policy a save or prune through this file applies: its own, else the
    /// default it was given.
    pub fn effective_retention(&self) -> Option<Retention> {
        self.record.retention.or(self.default_retention)
    }

    /// Sets (or, with `None`, clears) the file's own retention policy, in one commit
    /// of its record; no version is removed until the next save or prune. Returns the
    /// file after.
    ///
    /// # Errors
    /// [`FileError::NotFound`] when the file was deleted meanwhile; storage errors.
    pub fn set_retention(&self, policy: Option<Retention>) -> Result<Self> {
        let id = self.id().clone();
        let record = crate::plan::commit_one_from(
            &*self.storage,
            &*self.clock,
            &id,
            self.known(),
            |before, _| {
                let before = before.ok_or_else(|| FileError::NotFound { id: id.to_string() })?;
                if before.retention == policy {
                    return Ok(None);
                }
                let mut after = before.clone();
                after.revision += 1;
                after.pending = None;
                after.retention = policy;
                Ok(Some(crate::commit::Change {
                    id: id.clone(),
                    before: Some(before.clone()),
                    after: Some(after),
                    writes: Vec::new(),
                    checks: Vec::new(),
                }))
            },
        )?;
        let record = record.ok_or_else(|| FileError::NotFound { id: id.to_string() })?;
        let mut file = self.clone();
        file.record = record;
        Ok(file)
    }

    /// Removes the versions the file's retention policy (else `default`, else the
    /// default this file was given) does not keep, oldest first, in one commit: the
    /// keys of every version removed and the record (without them, with the
    /// [`ChainAnchor`] the first kept version continues from) go together, so after an
    /// error or a crash at any write the file holds the old set of versions or the
    /// new one, and its chain verifies either way. Planned on the record as it is when
    /// committed; returns what was removed.
    ///
    /// # Errors
    /// Storage errors (the file then holds its versions as before, or as after).
    pub fn prune(&self, default: Option<&Retention>) -> Result<FilePrune> {
        let id = self.id().clone();
        let now = self.clock.now_ms();
        let mut report: Option<FilePrune> = None;
        crate::plan::commit_one_from(
            &*self.storage,
            &*self.clock,
            &id,
            self.known(),
            |before, _| {
                let Some(before) = before else {
                    report = None;
                    return Ok(None);
                };
                let policy = before
                    .retention
                    .or_else(|| default.copied())
                    .or(self.default_retention);
                let plan = match &policy {
                    Some(p) => plan_prune(&*self.storage, before, p, now)?,
                    None => PrunePlan {
                        removed: Vec::new(),
                        anchor: None,
                        keys: Vec::new(),
                        stopped: None,
                    },
                };
                if plan.removed.is_empty() {
                    report = Some(plan.report(before, policy));
                    return Ok(None);
                }
                let mut after = before.clone();
                after.revision += 1;
                after.pending = None;
                plan.apply(&mut after);
                let writes = plan
                    .keys
                    .iter()
                    .map(|key| crate::commit::KeyWrite::Delete { key: key.clone() })
                    .collect();
                report = Some(plan.report(before, policy));
                Ok(Some(crate::commit::Change {
                    id: id.clone(),
                    before: Some(before.clone()),
                    after: Some(after),
                    writes,
                    checks: Vec::new(),
                }))
            },
        )?;
        report.ok_or_else(|| FileError::NotFound { id: id.to_string() })
    }

    /// What [`prune`](Self::prune) would remove now, from this snapshot of the record;
    /// nothing is written. Reads the metadata of each version it would remove.
    ///
    /// # Errors
    /// Storage errors.
    pub fn would_prune(&self, default: Option<&Retention>) -> Result<FilePrune> {
        let policy = self
            .record
            .retention
            .or_else(|| default.copied())
            .or(self.default_retention);
        let plan = match &policy {
            Some(p) => plan_prune(&*self.storage, &self.record, p, self.clock.now_ms())?,
            None => PrunePlan {
                removed: Vec::new(),
                anchor: None,
                keys: Vec::new(),
                stopped: None,
            },
        };
        Ok(plan.report(&self.record, policy))
    }
}

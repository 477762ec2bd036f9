//! Planning changes: what keys a save, an edit, a delete, a copy or a repair of one
//! logical file writes, computed from the file's record, and the record after.

use std::collections::HashSet;

use memory_fs_storage::{Expect, SafePath, Storage};

use crate::commit::{self, Body, Change, KeyWrite};
use crate::layout::{FolderKeys, content_name, join, version_base, version_of};
use crate::record::Placement;
use crate::{
    Clock, Content, FileConfig, FileError, FileId, FileMetadata, FileRecord, FileSpec, FileType,
    PathHandler, Problem, Result, chain_hash, content_hash,
};

/// Content at least this large is hashed on a second thread (MD5 beside SHA-256).
const PARALLEL_HASH_MIN: usize = 1 << 20;

/// What [`File::create`](crate::File::create) makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Create<'a> {
    /// The config alone (the file is declared, with no content yet): the seed's
    /// `create`.
    Config,
    /// The content and its metadata, without a config: `create__content`.
    Content(Content<'a>),
    /// Config, content and metadata: `create__both`.
    Both(Content<'a>),
}

/// Which keys a create writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateMode {
    Config,
    Content,
    Both,
}

impl Create<'_> {
    pub(crate) fn mode(&self) -> CreateMode {
        match self {
            Self::Config => CreateMode::Config,
            Self::Content(_) => CreateMode::Content,
            Self::Both(_) => CreateMode::Both,
        }
    }
}

/// Commits one planned change of `id`; `plan` gets the settled record (or none) and
/// the attempt number and returns the change, or `None` for nothing to do. Returns the
/// record after (the record as read when nothing was done).
pub(crate) fn commit_one<'a>(
    storage: &dyn Storage,
    clock: &dyn Clock,
    id: &FileId,
    plan: impl FnMut(Option<&FileRecord>, usize) -> Result<Option<Change<'a>>>,
) -> Result<Option<FileRecord>> {
    commit_one_from(storage, clock, id, None, plan)
}

/// [`commit_one`], first planned on a record the caller just read (settled, with its
/// version): one read fewer when nobody wrote the file in between.
pub(crate) fn commit_one_from<'a>(
    storage: &dyn Storage,
    clock: &dyn Clock,
    id: &FileId,
    known: Option<commit::Read>,
    mut plan: impl FnMut(Option<&FileRecord>, usize) -> Result<Option<Change<'a>>>,
) -> Result<Option<FileRecord>> {
    let mut unchanged: Option<FileRecord> = None;
    let after = commit::commit_from(
        storage,
        clock,
        std::slice::from_ref(id),
        known.map(|k| vec![k]),
        |records, attempt| {
            let before = records.first().and_then(Option::as_ref);
            match plan(before, attempt)? {
                Some(change) => Ok(vec![change]),
                None => {
                    unchanged = before.cloned();
                    Ok(Vec::new())
                }
            }
        },
    )?;
    Ok(match after.into_iter().next() {
        Some(after) => after,
        None => unchanged,
    })
}

/// The metadata stored in `folder` for file `id`, if any.
///
/// # Errors
/// [`FileError::CorruptMetadata`]; storage errors.
pub(crate) fn read_metadata(
    storage: &dyn Storage,
    folder: &str,
    id: &FileId,
    ty: &FileType,
) -> Result<Option<FileMetadata>> {
    let Some(key) = FolderKeys::new(folder, id, ty)?.metadata else {
        return Ok(None);
    };
    match storage.file_bytes(&key)? {
        Some(bytes) => FileMetadata::from_json(key.as_str(), &bytes).map(Some),
        None => Ok(None),
    }
}

/// The metadata of `folder` as far as the record knows it, else as stored.
fn known_metadata(
    storage: &dyn Storage,
    before: Option<&FileRecord>,
    known: &HashSet<String>,
    folder: &str,
    id: &FileId,
    ty: &FileType,
) -> Result<Option<FileMetadata>> {
    let Some(before) = before else {
        return Ok(None);
    };
    if let Some(m) = before.head.metadata_of(folder) {
        return Ok(Some(m.clone()));
    }
    if !known.contains(folder) {
        return Ok(None);
    }
    // A damaged metadata key is not replaced silently: the save names it.
    read_metadata(storage, folder, id, ty)
}

/// The change saving `content` (stored bytes) as `spec` says, on top of `before`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn save<'a>(
    storage: &dyn Storage,
    clock: &dyn Clock,
    before: Option<&FileRecord>,
    spec: &FileSpec,
    content: Body<'a>,
    attempt: usize,
    create: Option<CreateMode>,
) -> Result<Option<Change<'a>>> {
    let now = clock.now_ms();
    let id = spec.id();
    let ty = spec.file_type();
    let atomic = storage.capabilities().atomic_batch;

    // The version a versioned handler takes: the one after the record's last. A version
    // folder another program made is never overwritten: on a store without atomic
    // batches the save looks first; with them the commit checks, and a lost check
    // plans again, looking.
    let mut taken: Vec<String> = Vec::new();
    let mut probe_error: Option<FileError> = None;
    let config = spec.resolve(now, |base| {
        let mut n = match before.and_then(|b| b.versions.as_ref()) {
            Some(v) if v.base == base => v.last().unwrap_or(0) + 1,
            _ => 1,
        };
        if !atomic || attempt > 0 {
            loop {
                let key = FolderKeys::new(&format!("{base}v{n}"), id, ty).map(|k| k.content);
                match key.map(|k| storage.file_exists(&k)) {
                    Ok(Ok(true)) => n += 1,
                    Ok(Ok(false)) => break,
                    Ok(Err(e)) => {
                        probe_error = Some(e.into());
                        break;
                    }
                    Err(e) => {
                        probe_error = Some(e);
                        break;
                    }
                }
            }
        }
        taken.push(format!("{base}v{n}"));
        n
    })?;
    if let Some(e) = probe_error {
        return Err(e);
    }

    let known: HashSet<String> = before
        .map(|b| b.all_folders().into_iter().collect())
        .unwrap_or_default();
    let write_content = create != Some(CreateMode::Config);
    let write_config = create != Some(CreateMode::Content);
    let config_json = config.to_json().into_bytes();
    let name = content_name(id, ty);

    // First what each folder had and follows from; then the hashes, MD5 on a second
    // thread for large content while SHA-256 chains are computed here.
    struct Folder<'f> {
        name: &'f str,
        keys: FolderKeys,
        here: Option<FileMetadata>,
        previous_path: Option<String>,
        previous_chain: Option<String>,
    }
    let folders = config.folders();
    let mut planned: Vec<Folder<'_>> = Vec::with_capacity(folders.len());
    for folder in &folders {
        let keys = FolderKeys::new(folder, id, ty)?;
        let (mut here, mut previous_path, mut previous_chain) = (None, None, None);
        if write_content && keys.metadata.is_some() {
            here = known_metadata(storage, before, &known, folder, id, ty)?;
            previous_chain = here.as_ref().and_then(|m| m.chain_hash.clone());
            if let Some(n) = version_of(folder).filter(|n| *n > 1) {
                let prev_folder = format!("{}v{}", version_base(folder), n - 1);
                if let Some(m) = known_metadata(storage, before, &known, &prev_folder, id, ty)? {
                    previous_path = Some(join(&prev_folder, &name)?.to_string());
                    previous_chain = Some(m.chain_hash.unwrap_or(m.content_hash));
                }
            }
        }
        planned.push(Folder {
            name: folder,
            keys,
            here,
            previous_path,
            previous_chain,
        });
    }
    let hashing = write_content && !ty.content_only();
    let (md5, chains) = match content {
        Body::Bytes(content) => std::thread::scope(|s| {
            let md5 = (hashing && content.len() >= PARALLEL_HASH_MIN)
                .then(|| s.spawn(|| content_hash(content)));
            let chains: Vec<String> = planned
                .iter()
                .map(|f| {
                    if hashing {
                        chain_hash(f.previous_chain.as_deref(), content)
                    } else {
                        String::new()
                    }
                })
                .collect();
            let md5 = match md5 {
                Some(handle) => handle.join().unwrap_or_else(|_| content_hash(content)),
                None if hashing => content_hash(content),
                None => String::new(),
            };
            (md5, chains)
        }),
        Body::Staged(staged) => {
            let mut chains = Vec::with_capacity(planned.len());
            for f in &planned {
                chains.push(if hashing {
                    staged.chain(storage, f.previous_chain.as_deref())?
                } else {
                    String::new()
                });
            }
            let md5 = if hashing {
                staged.hash().to_owned()
            } else {
                String::new()
            };
            (md5, chains)
        }
    };

    let mut writes: Vec<KeyWrite<'a>> = Vec::new();
    let mut checks: Vec<(SafePath, Expect)> = Vec::new();
    let mut metadata: Vec<Option<FileMetadata>> = Vec::with_capacity(planned.len());
    for (f, chain) in planned.into_iter().zip(chains) {
        if write_content {
            writes.push(KeyWrite::Content {
                key: f.keys.content.clone(),
                body: content,
            });
        }
        if atomic && (create.is_some() || taken.iter().any(|t| t == f.name)) {
            checks.push((f.keys.content.clone(), Expect::Absent));
        }
        let (Some(meta_key), Some(config_key)) = (f.keys.metadata, f.keys.config) else {
            metadata.push(None);
            continue;
        };
        if write_config && !known.contains(f.name) {
            if atomic && create.is_some() {
                checks.push((config_key.clone(), Expect::Absent));
            }
            writes.push(KeyWrite::Put {
                key: config_key,
                data: config_json.clone(),
                old: None,
            });
        }
        if !write_content {
            metadata.push(None);
            continue;
        }
        // Tags and user data belong to the logical file: a new folder (a new version)
        // starts with those of the last save.
        let carried = f
            .here
            .as_ref()
            .or_else(|| before.and_then(|b| b.head.first_metadata()));
        let meta = FileMetadata {
            content_hash: md5.clone(),
            chain_hash: Some(chain),
            previous_version_path: f.previous_path,
            content_size: content.size(),
            tags: carried.map(|m| m.tags.clone()).unwrap_or_default(),
            timestamp: now,
            data: carried.map(|m| m.data.clone()).unwrap_or_default(),
        };
        writes.push(KeyWrite::Put {
            key: meta_key,
            data: meta.to_json().into_bytes(),
            old: f.here.map(|m| m.to_json().into_bytes()),
        });
        metadata.push(Some(meta));
    }

    if let Body::Staged(staged) = content {
        // The staged copy goes once it is in place (in the same batch, or after the
        // contents of an intent).
        writes.push(KeyWrite::Delete {
            key: staged.key().clone(),
        });
    }
    let after = FileRecord {
        revision: before.map_or(1, |b| b.revision + 1),
        head: Placement { config, metadata },
        folders: Vec::new(),
        versions: None,
        retention: None,
        pending: None,
    };
    let mut after = with_folders(after, before);
    // Retention: versions beyond the policy go in this same commit.
    writes.extend(crate::history::retain_on_save(
        storage, before, &mut after, spec, now,
    )?);
    Ok(Some(Change {
        id: id.clone(),
        before: before.cloned(),
        after: Some(after),
        writes,
        checks,
    }))
}

/// `after` with the folders and versions of `before` plus those of its head.
fn with_folders(mut after: FileRecord, before: Option<&FileRecord>) -> FileRecord {
    after.folders = before.map(|b| b.folders.clone()).unwrap_or_default();
    after.versions = before.and_then(|b| b.versions.clone());
    let head = after.head.config.clone();
    after.add_folders(&head.folders());
    after
}

/// The change writing `record` as the file's record (and its postings), no key of the
/// file touched: indexing a file that is already stored.
pub(crate) fn index<'a>(before: Option<&FileRecord>, record: &FileRecord) -> Change<'a> {
    let mut after = record.clone();
    after.pending = None;
    after.revision = before.map_or(1, |b| b.revision + 1);
    Change {
        id: record.id().clone(),
        before: before.cloned(),
        after: Some(after),
        writes: Vec::new(),
        checks: Vec::new(),
    }
}

/// The change applying `edit` to the metadata of the last save's folders.
pub(crate) fn edit<'a>(
    before: &FileRecord,
    edit: &dyn Fn(&mut FileMetadata),
) -> Result<Change<'a>> {
    let config = &before.head.config;
    let mut after = before.clone();
    after.revision += 1;
    after.pending = None;
    let mut writes = Vec::new();
    for (i, folder) in config.folders().into_iter().enumerate() {
        let Some(Some(old)) = before.head.metadata.get(i) else {
            continue;
        };
        let Some(key) = FolderKeys::new(folder, &config.file_id, &config.file_type)?.metadata
        else {
            continue;
        };
        let mut new = old.clone();
        edit(&mut new);
        writes.push(KeyWrite::Put {
            key,
            data: new.to_json().into_bytes(),
            old: Some(old.to_json().into_bytes()),
        });
        after.head.metadata[i] = Some(new);
    }
    Ok(Change {
        id: config.file_id.clone(),
        before: Some(before.clone()),
        after: Some(after),
        writes,
        checks: Vec::new(),
    })
}

/// The change removing the file's record alone.
pub(crate) fn unindex<'a>(before: &FileRecord) -> Change<'a> {
    Change {
        id: before.id().clone(),
        before: Some(before.clone()),
        after: None,
        writes: Vec::new(),
        checks: Vec::new(),
    }
}

/// The change deleting every key of the file and its record.
pub(crate) fn delete<'a>(before: &FileRecord) -> Result<Change<'a>> {
    Ok(Change {
        id: before.id().clone(),
        before: Some(before.clone()),
        after: None,
        writes: before
            .keys()?
            .into_iter()
            .map(|key| KeyWrite::Delete { key })
            .collect(),
        checks: Vec::new(),
    })
}

/// Every stored key of the file with its bytes, each folder's content checked against
/// its metadata first.
pub(crate) fn read_all(
    storage: &dyn Storage,
    record: &FileRecord,
) -> Result<Vec<(SafePath, Vec<u8>)>> {
    let config = &record.head.config;
    let mut out = Vec::new();
    for folder in record.all_folders() {
        let keys = FolderKeys::new(&folder, &config.file_id, &config.file_type)?;
        let content = storage.file_bytes(&keys.content)?;
        let meta = match &keys.metadata {
            Some(key) => storage.file_bytes(key)?,
            None => None,
        };
        if let (Some(c), Some(m), Some(key)) = (&content, &meta, &keys.metadata) {
            let m = FileMetadata::from_json(key.as_str(), m)?;
            let actual = content_hash(c);
            if actual != m.content_hash || c.len() as u64 != m.content_size {
                return Err(FileError::HashMismatch {
                    path: keys.content.to_string(),
                    expected: m.content_hash,
                    actual,
                });
            }
        }
        let config_bytes = match &keys.config {
            Some(key) => storage.file_bytes(key)?,
            None => None,
        };
        for (key, value) in [
            (Some(keys.content), content),
            (keys.config, config_bytes),
            (keys.metadata, meta),
        ] {
            if let (Some(key), Some(value)) = (key, value) {
                out.push((key, value));
            }
        }
    }
    Ok(out)
}

/// The change making the destination's file `source` exactly: its keys written, the
/// destination's other keys of that file removed, the source's record.
pub(crate) fn copy<'a>(
    before: Option<&FileRecord>,
    source: &FileRecord,
    values: &'a [(SafePath, Vec<u8>)],
) -> Result<Change<'a>> {
    let config = &source.head.config;
    let mut contents = HashSet::new();
    for folder in source.all_folders() {
        contents.insert(FolderKeys::new(&folder, &config.file_id, &config.file_type)?.content);
    }
    let mut writes: Vec<KeyWrite<'a>> = values
        .iter()
        .map(|(key, data)| {
            if contents.contains(key) {
                KeyWrite::Content {
                    key: key.clone(),
                    body: Body::Bytes(data),
                }
            } else {
                KeyWrite::Put {
                    key: key.clone(),
                    data: data.clone(),
                    old: None,
                }
            }
        })
        .collect();
    if let Some(before) = before {
        let keep: HashSet<&SafePath> = values.iter().map(|(k, _)| k).collect();
        for key in before.keys()? {
            if !keep.contains(&key) {
                writes.push(KeyWrite::Delete { key });
            }
        }
    }
    let mut after = source.clone();
    after.pending = None;
    after.revision = before.map_or(1, |b| b.revision + 1).max(source.revision);
    Ok(Change {
        id: config.file_id.clone(),
        before: before.cloned(),
        after: Some(after),
        writes,
        checks: Vec::new(),
    })
}

/// The change rewriting metadata that does not describe its content (and the record
/// where it disagrees with what is stored), and the metadata keys rewritten; `None`
/// when everything agrees.
pub(crate) fn repair<'a>(
    storage: &dyn Storage,
    before: &FileRecord,
) -> Result<(Option<Change<'a>>, Vec<SafePath>)> {
    let config = &before.head.config;
    let (id, ty) = (&config.file_id, &config.file_type);
    let mut after = before.clone();
    after.revision += 1;
    let mut writes = Vec::new();
    let mut rewritten = Vec::new();
    let mut record_changed = false;
    let head: Vec<String> = config.folders().iter().map(|f| (*f).to_owned()).collect();
    for folder in before.all_folders() {
        let keys = FolderKeys::new(&folder, id, ty)?;
        let Some(meta_key) = keys.metadata.clone() else {
            continue;
        };
        let Some(content) = storage.file_bytes(&keys.content)? else {
            continue;
        };
        let stored = match storage.file_bytes(&meta_key)? {
            Some(bytes) => FileMetadata::from_json(meta_key.as_str(), &bytes).ok(),
            None => None,
        };
        let hash = content_hash(&content);
        let size = content.len() as u64;
        let good = |m: &FileMetadata| m.content_hash == hash && m.content_size == size;
        let fixed = match &stored {
            Some(m) if good(m) => m.clone(),
            _ => {
                let base = stored
                    .clone()
                    .or_else(|| before.head.metadata_of(&folder).cloned());
                let mut m = base.unwrap_or(FileMetadata {
                    content_hash: String::new(),
                    chain_hash: None,
                    previous_version_path: None,
                    content_size: 0,
                    tags: Vec::new(),
                    timestamp: 0,
                    data: serde_json::Map::new(),
                });
                m.content_hash.clone_from(&hash);
                m.content_size = size;
                if let Some(n) = version_of(&folder).filter(|n| *n > 1) {
                    let prev = format!("{}v{}", version_base(&folder), n - 1);
                    if let Ok(Some(p)) = read_metadata(storage, &prev, id, ty) {
                        m.chain_hash = Some(chain_hash(
                            Some(&p.chain_hash.unwrap_or(p.content_hash)),
                            &content,
                        ));
                    }
                }
                writes.push(KeyWrite::Put {
                    key: meta_key.clone(),
                    data: m.to_json().into_bytes(),
                    old: stored.as_ref().map(|m| m.to_json().into_bytes()),
                });
                rewritten.push(meta_key);
                m
            }
        };
        if let Some(i) = head.iter().position(|f| *f == folder)
            && after.head.metadata[i].as_ref() != Some(&fixed)
        {
            after.head.metadata[i] = Some(fixed);
            record_changed = true;
        }
    }
    if writes.is_empty() && !record_changed {
        return Ok((None, rewritten));
    }
    Ok((
        Some(Change {
            id: id.clone(),
            before: Some(before.clone()),
            after: Some(after),
            writes,
            checks: Vec::new(),
        }),
        rewritten,
    ))
}

/// What is wrong with the stored file, folder by folder.
pub(crate) fn verify(storage: &dyn Storage, record: &FileRecord) -> Result<Vec<Problem>> {
    let config = &record.head.config;
    let (id, ty) = (&config.file_id, &config.file_type);
    let mut problems = Vec::new();
    let mut report = |key: &dyn std::fmt::Display, problem: String| {
        problems.push(Problem {
            key: key.to_string(),
            problem,
        });
    };
    if let Some(p) = &record.pending {
        report(
            &record.key()?,
            format!(
                "a commit (started {} ms since the epoch) did not finish",
                p.started_ms
            ),
        );
    }
    for folder in record.all_folders() {
        let keys = match FolderKeys::new(&folder, id, ty) {
            Ok(k) => k,
            Err(e) => {
                report(
                    &record.key()?,
                    format!("folder {folder:?} does not make valid keys: {e}"),
                );
                continue;
            }
        };
        if let Some(key) = &keys.config {
            match storage.file_bytes(key)? {
                None => report(key, "config missing".into()),
                Some(bytes) => match FileConfig::from_json(key.as_str(), &bytes) {
                    Err(e) => report(key, e.to_string()),
                    Ok(c) if c.file_id != *id => {
                        report(key, format!("config names file {:?}", c.file_id.as_str()));
                    }
                    Ok(_) => {}
                },
            }
        }
        let meta = match &keys.metadata {
            None => None,
            Some(key) => match storage.file_bytes(key)? {
                None => {
                    report(key, "metadata missing".into());
                    None
                }
                Some(bytes) => match FileMetadata::from_json(key.as_str(), &bytes) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        report(key, e.to_string());
                        None
                    }
                },
            },
        };
        match storage.file_bytes(&keys.content)? {
            None => report(&keys.content, "content missing".into()),
            Some(content) => {
                let actual = content_hash(&content);
                if let Some(m) = &meta
                    && (m.content_hash != actual || m.content_size != content.len() as u64)
                {
                    report(
                        &keys.content,
                        format!(
                            "hash {actual} ({} bytes) where the metadata says {} ({} bytes)",
                            content.len(),
                            m.content_hash,
                            m.content_size
                        ),
                    );
                }
                if let (Some(m), Some(r)) = (&meta, record.head.metadata_of(&folder))
                    && m != r
                {
                    report(
                        &record.key()?,
                        format!("the index record of {folder:?} disagrees with its metadata"),
                    );
                }
            }
        }
    }
    Ok(problems)
}

/// A spec that saves again where the record's last save did: the same folders, with
/// the version folder advanced.
pub(crate) fn same_placement(record: &FileRecord) -> FileSpec {
    let config = &record.head.config;
    let handlers: Vec<PathHandler> = config
        .folders()
        .into_iter()
        .map(|folder| match version_of(folder) {
            Some(_)
                if record
                    .versions
                    .as_ref()
                    .is_some_and(|v| v.base == version_base(folder)) =>
            {
                let base = version_base(folder).trim_end_matches('/');
                if base.is_empty() {
                    PathHandler::versioned()
                } else {
                    PathHandler::versioned().with_prefix(base)
                }
            }
            _ => PathHandler::custom(folder),
        })
        .collect();
    FileSpec::new(config.file_id.clone(), config.file_type.clone())
        .key(config.file_key.clone())
        .exists_strategy(config.exists_strategy)
        .handlers(handlers)
}

//! Commits: every change of a logical file — a save, an edit, a delete, or changes of
//! several files at once — is planned as key writes against the file's record and
//! applied so that after an error or a crash at any point each file reads as it was
//! before or as it is after, never as a mix.
//!
//! Two protocols, chosen by what the store can do:
//! - **One atomic batch** where [`Capabilities::atomic_batch`] is set (SQLite, memory):
//!   the record's version is checked and every key, the record and its index
//!   postings are written in one `apply`.
//! - **An intent in the record** elsewhere (disk, S3): the record is replaced, with a
//!   compare-and-swap on its version, by the new record carrying the writes planned
//!   ([`Pending`]); then the keys are written (small keys, then contents, then
//!   deletes); then the record is swapped once more without the intent. Whoever next
//!   finds an intent whose writer is gone finishes it when any content of it landed
//!   (all contents of one commit hold the same bytes, so one that landed completes the
//!   others) and undoes it otherwise (the small keys' old bytes are in the intent).
//!   A transaction across files first stages its contents beside a journal; its
//!   commit point is the journal's creation, so the files go forward together or back
//!   together.
//!
//! [`Capabilities::atomic_batch`]: memory_fs_storage::Capabilities::atomic_batch

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use memory_fs_storage::layers::operation::Operation;
use memory_fs_storage::{
    Batch, ErrorKind, Expect, SafePath, Storage, StorageError, Version, Write,
};

use crate::layout;
use crate::record::{IntentWrite, Owner, Pending};
use crate::{Clock, FileError, FileId, FileRecord, Result, content_hash, index};

/// How many times a commit is planned again after another writer got in first.
const MAX_ATTEMPTS: usize = 64;

/// How long an intent of a writer that may still be alive (on another machine, or
/// whose liveness cannot be told) is respected before it is recovered.
pub(crate) const LEASE_MS: i64 = 5 * 60 * 1000;

/// Where transactions keep their journal and staged contents.
pub(crate) const JOURNALS: &str = ".memory-fs/tx";

/// One file's change, planned against the record it was read with.
#[derive(Debug)]
pub(crate) struct Change<'a> {
    /// The file.
    pub id: FileId,
    /// The record as read (`None`: no such file yet).
    pub before: Option<FileRecord>,
    /// The record after the change (`None`: the file is removed).
    pub after: Option<FileRecord>,
    /// The key writes, in order: small keys first, then contents, then deletes.
    pub writes: Vec<KeyWrite<'a>>,
    /// Keys that must be as expected for the change to apply (beside the record).
    pub checks: Vec<(SafePath, Expect)>,
}

/// One key write of a change.
#[derive(Debug)]
pub(crate) enum KeyWrite<'a> {
    /// A small key (config, metadata) and what it held before.
    Put {
        key: SafePath,
        data: Vec<u8>,
        old: Option<Vec<u8>>,
    },
    /// A content key.
    Content { key: SafePath, body: Body<'a> },
    /// A key removed.
    Delete { key: SafePath },
}

impl KeyWrite<'_> {
    fn rank(&self) -> u8 {
        match self {
            Self::Put { .. } => 0,
            Self::Content { .. } => 1,
            Self::Delete { .. } => 2,
        }
    }
}

/// The bytes of a content write: in memory, or already stored at a staging key by a
/// streamed save (see [`crate::stream`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    /// The bytes themselves.
    Bytes(&'a [u8]),
    /// A value streamed to a staging key, with what was computed as it passed.
    Staged(&'a crate::stream::Staged),
}

impl Body<'_> {
    /// The content's length.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::Staged(s) => s.size(),
        }
    }

    /// The content's MD5 hash as the metadata holds it.
    pub(crate) fn hash(&self) -> String {
        match self {
            Self::Bytes(b) => content_hash(b),
            Self::Staged(s) => s.hash().to_owned(),
        }
    }

    /// Whether both are the same content (the same bytes, or the same staged value).
    fn same(&self, other: &Body<'_>) -> bool {
        match (self, other) {
            (Body::Bytes(a), Body::Bytes(b)) => std::ptr::eq(*a, *b) || a == b,
            (Body::Staged(a), Body::Staged(b)) => a.key() == b.key(),
            _ => false,
        }
    }
}

/// Whether the value at `key` is `size` bytes with MD5 `hash`, read as a stream (and
/// not at all when its length already differs).
pub(crate) fn holds(storage: &dyn Storage, key: &SafePath, hash: &str, size: u64) -> Result<bool> {
    if storage.file_size(key)? != Some(size) {
        return Ok(false);
    }
    Ok(crate::stream::stored_hash(storage, key)?.is_some_and(|(n, h)| n == size && h == hash))
}

/// A record as read, with its version.
#[derive(Debug, Clone)]
pub(crate) struct Read {
    pub record: Option<FileRecord>,
    pub version: Option<Version>,
}

/// Reads the record of `id` as it is, intent included, without recovering anything.
pub(crate) fn read_record(storage: &dyn Storage, id: &FileId) -> Result<Read> {
    let key = layout::record_key(id)?;
    match storage.file_get(&key)? {
        None => Ok(Read {
            record: None,
            version: None,
        }),
        Some((bytes, version)) => Ok(Read {
            record: Some(FileRecord::from_bytes(key.as_str(), &bytes)?),
            version: Some(version),
        }),
    }
}

/// The record of `id` with no commit in flight: an intent found is waited for while
/// its writer may be alive, and finished or undone once it is not.
pub(crate) fn settled_record(
    storage: &dyn Storage,
    clock: &dyn Clock,
    id: &FileId,
) -> Result<Read> {
    let mut waited = Duration::ZERO;
    let mut pause = Duration::from_millis(2);
    loop {
        let read = read_record(storage, id)?;
        let Some(pending) = read.record.as_ref().and_then(|r| r.pending.as_ref()) else {
            return Ok(read);
        };
        let age = clock.now_ms() - pending.started_ms;
        if writer_may_be_alive(pending) && age < LEASE_MS {
            if waited > Duration::from_millis(LEASE_MS.unsigned_abs()) {
                return Err(FileError::Busy {
                    id: id.to_string(),
                    pid: pending.owner.pid,
                    since_ms: age,
                });
            }
            std::thread::sleep(pause);
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(200));
            continue;
        }
        recover(storage, id, read)?;
    }
}

/// Settles the record of `id` (see [`settled_record`]); says whether it had a commit
/// in flight.
pub(crate) fn settle(storage: &dyn Storage, clock: &dyn Clock, id: &FileId) -> Result<bool> {
    let had = read_record(storage, id)?
        .record
        .is_some_and(|r| r.pending.is_some());
    if had {
        settled_record(storage, clock, id)?;
    }
    Ok(had)
}

/// Removes what transactions left under `.memory-fs/tx/` that no commit in flight can
/// need (for the store layer's recovery): journals no record's intent names (every
/// file of them is settled), and staged contents with no journal and no intent naming
/// them whose transaction is not running any more. `in_flight` are the journals intents still name. Returns the keys removed.
pub fn sweep_journals(
    storage: &dyn Storage,
    clock: &dyn Clock,
    in_flight: &HashSet<SafePath>,
) -> Result<Vec<SafePath>> {
    let prefix = SafePath::new(JOURNALS)?;
    let keys = storage.files_paths(Some(&prefix))?;
    let journals: HashSet<&SafePath> = keys.iter().filter(|k| k.segments().count() == 3).collect();
    let mut gone = Vec::new();
    for key in &keys {
        let segments: Vec<&str> = key.segments().collect();
        let tx = segments
            .get(2)
            .map(|s| s.trim_end_matches(".staged"))
            .unwrap_or("");
        let journal = SafePath::new(format!("{JOURNALS}/{tx}"))?;
        if in_flight.contains(&journal) {
            continue;
        }
        let stale = journals.contains(&journal) || !tx_may_be_running(tx, clock.now_ms());
        if stale {
            gone.push(key.clone());
        }
    }
    if !gone.is_empty() {
        storage.files_remove(&gone)?;
    }
    Ok(gone)
}

/// Plans and commits changes of the files `ids`, planning again (with fresh records)
/// when another writer changed one of them first. `plan` gets the settled records in
/// the order of `ids` and the attempt number (0 first), and returns one change per
/// file it changes. Returns the records after the commit, in the order of the changes.
pub(crate) fn commit<'a>(
    storage: &dyn Storage,
    clock: &dyn Clock,
    ids: &[FileId],
    plan: impl FnMut(&[Option<FileRecord>], usize) -> Result<Vec<Change<'a>>>,
) -> Result<Vec<Option<FileRecord>>> {
    commit_from(storage, clock, ids, None, plan)
}

/// [`commit`], with the first attempt planned on records the caller has just read
/// (settled, with their versions) instead of reading them again; later attempts read.
pub(crate) fn commit_from<'a>(
    storage: &dyn Storage,
    clock: &dyn Clock,
    ids: &[FileId],
    mut known: Option<Vec<Read>>,
    mut plan: impl FnMut(&[Option<FileRecord>], usize) -> Result<Vec<Change<'a>>>,
) -> Result<Vec<Option<FileRecord>>> {
    // One id for every attempt: the audit log shows the logical operation once.
    let op_id = new_tx(clock);
    for attempt in 0..MAX_ATTEMPTS {
        let reads = match known.take() {
            Some(reads) if reads.len() == ids.len() => reads,
            _ => ids
                .iter()
                .map(|id| settled_record(storage, clock, id))
                .collect::<Result<Vec<_>>>()?,
        };
        let records: Vec<Option<FileRecord>> = reads.iter().map(|r| r.record.clone()).collect();
        let changes = plan(&records, attempt)?;
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let versions: Vec<Option<Version>> = changes
            .iter()
            .map(|c| {
                ids.iter()
                    .position(|id| *id == c.id)
                    .and_then(|i| reads[i].version.clone())
            })
            .collect();
        let outcome = operation(&op_id, &changes).scope(|| {
            if storage.capabilities().atomic_batch {
                commit_batch(storage, &changes, &versions)
            } else if changes.len() == 1 && uniform_contents(&changes[0]) {
                commit_intent(storage, clock, &changes[0], versions[0].clone())
            } else {
                commit_transaction(storage, clock, &changes, &versions)
            }
        });
        match outcome {
            Ok(()) => return Ok(changes.into_iter().map(|c| c.after).collect()),
            Err(Retry::Again) => continue,
            Err(Retry::Fail(e)) => return Err(e),
        }
    }
    Err(FileError::Contended {
        id: ids.first().map(ToString::to_string).unwrap_or_default(),
        attempts: MAX_ATTEMPTS,
    })
}

/// The logical operation `changes` make, as the audit layer records it: each file
/// saved (a content written), created (a config alone), edited (config or metadata
/// only) or deleted.
fn operation(id: &str, changes: &[Change<'_>]) -> Operation {
    Operation::new(
        id,
        changes.iter().map(|c| {
            let action = if c.after.is_none() {
                "delete"
            } else if c
                .writes
                .iter()
                .any(|w| matches!(w, KeyWrite::Content { .. }))
            {
                "save"
            } else if c.before.is_none() {
                "create"
            } else {
                "edit"
            };
            (c.id.to_string(), action)
        }),
    )
}

/// Why a commit did not go through.
enum Retry {
    /// Another writer changed a record first: plan again.
    Again,
    /// A failure to report.
    Fail(FileError),
}

impl From<FileError> for Retry {
    fn from(e: FileError) -> Self {
        match &e {
            FileError::Storage(s) if lost_race(s) => Self::Again,
            _ => Self::Fail(e),
        }
    }
}

impl From<StorageError> for Retry {
    fn from(e: StorageError) -> Self {
        FileError::from(e).into()
    }
}

fn lost_race(e: &StorageError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::PreconditionFailed | ErrorKind::AlreadyExists
    )
}

/// Whether every content a change writes has the same bytes (a save's copies in
/// several folders do; a copy of a whole file's history does not), so one that landed
/// can complete the others.
fn uniform_contents(change: &Change<'_>) -> bool {
    let mut first: Option<Body<'_>> = None;
    change.writes.iter().all(|w| match w {
        KeyWrite::Content { body, .. } => match &first {
            None => {
                first = Some(*body);
                true
            }
            Some(f) => f.same(body),
        },
        _ => true,
    })
}

fn sorted_writes<'c, 'a>(change: &'c Change<'a>) -> Vec<&'c KeyWrite<'a>> {
    let mut writes: Vec<&KeyWrite<'a>> = change.writes.iter().collect();
    writes.sort_by_key(|w| w.rank());
    writes
}

// ----- one atomic batch ----------------------------------------------------------------

fn commit_batch(
    storage: &dyn Storage,
    changes: &[Change<'_>],
    versions: &[Option<Version>],
) -> std::result::Result<(), Retry> {
    // Bytes the batch borrows: each record, and the postings' (empty) values.
    let mut records: Vec<(SafePath, Option<Vec<u8>>)> = Vec::with_capacity(changes.len());
    let mut postings: Vec<(Vec<SafePath>, Vec<SafePath>)> = Vec::with_capacity(changes.len());
    for change in changes {
        let key = layout::record_key(&change.id)?;
        records.push((key, change.after.as_ref().map(FileRecord::to_bytes)));
        postings.push(index::posting_changes(
            change.before.as_ref(),
            change.after.as_ref(),
        )?);
    }
    let mut batch = Batch::new();
    for (i, change) in changes.iter().enumerate() {
        batch.push_check(
            records[i].0.clone(),
            Expect::from_version(versions[i].clone()),
        );
        for (key, expect) in &change.checks {
            batch.push_check(key.clone(), expect.clone());
        }
        for write in sorted_writes(change) {
            batch.push(match write {
                KeyWrite::Put { key, data, .. } => Write::Put {
                    path: key.clone(),
                    data,
                },
                KeyWrite::Content {
                    key,
                    body: Body::Bytes(data),
                } => Write::Put {
                    path: key.clone(),
                    data,
                },
                KeyWrite::Content {
                    key,
                    body: Body::Staged(staged),
                } => Write::Copy {
                    from: staged.key().clone(),
                    to: key.clone(),
                },
                KeyWrite::Delete { key } => Write::Delete { path: key.clone() },
            });
        }
        let (added, removed) = &postings[i];
        for key in removed {
            batch.push(Write::Delete { path: key.clone() });
        }
        for key in added {
            batch.push(Write::Put {
                path: key.clone(),
                data: b"",
            });
        }
        batch.push(match &records[i] {
            (key, Some(bytes)) => Write::Put {
                path: key.clone(),
                data: bytes,
            },
            (key, None) => Write::Delete { path: key.clone() },
        });
    }
    storage.apply(&batch)?;
    Ok(())
}

// ----- an intent in the record -----------------------------------------------------------

/// Commits already running in this process, so an intent this process left behind
/// (an error it could not clean up after) is told apart from one still being written.
fn running() -> &'static Mutex<HashSet<String>> {
    static RUNNING: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    RUNNING.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Marks a commit as running for as long as it lives.
#[derive(Debug)]
pub(crate) struct Running(String);

impl Running {
    pub(crate) fn new(tx: &str) -> Self {
        running()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tx.to_owned());
        Self(tx.to_owned())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        running()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// A fresh commit id, unique across processes and machines, that also says who runs
/// it: `<start ms>-<host>-<pid>-<pid start>-<n>` (hex), so leftovers of a commit whose
/// process is gone can be told from those of one still running.
pub(crate) fn new_tx(clock: &dyn Clock) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let me = Owner::me();
    format!(
        "{:x}-{}-{:x}-{:x}-{n:x}",
        clock.now_ms(),
        host_tag(&me.host),
        me.pid,
        me.started
    )
}

/// A short tag of a host id, for commit ids.
fn host_tag(host: &str) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(&Sha256::digest(host.as_bytes())[..4])
}

/// Whether the commit `tx` (an id from [`new_tx`]) may still be running: it is known
/// finished when it ran on this machine and its process is gone (or is this one and
/// the commit is not running), or when it started longer ago than the lease.
fn tx_may_be_running(tx: &str, now_ms: i64) -> bool {
    let parts: Vec<&str> = tx.split('-').collect();
    let hex = |i: usize| parts.get(i).and_then(|p| u64::from_str_radix(p, 16).ok());
    let started = hex(0).and_then(|v| i64::try_from(v).ok()).unwrap_or(0);
    if now_ms - started > LEASE_MS {
        return false;
    }
    let me = Owner::me();
    let (Some(host), Some(pid), Some(pid_started)) = (parts.get(1), hex(2), hex(3)) else {
        return true;
    };
    if *host != host_tag(&me.host) {
        return true;
    }
    let Ok(pid) = u32::try_from(pid) else {
        return true;
    };
    if pid == me.pid {
        return running()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(tx);
    }
    process_start(pid) == Some(pid_started)
}

fn intent_writes(change: &Change<'_>, staged: &[Option<SafePath>]) -> Vec<IntentWrite> {
    let mut content_n = 0;
    sorted_writes(change)
        .into_iter()
        .map(|w| match w {
            KeyWrite::Put { key, data, old } => IntentWrite::Put {
                key: key.clone(),
                data: data.clone(),
                old: old.clone(),
            },
            KeyWrite::Content { key, body } => {
                let staged = staged.get(content_n).cloned().flatten().or(match body {
                    Body::Staged(s) => Some(s.key().clone()),
                    Body::Bytes(_) => None,
                });
                content_n += 1;
                IntentWrite::Content {
                    key: key.clone(),
                    hash: body.hash(),
                    size: body.size(),
                    staged,
                }
            }
            KeyWrite::Delete { key } => IntentWrite::Delete { key: key.clone() },
        })
        .collect()
}

/// The record written when a commit claims a file: the state after (or, for a
/// removal, before) with the intent.
fn claimed(change: &Change<'_>, pending: Pending) -> Option<FileRecord> {
    let mut body = change.after.clone().or_else(|| change.before.clone())?;
    body.pending = Some(pending);
    Some(body)
}

fn commit_intent(
    storage: &dyn Storage,
    clock: &dyn Clock,
    change: &Change<'_>,
    version: Option<Version>,
) -> std::result::Result<(), Retry> {
    let key = layout::record_key(&change.id)?;
    let tx = new_tx(clock);
    let _running = Running::new(&tx);
    let pending = Pending {
        tx,
        started_ms: clock.now_ms(),
        owner: Owner::me(),
        transaction: None,
        previous: change.before.clone().map(Box::new),
        removes: change.after.is_none(),
        writes: intent_writes(change, &[]),
    };
    let Some(claim) = claimed(change, pending) else {
        return Ok(());
    };
    let claimed_version = save_if(
        storage,
        &key,
        &claim.to_bytes(),
        &Expect::from_version(version),
    )?;
    if let Err(e) = write_keys(storage, change, None) {
        // Finish or undo now if the store lets us; otherwise the next writer will.
        let _ = recover_claimed(storage, &change.id, claim, claimed_version);
        return Err(Retry::Fail(e));
    }
    release(storage, &key, change.after.as_ref(), &claimed_version).map_err(Retry::Fail)
}

/// Writes a change's keys in order; contents come from `staged` when given.
fn write_keys(
    storage: &dyn Storage,
    change: &Change<'_>,
    staged: Option<&[Option<SafePath>]>,
) -> Result<()> {
    let mut deletes = Vec::new();
    let mut content_n = 0;
    for write in sorted_writes(change) {
        match write {
            KeyWrite::Put { key, data, .. } => storage.file_save(key, data)?,
            KeyWrite::Content { key, body } => {
                let from = staged
                    .and_then(|s| s.get(content_n))
                    .and_then(Option::as_ref);
                match (from, body) {
                    (Some(from), _) => copy_staged(storage, from, key)?,
                    (None, Body::Staged(s)) => copy_staged(storage, s.key(), key)?,
                    (None, Body::Bytes(data)) => storage.file_save(key, data)?,
                }
                content_n += 1;
            }
            KeyWrite::Delete { key } => deletes.push(key.clone()),
        }
    }
    if !deletes.is_empty() {
        storage.files_remove(&deletes)?;
    }
    Ok(())
}

/// Copies a staged content into place; a staged copy that is gone is an error, never
/// a content left missing.
fn copy_staged(storage: &dyn Storage, from: &SafePath, to: &SafePath) -> Result<()> {
    if storage.file_copy(from, to)? {
        Ok(())
    } else {
        Err(FileError::Interrupted {
            id: to.to_string(),
            reason: format!("the staged copy {from} of its new content is gone"),
        })
    }
}

/// [`Storage::file_save_if`] of a record, told apart from a lost race when the store
/// already holds exactly `data`: a client that retries a conditional write whose first
/// attempt landed (after a server error or a lost response) is refused by its own
/// write. The bytes of a claim name its commit and those of a released record its
/// revision, so no other writer leaves the same bytes there.
fn save_if(storage: &dyn Storage, key: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
    match storage.file_save_if(key, data, expect) {
        Err(e) if lost_race(&e) => match storage.file_get(key)? {
            Some((held, version)) if held == data => Ok(version),
            _ => Err(e.into()),
        },
        other => Ok(other?),
    }
}

/// Swaps the claimed record for the final one (or removes it).
fn release(
    storage: &dyn Storage,
    key: &SafePath,
    after: Option<&FileRecord>,
    claimed: &Version,
) -> Result<()> {
    match after {
        Some(record) => {
            save_if(
                storage,
                key,
                &record.to_bytes(),
                &Expect::Version(claimed.clone()),
            )?;
        }
        // The record goes last, in one request where the store can (no look first).
        None => storage.files_remove(std::slice::from_ref(key))?,
    }
    Ok(())
}

fn commit_transaction(
    storage: &dyn Storage,
    clock: &dyn Clock,
    changes: &[Change<'_>],
    versions: &[Option<Version>],
) -> std::result::Result<(), Retry> {
    let tx = new_tx(clock);
    let _running = Running::new(&tx);
    let journal = SafePath::new(format!("{JOURNALS}/{tx}")).map_err(FileError::from)?;
    let staged_key =
        |n: usize| SafePath::new(format!("{JOURNALS}/{tx}.staged/{n}")).map_err(FileError::from);

    // 1. Stage every content beside the journal.
    let mut staged_all: Vec<Vec<Option<SafePath>>> = Vec::with_capacity(changes.len());
    let mut staged_keys: Vec<SafePath> = Vec::new();
    let mut n = 0;
    let cleanup = |keys: &[SafePath]| {
        let _ = storage.files_remove(keys);
    };
    for change in changes {
        let mut staged = Vec::new();
        for write in sorted_writes(change) {
            if let KeyWrite::Content { body, .. } = write {
                let key = staged_key(n)?;
                n += 1;
                let stored = match body {
                    Body::Bytes(data) => storage.file_save(&key, data).map_err(FileError::from),
                    Body::Staged(s) => copy_staged(storage, s.key(), &key),
                };
                if let Err(e) = stored {
                    cleanup(&staged_keys);
                    return Err(e.into());
                }
                staged_keys.push(key.clone());
                staged.push(Some(key));
            }
        }
        staged_all.push(staged);
    }

    // 2. Claim every file, in id order so two transactions cannot block each other.
    let mut order: Vec<usize> = (0..changes.len()).collect();
    order.sort_by(|a, b| changes[*a].id.cmp(&changes[*b].id));
    let mut claims: Vec<(usize, FileRecord, Version)> = Vec::new();
    for &i in &order {
        let change = &changes[i];
        let pending = Pending {
            tx: tx.clone(),
            started_ms: clock.now_ms(),
            owner: Owner::me(),
            transaction: Some(journal.clone()),
            previous: change.before.clone().map(Box::new),
            removes: change.after.is_none(),
            writes: intent_writes(change, &staged_all[i]),
        };
        let Some(claim) = claimed(change, pending) else {
            continue;
        };
        let key = layout::record_key(&change.id)?;
        match save_if(
            storage,
            &key,
            &claim.to_bytes(),
            &Expect::from_version(versions[i].clone()),
        ) {
            Ok(v) => claims.push((i, claim, v)),
            Err(e) => {
                // Give back what was claimed: the journal does not exist, so each
                // claimed file goes back to its record before.
                for (j, claim, v) in claims {
                    let _ = recover_claimed(storage, &changes[j].id, claim, v);
                }
                cleanup(&staged_keys);
                return Err(e.into());
            }
        }
    }

    // 3. The commit point.
    if let Err(e) = storage.file_save(&journal, tx.as_bytes()) {
        for (j, claim, v) in claims {
            let _ = recover_claimed(storage, &changes[j].id, claim, v);
        }
        cleanup(&staged_keys);
        return Err(e.into());
    }

    // 4. Every file forward; an error leaves the rest to recovery, which finishes
    // them from the staged contents because the journal exists.
    for (i, claim, v) in claims {
        let change = &changes[i];
        let key = layout::record_key(&change.id)?;
        if let Err(e) = write_keys(storage, change, Some(&staged_all[i])) {
            let _ = recover_claimed(storage, &change.id, claim, v);
            return Err(Retry::Fail(e));
        }
        release(storage, &key, change.after.as_ref(), &v).map_err(Retry::Fail)?;
    }
    let mut done = staged_keys;
    done.push(journal);
    storage.files_remove(&done)?;
    Ok(())
}

// ----- recovery --------------------------------------------------------------------------

impl Owner {
    /// This process.
    pub(crate) fn me() -> Self {
        let pid = std::process::id();
        Self {
            host: host_id(),
            pid,
            started: process_start(pid).unwrap_or(0),
        }
    }
}

/// The machine's boot id, or its host name where there is none.
fn host_id() -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
    .clone()
}

/// When process `pid` started (clock ticks since boot), from `/proc/<pid>/stat`.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the writer of `pending` may still be at work. A writer on this machine is
/// known dead when its process is gone (or its pid now belongs to another process),
/// or when it is this process and the commit is not running any more.
fn writer_may_be_alive(pending: &Pending) -> bool {
    let owner = &pending.owner;
    if owner.host.is_empty() || owner.host != host_id() {
        return true;
    }
    if owner.pid == std::process::id() {
        return running()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&pending.tx);
    }
    match process_start(owner.pid) {
        Some(started) => started == owner.started,
        None => false,
    }
}

/// Finishes or undoes the commit pending in `read` (a record with an intent whose
/// writer is gone), then swaps in the settled record. Losing the swap to another
/// recoverer is fine: the caller reads again.
pub(crate) fn recover(storage: &dyn Storage, id: &FileId, read: Read) -> Result<()> {
    let (Some(record), Some(version)) = (read.record, read.version) else {
        return Ok(());
    };
    recover_claimed(storage, id, record, version)
}

fn recover_claimed(
    storage: &dyn Storage,
    id: &FileId,
    mut record: FileRecord,
    version: Version,
) -> Result<()> {
    let Some(pending) = record.pending.take() else {
        return Ok(());
    };
    // Recorded as an operation of its own, named by the intent's commit id.
    Operation::new(pending.tx.clone(), [(id.to_string(), "recover")])
        .scope(|| settle_pending(storage, id, record, version, pending))
}

fn settle_pending(
    storage: &dyn Storage,
    id: &FileId,
    record: FileRecord,
    version: Version,
    pending: Pending,
) -> Result<()> {
    let key = layout::record_key(id)?;
    let forward = match &pending.transaction {
        Some(journal) => storage.file_exists(journal)?,
        None => {
            let mut any_content = false;
            let mut landed = false;
            for write in &pending.writes {
                if let IntentWrite::Content {
                    key, hash, size, ..
                } = write
                {
                    any_content = true;
                    if holds(storage, key, hash, *size)? {
                        landed = true;
                        break;
                    }
                }
            }
            landed || !any_content
        }
    };
    let settled = if forward {
        roll_forward(storage, &pending)?;
        (!pending.removes).then_some(record)
    } else {
        // A transaction writes no key before its commit point: undoing it only gives
        // the record back. A single commit restores the small keys it wrote. Either
        // way its staged contents (a transaction's, a streamed save's) go.
        if pending.transaction.is_none() {
            roll_back(storage, &pending)?;
        }
        let staged: Vec<SafePath> = pending
            .writes
            .iter()
            .filter_map(|w| match w {
                IntentWrite::Content { staged, .. } => staged.clone(),
                _ => None,
            })
            .collect();
        if !staged.is_empty() {
            storage.files_remove(&staged)?;
        }
        pending.previous.map(|p| *p)
    };
    let outcome = match settled {
        Some(r) => storage
            .file_save_if(&key, &r.to_bytes(), &Expect::Version(version))
            .map(drop),
        None => match storage.file_get(&key)? {
            Some((_, v)) if v == version => storage.file_delete(&key).map(drop),
            _ => Ok(()),
        },
    };
    match outcome {
        Err(e) if lost_race(&e) => Ok(()),
        other => Ok(other?),
    }
}

fn roll_forward(storage: &dyn Storage, pending: &Pending) -> Result<()> {
    // A content that landed (or the staged copy) is the source for the others.
    let mut source: Option<SafePath> = None;
    for write in &pending.writes {
        if let IntentWrite::Content {
            key,
            hash,
            size,
            staged,
        } = write
        {
            if let Some(staged) = staged
                && holds(storage, staged, hash, *size)?
            {
                source = Some(staged.clone());
                break;
            }
            if holds(storage, key, hash, *size)? {
                source = Some(key.clone());
                break;
            }
        }
    }
    let mut deletes = Vec::new();
    for write in &pending.writes {
        match write {
            IntentWrite::Put { key, data, .. } => storage.file_save(key, data)?,
            IntentWrite::Content {
                key,
                hash,
                size,
                staged,
            } => {
                let from = staged.as_ref().or(source.as_ref());
                if !holds(storage, key, hash, *size)? {
                    let Some(from) = from else {
                        return Err(FileError::Interrupted {
                            id: key.to_string(),
                            reason: "no copy of the new content survived".into(),
                        });
                    };
                    storage.file_copy(from, key)?;
                }
            }
            IntentWrite::Delete { key } => deletes.push(key.clone()),
        }
    }
    if !deletes.is_empty() {
        storage.files_remove(&deletes)?;
    }
    Ok(())
}

fn roll_back(storage: &dyn Storage, pending: &Pending) -> Result<()> {
    let mut deletes = Vec::new();
    for write in &pending.writes {
        if let IntentWrite::Put { key, old, .. } = write {
            match old {
                Some(bytes) => storage.file_save(key, bytes)?,
                None => deletes.push(key.clone()),
            }
        }
    }
    if !deletes.is_empty() {
        storage.files_remove(&deletes)?;
    }
    Ok(())
}

//! The audit layer: an append-only, hash-chained record of every change, kept in the
//! store itself under `.memory-fs/audit/`.
//!
//! Each call that changes the store (a save, create, conditional save, delete, copy,
//! batch, clear) appends one [`AuditRecord`]: its sequence number, the time, the
//! caller label the application set, the operation, and for every key it changes the
//! key, the size and the SHA-256 of the new value. Records are stored at
//! `.memory-fs/audit/log/<seq, 20 digits>`; each carries the hash of the one
//! before it (`prev`) and its own `hash` (SHA-256 over its JSON without the `hash`
//! field), so an edited, removed or reordered record breaks the chain
//! ([`read_trail`] says where). `.memory-fs/audit/head` names the last record
//! (in write-ahead mode, one of the last few: it is moved every 16 records).
//!
//! The layer records keys, which is what a storage knows: a logical file's id is
//! found in the keys of its placements. Where the caller names the logical operation
//! its calls belong to ([`Operation::scope`], as the file layer does around each
//! commit), every record made inside carries it ([`AuditRecord::operation`]): on a
//! storage without atomic batches one logical save is several records (its intent,
//! its keys, its completion), and they share the operation's id.
//!
//! How a record is committed depends on what the storage below can promise
//! ([`AuditGuarantee`]):
//! - **Exact** (storages with [`atomic_batch`](crate::Capabilities::atomic_batch) and
//!   [`conditional_write`](crate::Capabilities::conditional_write): SQLite, memory):
//!   the record, the head and the change are one `apply`, which also checks that the
//!   record's slot is still free. The log holds exactly the committed changes, in
//!   commit order, whatever fails or crashes.
//! - **Write-ahead** (disk, S3): the record is created first, by create-if-absent on
//!   its slot, and the change is made after it; a change that then fails is followed
//!   by an `abort` record naming it. No change is ever made without its record; a
//!   process that dies between the two leaves a record of a change that did not
//!   happen. Concurrent writers to one key may have their records in another order
//!   than their writes.
//!
//! In both, the slot (`log/<seq>`) is claimed by a create-if-absent, so concurrent
//! writers — threads or processes — never fork the chain and never overwrite one
//! another's record; a writer that loses a slot reads the winner's record and tries
//! the next. That holds where the storage's create is atomic
//! ([`atomic_create`](crate::Capabilities::atomic_create) or `conditional_write`).
//!
//! What the chain does not do alone: someone able to write the store can drop the
//! newest records and rewrite the head, or recompute the whole chain. Keeping the
//! head's hash elsewhere ([`AuditTrail::head_hash`]) detects the first; stacking the
//! layer over the encryption layer, which authenticates every record with its key
//! path, makes forging a record require the key.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::operation::{self, Operation};
use super::{AUDIT_PREFIX, LayerKind, Marker, is_marker, refuse_marker};
use crate::{
    Batch, Capabilities, ErrorKind, Expect, Result, SafePath, Storage, StorageError, Version, Write,
};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Attempts at appending before giving up; each failed attempt means another writer
/// appended, so this is reached only under a pathological amount of contention.
const MAX_ATTEMPTS: usize = 100_000;

/// What happened, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOp {
    /// `file_save`.
    Save,
    /// `file_create`.
    Create,
    /// `file_save_if`.
    SaveIf,
    /// `file_delete`.
    Delete,
    /// `file_copy`.
    Copy,
    /// `apply`.
    Apply,
    /// `files_save`.
    SaveMany,
    /// `files_delete`.
    DeleteMany,
    /// `files_remove`.
    RemoveMany,
    /// `clear`.
    Clear,
    /// The change of record [`AuditRecord::aborts`] failed and was not made
    /// (write-ahead commits only).
    Abort,
}

impl AuditOp {
    /// The name as stored (`save`, `save_if`, `delete_many`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Save => "save",
            Self::Create => "create",
            Self::SaveIf => "save_if",
            Self::Delete => "delete",
            Self::Copy => "copy",
            Self::Apply => "apply",
            Self::SaveMany => "save_many",
            Self::DeleteMany => "delete_many",
            Self::RemoveMany => "remove_many",
            Self::Clear => "clear",
            Self::Abort => "abort",
        }
    }
}

/// What a change did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// The key now holds the value described.
    Put,
    /// The key no longer holds a value (if it held one).
    Delete,
}

/// One key changed by a recorded operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditChange {
    /// The key.
    pub key: String,
    /// Put or delete.
    pub action: ChangeAction,
    /// The new value's size in bytes (puts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The new value's SHA-256, in hex (puts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The key the value was copied from (copies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
}

impl AuditChange {
    fn put(path: &SafePath, data: &[u8]) -> Self {
        Self {
            key: path.to_string(),
            action: ChangeAction::Put,
            size: Some(data.len() as u64),
            sha256: Some(hex::encode(Sha256::digest(data))),
            copied_from: None,
        }
    }

    fn delete(path: &SafePath) -> Self {
        Self {
            key: path.to_string(),
            action: ChangeAction::Delete,
            size: None,
            sha256: None,
            copied_from: None,
        }
    }
}

/// One record of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it was committed: milliseconds since the Unix epoch, UTC.
    pub time: u64,
    /// The caller label of the handle that made the change.
    pub caller: String,
    /// The operation.
    pub op: AuditOp,
    /// For [`AuditOp::Abort`]: the record whose change failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborts: Option<u64>,
    /// The keys changed, in the order of the operation.
    pub changes: Vec<AuditChange>,
    /// The logical operation the change belongs to, when the caller named one
    /// ([`Operation::scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// The previous record's hash ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 (hex) of this record's JSON without this field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record's content gives (what [`hash`](Self::hash) must be).
    pub fn computed_hash(&self) -> String {
        let body = Self {
            hash: String::new(),
            ..self.clone()
        };
        // Serializing a struct of strings, numbers and enums cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        hex::encode(Sha256::digest(json))
    }

    fn sealed(mut self) -> Self {
        self.hash = self.computed_hash();
        self
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The head: the last record's number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// How the changes and their records are committed on a given storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditGuarantee {
    /// Record and change in one atomic batch: the log is exactly what was committed.
    Exact,
    /// Record first, then the change (and an `abort` record if it fails).
    WriteAhead,
}

/// The whole log as read and verified by [`read_trail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTrail {
    /// Every record, from the first.
    pub records: Vec<AuditRecord>,
}

impl AuditTrail {
    /// The last record's hash ([`GENESIS`] for an empty log): keep it elsewhere to
    /// detect, later, that the newest records were removed.
    pub fn head_hash(&self) -> &str {
        self.records.last().map_or(GENESIS, |r| r.hash.as_str())
    }

    /// The records whose changes touch `key`.
    pub fn for_key<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a AuditRecord> + 'a {
        self.records
            .iter()
            .filter(move |r| r.changes.iter().any(|c| c.key == key))
    }
}

fn audit_prefix() -> SafePath {
    SafePath::new(AUDIT_PREFIX).unwrap_or_else(|e| unreachable!("a valid literal: {e}"))
}

fn head_key() -> SafePath {
    SafePath::new(format!("{AUDIT_PREFIX}/head"))
        .unwrap_or_else(|e| unreachable!("a valid literal: {e}"))
}

fn record_key(seq: u64) -> SafePath {
    SafePath::new(format!("{AUDIT_PREFIX}/log/{seq:020}"))
        .unwrap_or_else(|e| unreachable!("a valid literal: {e}"))
}

fn is_audit_key(path: &SafePath) -> bool {
    path.starts_with(&audit_prefix())
}

fn refuse(path: &SafePath) -> Result<()> {
    refuse_marker(path)?;
    if is_audit_key(path) {
        return Err(super::reserved(path, "the audit log"));
    }
    Ok(())
}

/// An integrity error met while appending, saying that the append is refused.
fn refusing(e: StorageError) -> StorageError {
    match e {
        StorageError::Integrity { path, reason } => StorageError::Integrity {
            path,
            reason: format!("{reason}; appending to a broken audit log is refused"),
        },
        other => other,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Parses and checks the record stored at `seq`: its number, its hash, its link to
/// `prev`.
fn parse_record(seq: u64, bytes: &[u8], prev: &str) -> Result<AuditRecord> {
    parse_linked(seq, bytes, Some(prev))
}

/// As [`parse_record`], the link to the previous record checked only when `prev` is
/// given.
fn parse_linked(seq: u64, bytes: &[u8], prev: Option<&str>) -> Result<AuditRecord> {
    let key = record_key(seq);
    let record: AuditRecord = serde_json::from_slice(bytes).map_err(|e| {
        StorageError::integrity(
            key.as_str(),
            format!("audit record {seq} is not a record: {e}"),
        )
    })?;
    if record.seq != seq {
        return Err(StorageError::integrity(
            key.as_str(),
            format!("audit record {seq} says it is record {}", record.seq),
        ));
    }
    if record.hash != record.computed_hash() {
        return Err(StorageError::integrity(
            key.as_str(),
            format!("audit record {seq} was altered: its hash does not match its content"),
        ));
    }
    if prev.is_some_and(|prev| record.prev != prev) {
        return Err(StorageError::integrity(
            key.as_str(),
            format!(
                "audit record {seq} does not follow record {}: the chain is broken (a record was replaced, removed or reordered)",
                seq - 1
            ),
        ));
    }
    Ok(record)
}

/// Reads and verifies the whole audit log of `storage`: the audit layer itself, or the
/// storage it wraps.
///
/// # Errors
/// [`ErrorKind::Integrity`] at the first break: an altered record, a missing one (in
/// the middle, or at the end where the head names more records than there are), a
/// record that does not follow the one before, or a head that does not match;
/// otherwise as the storage.
pub fn read_trail(below: &dyn Storage) -> Result<AuditTrail> {
    let head = read_head(below)?.0;
    // One listing says which records exist, so a record removed in the middle is
    // found even where the head lags behind (write-ahead mode).
    let log = SafePath::new(format!("{AUDIT_PREFIX}/log"))
        .unwrap_or_else(|e| unreachable!("a valid literal: {e}"));
    let mut stored = Vec::new();
    for key in below.files_paths(Some(&log))? {
        let seq = key
            .as_str()
            .rsplit('/')
            .next()
            .filter(|name| name.len() == 20)
            .and_then(|name| name.parse::<u64>().ok())
            .filter(|seq| *seq > 0)
            .ok_or_else(|| {
                StorageError::integrity(key.as_str(), "a key in the audit log that names no record")
            })?;
        stored.push(seq);
    }
    stored.sort_unstable();
    let last = stored.last().copied().unwrap_or(0).max(head.seq);
    let mut records = Vec::with_capacity(stored.len());
    let mut prev = GENESIS.to_owned();
    for seq in 1..=last {
        let bytes = match below.file_bytes(&record_key(seq))? {
            Some(bytes) => bytes,
            None => {
                return Err(StorageError::integrity(
                    record_key(seq).as_str(),
                    format!(
                        "audit record {seq} is missing, and the head names {} records and the log holds records up to {}",
                        head.seq,
                        stored.last().copied().unwrap_or(0)
                    ),
                ));
            }
        };
        let record = parse_record(seq, &bytes, &prev)?;
        prev.clone_from(&record.hash);
        records.push(record);
    }
    if let Some(at_head) = head
        .seq
        .checked_sub(1)
        .and_then(|i| records.get(i as usize))
        && at_head.hash != head.hash
    {
        return Err(StorageError::integrity(
            head_key().as_str(),
            format!(
                "the audit head names record {} with another hash than the record has",
                head.seq
            ),
        ));
    }
    Ok(AuditTrail { records })
}

/// The head (genesis when absent) and its version.
fn read_head(below: &dyn Storage) -> Result<(Head, Option<Version>)> {
    match below.file_get(&head_key())? {
        None => Ok((
            Head {
                seq: 0,
                hash: GENESIS.to_owned(),
            },
            None,
        )),
        Some((bytes, version)) => {
            let head: Head = serde_json::from_slice(&bytes).map_err(|e| {
                StorageError::integrity(
                    head_key().as_str(),
                    format!("the audit head is not a head: {e}"),
                )
            })?;
            Ok((head, Some(version)))
        }
    }
}

/// Where the next record goes: after record `seq` whose hash is `hash`.
#[derive(Debug, Clone)]
struct Tail {
    seq: u64,
    hash: String,
}

/// In write-ahead mode the head is moved on every this many records (in exact mode
/// it is part of every commit): a writer finds the end from its own last record, so
/// the head only spares a new writer reading more than this many records forward.
const HEAD_EVERY: u64 = 16;

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A storage that records every change to `S` in an audit log kept in `S`.
///
/// Reads, listings and versions are those of `S`; the log's keys (and the layers'
/// markers) are hidden from listings and refused to writes. Each handle carries a
/// caller label; [`with_caller`](Self::with_caller) makes another handle on the same
/// store with another label (per user, per request).
pub struct Audited<S> {
    inner: Arc<S>,
    caller: Arc<str>,
    clock: Clock,
    marker: Arc<Marker>,
    /// The last record this store's handles appended or saw: the next one goes after
    /// it unless another writer got there first.
    tail: Arc<std::sync::Mutex<Option<Tail>>>,
}

impl<S> Clone for Audited<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            caller: Arc::clone(&self.caller),
            clock: Arc::clone(&self.clock),
            marker: Arc::clone(&self.marker),
            tail: Arc::clone(&self.tail),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Audited<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audited")
            .field("inner", &self.inner)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Audited<S> {
    /// Wraps `inner`, recording changes under the label `caller`.
    pub fn new(inner: S, caller: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(inner),
            caller: Arc::from(caller.into()),
            clock: Arc::new(now_ms),
            marker: Arc::new(Marker::new(LayerKind::Audit)),
            tail: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// Another handle on the same store whose changes are recorded as `caller`'s.
    #[must_use]
    pub fn with_caller(&self, caller: impl Into<String>) -> Self {
        Self {
            caller: Arc::from(caller.into()),
            ..self.clone()
        }
    }

    /// The same layer taking record times (milliseconds since the epoch) from
    /// `clock`, for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The caller label of this handle.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// The storage underneath (holding the log).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How records are committed on this storage.
    pub fn guarantee(&self) -> AuditGuarantee {
        let caps = self.inner.capabilities();
        if caps.atomic_batch && caps.conditional_write {
            AuditGuarantee::Exact
        } else {
            AuditGuarantee::WriteAhead
        }
    }

    /// The whole log, verified (see [`read_trail`]).
    ///
    /// # Errors
    /// As [`read_trail`].
    pub fn trail(&self) -> Result<AuditTrail> {
        read_trail(&*self.inner)
    }

    /// Where the next record goes, as far as this handle knows: its cached tail, or
    /// the end found from the head.
    fn tail(&self) -> Result<Tail> {
        let cached = self.tail.lock().ok().and_then(|t| t.clone());
        match cached {
            Some(tail) => Ok(tail),
            None => {
                let mut tail = Tail {
                    seq: 0,
                    hash: GENESIS.to_owned(),
                };
                self.forward(&mut tail)?;
                Ok(tail)
            }
        }
    }

    /// Remembers `tail` as the newest record seen (never moving backwards).
    fn remember(&self, tail: &Tail) {
        if let Ok(mut cached) = self.tail.lock()
            && cached.as_ref().is_none_or(|c| c.seq < tail.seq)
        {
            *cached = Some(tail.clone());
        }
    }

    /// Moves `tail` to the last record of the log: to the head if it is further on,
    /// then record by record (each checked to follow the one before) until a slot is
    /// free.
    fn forward(&self, tail: &mut Tail) -> Result<()> {
        let (head, _) = read_head(&*self.inner)?;
        if head.seq > tail.seq {
            // The record the head names must be there and intact: a new record is
            // chained to it.
            let bytes = self.inner.file_bytes(&record_key(head.seq))?.ok_or_else(|| {
                StorageError::integrity(
                    record_key(head.seq).as_str(),
                    format!(
                        "audit record {} is missing, and the head names it; appending to a broken audit log is refused",
                        head.seq
                    ),
                )
            })?;
            let record = parse_linked(head.seq, &bytes, None).map_err(refusing)?;
            if record.hash != head.hash {
                return Err(StorageError::integrity(
                    head_key().as_str(),
                    format!(
                        "the audit head names record {} with another hash than the record has; appending to a broken audit log is refused",
                        head.seq
                    ),
                ));
            }
            tail.seq = head.seq;
            tail.hash = head.hash;
        }
        while let Some(bytes) = self.inner.file_bytes(&record_key(tail.seq + 1))? {
            let seq = tail.seq + 1;
            let record = parse_record(seq, &bytes, &tail.hash).map_err(refusing)?;
            tail.seq = seq;
            tail.hash = record.hash;
        }
        self.remember(tail);
        Ok(())
    }

    fn record(&self, tail: &Tail, op: AuditOp, changes: &[AuditChange]) -> AuditRecord {
        AuditRecord {
            seq: tail.seq + 1,
            time: (self.clock)(),
            caller: self.caller.to_string(),
            op,
            aborts: None,
            changes: changes.to_vec(),
            operation: operation::current().map(|op| (*op).clone()),
            prev: tail.hash.clone(),
            hash: String::new(),
        }
        .sealed()
    }

    /// Commits `writes` after `checks` together with their record, as the guarantee
    /// allows. In write-ahead mode the caller passes the change as `run`.
    fn commit(
        &self,
        op: AuditOp,
        changes: &[AuditChange],
        checks: &[(SafePath, Expect)],
        writes: &[Write<'_>],
    ) -> Result<()> {
        match self.guarantee() {
            AuditGuarantee::Exact => self.commit_exact(op, changes, checks, writes),
            AuditGuarantee::WriteAhead => self.write_ahead(op, changes, || {
                let mut batch = Batch::new();
                for (path, expect) in checks {
                    batch.push_check(path.clone(), expect.clone());
                }
                for write in writes {
                    batch.push(write.clone());
                }
                self.inner.apply(&batch)
            }),
        }
    }

    /// One `apply` below: the caller's checks, the record's slot free, the caller's
    /// writes, the record, the head.
    fn commit_exact(
        &self,
        op: AuditOp,
        changes: &[AuditChange],
        checks: &[(SafePath, Expect)],
        writes: &[Write<'_>],
    ) -> Result<()> {
        let mut tail = self.tail()?;
        for _ in 0..MAX_ATTEMPTS {
            let record = self.record(&tail, op, changes);
            let slot = record_key(record.seq);
            let record_json = record.to_json();
            let head_json = serde_json::to_vec(&Head {
                seq: record.seq,
                hash: record.hash.clone(),
            })
            .unwrap_or_default();
            let mut batch = Batch::new();
            for (path, expect) in checks {
                batch.push_check(path.clone(), expect.clone());
            }
            batch.push_check(slot.clone(), Expect::Absent);
            for write in writes {
                batch.push(write.clone());
            }
            batch.push(Write::Put {
                path: slot.clone(),
                data: &record_json,
            });
            batch.push(Write::Put {
                path: head_key(),
                data: &head_json,
            });
            match self.inner.apply(&batch) {
                Ok(()) => {
                    self.remember(&Tail {
                        seq: record.seq,
                        hash: record.hash,
                    });
                    return Ok(());
                }
                Err(e)
                    if e.kind() == ErrorKind::AlreadyExists && e.path() == Some(slot.as_str()) =>
                {
                    self.forward(&mut tail)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(self.contention())
    }

    /// Appends `record` by creating its slot; returns its number.
    fn append(&self, op: AuditOp, changes: &[AuditChange], aborts: Option<u64>) -> Result<u64> {
        let mut tail = self.tail()?;
        for _ in 0..MAX_ATTEMPTS {
            let mut record = self.record(&tail, op, changes);
            if aborts.is_some() {
                record.aborts = aborts;
                record = record.sealed();
            }
            match self
                .inner
                .file_create(&record_key(record.seq), &record.to_json())
            {
                Ok(()) => {
                    if record.seq.is_multiple_of(HEAD_EVERY) {
                        // The head is a hint in this mode: a failure to move it only
                        // costs a later writer some reads, so it does not fail the
                        // change whose record is already written.
                        let _ = self.move_head(record.seq, &record.hash);
                    }
                    self.remember(&Tail {
                        seq: record.seq,
                        hash: record.hash,
                    });
                    return Ok(record.seq);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => self.forward(&mut tail)?,
                Err(e) => return Err(e),
            }
        }
        Err(self.contention())
    }

    /// Moves the head on to record `seq`, unless another writer moved it further.
    fn move_head(&self, seq: u64, hash: &str) -> Result<()> {
        let head = serde_json::to_vec(&Head {
            seq,
            hash: hash.to_owned(),
        })
        .unwrap_or_default();
        for _ in 0..MAX_ATTEMPTS {
            let (current, version) = read_head(&*self.inner)?;
            if current.seq >= seq {
                return Ok(());
            }
            match self
                .inner
                .file_save_if(&head_key(), &head, &Expect::from_version(version))
            {
                Ok(_) => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::PreconditionFailed | ErrorKind::AlreadyExists
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Err(self.contention())
    }

    /// Write-ahead: the record, then `change`, then an abort record if it failed.
    fn write_ahead<T>(
        &self,
        op: AuditOp,
        changes: &[AuditChange],
        change: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let seq = self.append(op, changes, None)?;
        match change() {
            Ok(value) => Ok(value),
            Err(e) => {
                // Best effort: if the abort cannot be recorded either, the record
                // stands for a change that did not happen, as after a crash.
                let _ = self.append(AuditOp::Abort, &[], Some(seq));
                Err(e)
            }
        }
    }

    fn contention(&self) -> StorageError {
        StorageError::backend(
            self.inner.capabilities().backend,
            Some(head_key().as_str()),
            std::io::Error::other(format!(
                "gave up appending to the audit log after {MAX_ATTEMPTS} attempts lost to other writers"
            )),
        )
    }

    /// The user's keys (no markers, no log), for `clear`.
    fn user_keys(&self) -> Result<Vec<SafePath>> {
        let mut keys = self.inner.files_paths(None)?;
        keys.retain(|k| !is_marker(k) && !is_audit_key(k));
        Ok(keys)
    }

    /// The version of the value at `path` after this handle wrote `data` there, or
    /// a version that matches nothing if another writer has replaced it since.
    fn version_after(&self, path: &SafePath, data: &[u8]) -> Result<Version> {
        match self.inner.file_get(path)? {
            Some((bytes, version)) if bytes == data => Ok(version),
            _ => Ok(Version::new(format!(
                "superseded:{}",
                hex::encode(Sha256::digest(data))
            ))),
        }
    }
}

impl<S: Storage> Storage for Audited<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities().with_audited(true)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        refuse(path)?;
        self.marker.ensure(&*self.inner)?;
        let changes = [AuditChange::put(path, data)];
        match self.guarantee() {
            AuditGuarantee::Exact => self.commit_exact(
                AuditOp::Save,
                &changes,
                &[],
                &[Write::Put {
                    path: path.clone(),
                    data,
                }],
            ),
            AuditGuarantee::WriteAhead => {
                self.write_ahead(AuditOp::Save, &changes, || self.inner.file_save(path, data))
            }
        }
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        self.inner.file_bytes(path)
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        self.inner.file_exists(path)
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        refuse(path)?;
        self.marker.ensure(&*self.inner)?;
        let changes = [AuditChange::delete(path)];
        match self.guarantee() {
            AuditGuarantee::Exact => loop {
                // Delete exactly the version seen, so the answer and the record agree.
                let Some((_, version)) = self.inner.file_get(path)? else {
                    return Ok(false);
                };
                match self.commit_exact(
                    AuditOp::Delete,
                    &changes,
                    &[(path.clone(), Expect::Version(version))],
                    &[Write::Delete { path: path.clone() }],
                ) {
                    Ok(()) => return Ok(true),
                    Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                    Err(e) => return Err(e),
                }
            },
            AuditGuarantee::WriteAhead => {
                if !self.inner.file_exists(path)? {
                    return Ok(false);
                }
                self.write_ahead(AuditOp::Delete, &changes, || self.inner.file_delete(path))
            }
        }
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let mut keys = self.inner.files_paths(prefix)?;
        // The log is listed only when asked for by its own prefix (as `read_trail`
        // does); every other listing leaves it out.
        if !prefix.is_some_and(is_audit_key) {
            keys.retain(|k| !is_marker(k) && !is_audit_key(k));
        }
        Ok(keys)
    }

    fn watch_keys(&self, prefix: &SafePath) -> Result<Option<crate::KeyWatch>> {
        self.inner.watch_keys(prefix)
    }

    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        let mut listed = self.inner.files_versions(prefix)?;
        if !prefix.is_some_and(is_audit_key) {
            listed.retain(|(k, _)| !is_marker(k) && !is_audit_key(k));
        }
        Ok(listed)
    }

    fn clear(&self) -> Result<()> {
        // The log outlives a clear: every user key is deleted, and the clear recorded.
        self.marker.ensure(&*self.inner)?;
        let keys = self.user_keys()?;
        let changes: Vec<AuditChange> = keys.iter().map(AuditChange::delete).collect();
        match self.guarantee() {
            AuditGuarantee::Exact => {
                let writes: Vec<Write<'_>> = keys
                    .iter()
                    .map(|k| Write::Delete { path: k.clone() })
                    .collect();
                self.commit_exact(AuditOp::Clear, &changes, &[], &writes)
            }
            AuditGuarantee::WriteAhead => {
                self.write_ahead(AuditOp::Clear, &changes, || self.inner.files_remove(&keys))
            }
        }
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        if is_marker(path) {
            // A layer above marking the store: markers pass through unrecorded.
            return self.inner.file_create(path, data);
        }
        refuse(path)?;
        self.marker.ensure(&*self.inner)?;
        let changes = [AuditChange::put(path, data)];
        match self.guarantee() {
            AuditGuarantee::Exact => self.commit_exact(
                AuditOp::Create,
                &changes,
                &[(path.clone(), Expect::Absent)],
                &[Write::Put {
                    path: path.clone(),
                    data,
                }],
            ),
            AuditGuarantee::WriteAhead => {
                if self.inner.file_exists(path)? {
                    return Err(StorageError::AlreadyExists {
                        path: path.to_string(),
                    });
                }
                self.write_ahead(AuditOp::Create, &changes, || {
                    self.inner.file_create(path, data)
                })
            }
        }
    }

    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        self.inner.file_get(path)
    }

    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        refuse(path)?;
        self.marker.ensure(&*self.inner)?;
        let changes = [AuditChange::put(path, data)];
        match self.guarantee() {
            AuditGuarantee::Exact => {
                self.commit_exact(
                    AuditOp::SaveIf,
                    &changes,
                    &[(path.clone(), expect.clone())],
                    &[Write::Put {
                        path: path.clone(),
                        data,
                    }],
                )?;
                self.version_after(path, data)
            }
            AuditGuarantee::WriteAhead => {
                // A write that would be refused is refused before it is recorded.
                let current = self.inner.file_get(path)?.map(|(_, v)| v);
                expect.check(path, current.as_ref())?;
                self.write_ahead(AuditOp::SaveIf, &changes, || {
                    self.inner.file_save_if(path, data, expect)
                })
            }
        }
    }

    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        for write in batch.writes() {
            refuse(write.path())?;
        }
        if batch.writes().is_empty() {
            return self.inner.apply(batch);
        }
        self.marker.ensure(&*self.inner)?;
        let mut changes = Vec::with_capacity(batch.writes().len());
        for (i, write) in batch.writes().iter().enumerate() {
            changes.push(match write {
                Write::Put { path, data } => AuditChange::put(path, data),
                Write::Delete { path } => AuditChange::delete(path),
                Write::Copy { from, to } => {
                    // The copied bytes: written earlier in this batch, or stored now.
                    let earlier = batch.writes()[..i].iter().rfind(|w| w.path() == from);
                    let data = match earlier {
                        Some(Write::Put { data, .. }) => Some(data.to_vec()),
                        Some(Write::Delete { .. }) => None,
                        Some(Write::Copy { .. }) | None => self.inner.file_bytes(from)?,
                    };
                    let Some(data) = data else {
                        return Err(StorageError::NotFound {
                            path: from.to_string(),
                        });
                    };
                    let mut change = AuditChange::put(to, &data);
                    change.copied_from = Some(from.to_string());
                    change
                }
            });
        }
        if self.guarantee() == AuditGuarantee::WriteAhead {
            // A batch that would be refused is refused before it is recorded.
            for (path, expect) in batch.checks() {
                let current = self.inner.file_get(path)?.map(|(_, v)| v);
                expect.check(path, current.as_ref())?;
            }
        }
        self.commit(AuditOp::Apply, &changes, batch.checks(), batch.writes())
    }

    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        refuse(to)?;
        if is_marker(from) || is_audit_key(from) {
            return Err(super::reserved(from, "the storage layers"));
        }
        self.marker.ensure(&*self.inner)?;
        loop {
            // The value is read here, so the record's hash is exactly what is written.
            let Some((data, version)) = self.inner.file_get(from)? else {
                return Ok(false);
            };
            let mut change = AuditChange::put(to, &data);
            change.copied_from = Some(from.to_string());
            let changes = [change];
            match self.guarantee() {
                AuditGuarantee::Exact => match self.commit_exact(
                    AuditOp::Copy,
                    &changes,
                    &[(from.clone(), Expect::Version(version))],
                    &[Write::Put {
                        path: to.clone(),
                        data: &data,
                    }],
                ) {
                    Ok(()) => return Ok(true),
                    Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                    Err(e) => return Err(e),
                },
                AuditGuarantee::WriteAhead => {
                    return self
                        .write_ahead(AuditOp::Copy, &changes, || self.inner.file_save(to, &data))
                        .map(|()| true);
                }
            }
        }
    }

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        items.iter().try_for_each(|(p, _)| refuse(p))?;
        if items.is_empty() {
            return Ok(());
        }
        self.marker.ensure(&*self.inner)?;
        let changes: Vec<AuditChange> = items.iter().map(|(p, d)| AuditChange::put(p, d)).collect();
        match self.guarantee() {
            AuditGuarantee::Exact => {
                let writes: Vec<Write<'_>> = items
                    .iter()
                    .map(|(path, data)| Write::Put {
                        path: path.clone(),
                        data,
                    })
                    .collect();
                self.commit_exact(AuditOp::SaveMany, &changes, &[], &writes)
            }
            AuditGuarantee::WriteAhead => {
                self.write_ahead(AuditOp::SaveMany, &changes, || self.inner.files_save(items))
            }
        }
    }

    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        paths.iter().try_for_each(refuse)?;
        if paths.is_empty() {
            return Ok(0);
        }
        self.marker.ensure(&*self.inner)?;
        match self.guarantee() {
            AuditGuarantee::Exact => loop {
                // The count is exact: each key is checked to be as it was seen.
                let mut checks = Vec::with_capacity(paths.len());
                let mut present = Vec::new();
                for path in paths {
                    let version = self.inner.file_get(path)?.map(|(_, v)| v);
                    if version.is_some() && !present.contains(path) {
                        present.push(path.clone());
                    }
                    checks.push((path.clone(), Expect::from_version(version)));
                }
                if present.is_empty() {
                    return Ok(0);
                }
                let changes: Vec<AuditChange> = present.iter().map(AuditChange::delete).collect();
                let writes: Vec<Write<'_>> = present
                    .iter()
                    .map(|p| Write::Delete { path: p.clone() })
                    .collect();
                match self.commit_exact(AuditOp::DeleteMany, &changes, &checks, &writes) {
                    Ok(()) => return Ok(present.len()),
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::PreconditionFailed | ErrorKind::AlreadyExists
                        ) && e
                            .path()
                            .is_some_and(|p| paths.iter().any(|k| k.as_str() == p)) => {}
                    Err(e) => return Err(e),
                }
            },
            AuditGuarantee::WriteAhead => {
                let changes: Vec<AuditChange> = paths.iter().map(AuditChange::delete).collect();
                self.write_ahead(AuditOp::DeleteMany, &changes, || {
                    self.inner.files_delete(paths)
                })
            }
        }
    }

    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        paths.iter().try_for_each(refuse)?;
        if paths.is_empty() {
            return Ok(());
        }
        self.marker.ensure(&*self.inner)?;
        let changes: Vec<AuditChange> = paths.iter().map(AuditChange::delete).collect();
        match self.guarantee() {
            AuditGuarantee::Exact => {
                let writes: Vec<Write<'_>> = paths
                    .iter()
                    .map(|p| Write::Delete { path: p.clone() })
                    .collect();
                self.commit_exact(AuditOp::RemoveMany, &changes, &[], &writes)
            }
            AuditGuarantee::WriteAhead => self.write_ahead(AuditOp::RemoveMany, &changes, || {
                self.inner.files_remove(paths)
            }),
        }
    }
}

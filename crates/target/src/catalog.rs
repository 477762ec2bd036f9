//! `Catalog`: the store as a whole — its logical files found by id, listed and queried
//! through their records and index postings, rebuilt from the configs (`reindex`),
//! checked key by key (`verify`), copied to another store, changed together
//! (transactions).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use memory_fs_file::index::{self, POSTINGS, posting_id};
use memory_fs_file::storage::{SafePath, Storage};
use memory_fs_file::{
    ChainProblem, Clock, File, FileConfig, FileError, FileId, FileRecord, FolderKeys, Placement,
    Problem, Result, Transaction, is_reserved,
};

use crate::{Query, TargetCreate, snapshot};

/// Where records live (each `<RECORDS>/<id>`).
const RECORDS: &str = ".memory-fs/files";
/// Where transactions keep their journals.
const JOURNALS: &str = ".memory-fs/tx";

/// What a listing or a query found.
#[derive(Debug, Default)]
pub struct Listing {
    /// The files, sorted by id.
    pub files: Vec<File>,
    /// Records that could not be read, with why: one damaged record never hides the
    /// others.
    pub unreadable: Vec<(SafePath, FileError)>,
}

/// What [`Catalog::reindex`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReindexReport {
    /// Files found through their configs.
    pub found: usize,
    /// Records written (new, or different from what the store had).
    pub written: Vec<FileId>,
    /// Records removed because none of the file's keys is left.
    pub removed: Vec<FileId>,
    /// What could not be indexed, and why.
    pub problems: Vec<Problem>,
}

/// What [`Catalog::verify`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Logical files checked.
    pub files: usize,
    /// Keys looked at.
    pub keys: usize,
    /// Everything wrong, each naming its key.
    pub problems: Vec<Problem>,
}

/// What [`Catalog::verify_chains`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Versioned files whose chain was walked.
    pub files: usize,
    /// Versions checked.
    pub versions: usize,
    /// Every fault, by file and version.
    pub problems: Vec<ChainProblem>,
    /// Records that could not be read, with why.
    pub unreadable: Vec<(FileId, String)>,
}

/// What [`Catalog::recover`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoverReport {
    /// Files whose commit in flight was finished or undone.
    pub settled: Vec<FileId>,
    /// Leftovers of transactions removed.
    pub removed: Vec<SafePath>,
}

/// What [`Catalog::copy_to`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Logical files copied (each in one commit at the destination).
    pub files: usize,
    /// Bytes copied.
    pub bytes: u64,
}

/// The logical files of one store.
#[derive(Debug, Clone)]
pub struct Catalog {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
}

fn problem(key: impl ToString, problem: impl Into<String>) -> Problem {
    Problem {
        key: key.to_string(),
        problem: problem.into(),
    }
}

impl Catalog {
    /// The files of `storage`; `clock` stamps the changes made through it.
    pub fn new(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>) -> Self {
        Self { storage, clock }
    }

    /// The storage underneath.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The file `id`, found through its record (one read, whatever the size of the
    /// store), or `None`.
    ///
    /// # Errors
    /// [`FileError::CorruptRecord`]; storage errors.
    pub fn get(&self, id: &FileId) -> Result<Option<File>> {
        Ok(File::open(self.storage.clone(), id)?.map(|f| f.with_clock(self.clock.clone())))
    }

    /// A watch of the logical files (of file `only`, or of all): the saves, edits and
    /// deletes committed from now on, by anyone; see [`Watch`](crate::Watch).
    ///
    /// # Errors
    /// Storage errors; a record that cannot be read.
    pub fn watch(&self, only: Option<&FileId>) -> Result<crate::Watch> {
        crate::Watch::new(self.storage.clone(), only.cloned())
    }

    /// Whether the store keeps index postings (it does where batches are atomic, so
    /// postings are committed with their records).
    pub fn has_postings(&self) -> bool {
        self.storage.capabilities().atomic_batch
    }

    /// The ids of every record, sorted.
    ///
    /// # Errors
    /// Storage errors.
    pub fn ids(&self) -> Result<Vec<FileId>> {
        let prefix = SafePath::new(RECORDS)?;
        let mut ids: Vec<FileId> = self
            .storage
            .files_paths(Some(&prefix))?
            .iter()
            .filter_map(|k| FileId::new(k.file_name()).ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every logical file.
    ///
    /// # Errors
    /// Storage errors.
    pub fn list(&self) -> Result<Listing> {
        self.query(&Query::new())
    }

    /// The files `query` selects, sorted by id. Where the store keeps postings, only
    /// the files the postings name are read (each then checked against the query);
    /// elsewhere every record is.
    ///
    /// # Errors
    /// Storage errors.
    pub fn query(&self, query: &Query) -> Result<Listing> {
        let mut listing = Listing::default();
        match query.posting_groups(self.clock.now_ms())? {
            Some(groups) if self.has_postings() => {
                for id in self.posted(&groups)? {
                    let file = self.get(&id);
                    self.select(&mut listing, query, &id, file)?;
                }
            }
            // Where listings carry versions, the records come from the listing snapshot
            // (one value) wherever it holds them at their listed version.
            _ if self.storage.capabilities().listed_versions => {
                let records = SafePath::new(RECORDS)?;
                for (id, file) in snapshot::files(&self.storage, &records)? {
                    let file = file.map(|f| f.map(|f| f.with_clock(self.clock.clone())));
                    self.select(&mut listing, query, &id, file)?;
                }
            }
            _ => {
                for id in self.ids()? {
                    let file = self.get(&id);
                    self.select(&mut listing, query, &id, file)?;
                }
            }
        }
        Ok(listing)
    }

    /// Adds `file` (the file `id` as read) to `listing` if `query` selects it; an
    /// unreadable record is listed as such, any other error stops the query.
    fn select(
        &self,
        listing: &mut Listing,
        query: &Query,
        id: &FileId,
        file: Result<Option<File>>,
    ) -> Result<()> {
        match file {
            Ok(Some(file)) => {
                if query.matches(file.record()) {
                    listing.files.push(file);
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e @ FileError::CorruptRecord { .. }) => {
                listing
                    .unreadable
                    .push((SafePath::new(format!("{RECORDS}/{id}"))?, e));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The ids every group of posting prefixes names (a union within a group, an
    /// intersection across groups), smallest group first.
    fn posted(&self, groups: &[Vec<SafePath>]) -> Result<Vec<FileId>> {
        let mut sets: Vec<BTreeSet<FileId>> = Vec::with_capacity(groups.len());
        for group in groups {
            let mut set = BTreeSet::new();
            for prefix in group {
                for key in self.storage.files_paths(Some(prefix))? {
                    set.extend(posting_id(&key));
                }
            }
            sets.push(set);
        }
        sets.sort_by_key(BTreeSet::len);
        let mut it = sets.into_iter();
        let Some(mut ids) = it.next() else {
            return Ok(Vec::new());
        };
        for set in it {
            ids.retain(|id| set.contains(id));
        }
        Ok(ids.into_iter().collect())
    }

    /// A transaction on this store.
    pub fn transaction(&self) -> Transaction {
        Transaction::new(self.storage.clone(), self.clock.clone())
    }

    /// Finishes or undoes every commit left in flight by a writer that died (see
    /// [`File::settle`]) and removes what unfinished transactions left behind. Returns
    /// the files settled and the keys removed. Safe while other writers work.
    ///
    /// # Errors
    /// Storage errors.
    pub fn recover(&self) -> Result<RecoverReport> {
        let mut report = RecoverReport::default();
        let mut in_flight = HashSet::new();
        for id in self.ids()? {
            if File::settle(self.storage.clone(), self.clock.clone(), &id)? {
                report.settled.push(id.clone());
            }
            // A transaction still running names its journal in its files' intents.
            if let Ok(Some(file)) = self.get(&id)
                && let Some(journal) = file
                    .record()
                    .pending
                    .as_ref()
                    .and_then(|p| p.transaction.clone())
            {
                in_flight.insert(journal);
            }
        }
        report.removed = memory_fs_file::sweep_journals(&*self.storage, &*self.clock, &in_flight)?;
        Ok(report)
    }

    // ----- rebuilding the index ---------------------------------------------------------

    /// Rebuilds every record (and posting) from the configs in the store, so files
    /// another program wrote (the Python package) are found by id and listed. A file's
    /// head is its placement saved last; records that match the store are left alone;
    /// records whose keys are all gone are removed. Reads the whole store.
    ///
    /// # Errors
    /// Storage errors (problems with single files are reported, not raised).
    pub fn reindex(&self) -> Result<ReindexReport> {
        let mut report = ReindexReport::default();
        let scan = TargetCreate::new(self.storage.clone()).scan_all(None)?;
        for (key, e) in &scan.unreadable {
            report.problems.push(problem(key, e.to_string()));
        }
        let mut by_id: BTreeMap<FileId, Vec<Placement>> = BTreeMap::new();
        for target in scan.targets {
            let config = target.config().clone();
            match self.placement(config) {
                Ok(p) => by_id.entry(p.config.file_id.clone()).or_default().push(p),
                Err(e) => report
                    .problems
                    .push(problem(target.config().file_id.as_str(), e.to_string())),
            }
        }
        report.found = by_id.len();
        for (id, placements) in by_id {
            let Some(record) = FileRecord::from_placements(placements) else {
                continue;
            };
            let before = File::open(self.storage.clone(), &id).ok().flatten();
            if before
                .as_ref()
                .is_some_and(|b| b.record().same_content(&record))
            {
                continue;
            }
            // A record that knows more (folders, versions written through us) keeps it.
            let record = match &before {
                Some(b) => merge(b.record(), record),
                None => record,
            };
            if before
                .as_ref()
                .is_some_and(|b| b.record().same_content(&record))
            {
                continue;
            }
            match File::index(self.storage.clone(), self.clock.clone(), &record) {
                Ok(_) => report.written.push(id),
                Err(e) => report.problems.push(problem(id.as_str(), e.to_string())),
            }
        }
        for id in self.ids()? {
            let Ok(Some(file)) = self.get(&id) else {
                continue;
            };
            let mut any = false;
            for key in file.record().keys()? {
                if self.storage.file_exists(&key)? {
                    any = true;
                    break;
                }
            }
            if !any {
                File::unindex(self.storage.clone(), self.clock.clone(), &id)?;
                report.removed.push(id);
            }
        }
        Ok(report)
    }

    /// A stored config with the metadata in each of its folders.
    fn placement(&self, config: FileConfig) -> Result<Placement> {
        let mut metadata = Vec::new();
        for folder in config.folders() {
            let keys = FolderKeys::new(folder, &config.file_id, &config.file_type)?;
            metadata.push(match keys.metadata {
                None => None,
                Some(key) => match self.storage.file_bytes(&key)? {
                    None => None,
                    Some(bytes) => Some(memory_fs_file::FileMetadata::from_json(
                        key.as_str(),
                        &bytes,
                    )?),
                },
            });
        }
        Ok(Placement { config, metadata })
    }

    // ----- checking -----------------------------------------------------------------------

    /// Walks the version chain of every versioned file (see [`File::verify_chain`]):
    /// a missing, reordered or altered version is reported by id and version. Reads
    /// each record, then two keys a version.
    ///
    /// # Errors
    /// Storage errors (faults of the chains are reported, not raised).
    pub fn verify_chains(&self) -> Result<ChainReport> {
        let mut report = ChainReport::default();
        for id in self.ids()? {
            let file = match File::open(self.storage.clone(), &id) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(e) => {
                    report.unreadable.push((id, e.to_string()));
                    continue;
                }
            };
            let versions = file.versions().len();
            if versions == 0 {
                continue;
            }
            report.files += 1;
            report.versions += versions;
            report.problems.extend(file.verify_chain()?);
        }
        Ok(report)
    }

    /// Checks the whole store (or the files and keys under `prefix`): every indexed
    /// file folder by folder (config, metadata, content against its hash, the record
    /// against the metadata); every other key — configs of files the index does not
    /// know (another program wrote them: `reindex` adds them), damaged configs, configs
    /// whose folders are not valid keys, contents and metadata no config or record
    /// names (orphans); damaged records; journals of transactions that did not finish.
    ///
    /// # Errors
    /// Storage errors (what is wrong with the store is reported, not raised).
    pub fn verify(&self, prefix: Option<&SafePath>) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let under = |key: &SafePath| prefix.is_none_or(|p| key.starts_with(p));
        let mut claimed: HashSet<SafePath> = HashSet::new();
        let records = SafePath::new(RECORDS)?;
        for key in self.storage.files_paths(Some(&records))? {
            let Ok(id) = FileId::new(key.file_name()) else {
                report
                    .problems
                    .push(problem(&key, "a record whose name is not a file id"));
                continue;
            };
            let file = match File::open(self.storage.clone(), &id) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(e) => {
                    report.problems.push(problem(&key, e.to_string()));
                    continue;
                }
            };
            let keys = file.record().keys().unwrap_or_default();
            if prefix.is_some() && !keys.iter().any(under) {
                claimed.extend(keys);
                continue;
            }
            report.files += 1;
            report.problems.extend(file.verify()?);
            claimed.extend(keys);
        }

        let all = self.storage.files_paths(prefix)?;
        report.keys = all.len();
        // Configs the index does not know claim their own keys first, so a file
        // another program wrote is one problem, not three.
        for key in &all {
            if claimed.contains(key) || is_reserved(key) || !key.as_str().ends_with(".config") {
                continue;
            }
            let bytes = match self.storage.file_bytes(key)? {
                Some(b) => b,
                None => continue,
            };
            let config = match FileConfig::from_json(key.as_str(), &bytes) {
                Ok(c) => c,
                Err(e) => {
                    report.problems.push(problem(key, e.to_string()));
                    claimed.insert(key.clone());
                    continue;
                }
            };
            claimed.insert(key.clone());
            let mut valid = true;
            for folder in config.folders() {
                match FolderKeys::new(folder, &config.file_id, &config.file_type) {
                    Ok(keys) => claimed.extend(keys.all().cloned()),
                    Err(e) => {
                        valid = false;
                        report.problems.push(problem(
                            key,
                            format!("its folder {folder:?} is not a valid place for a file: {e}"),
                        ));
                    }
                }
            }
            if valid {
                report.problems.push(problem(
                    key,
                    format!(
                        "file {:?} is not in the index (another program wrote it?): `memory-fs reindex` adds it",
                        config.file_id.as_str()
                    ),
                ));
            }
        }
        for key in &all {
            if claimed.contains(key) {
                continue;
            }
            if is_reserved(key) {
                self.verify_reserved(key, &mut report)?;
                continue;
            }
            let what = if key.as_str().ends_with(".metadata") {
                "metadata that no config or record names (an orphan)"
            } else {
                "content that no config or record names (an orphan)"
            };
            report.problems.push(problem(key, what));
        }
        report.problems.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(report)
    }

    fn verify_reserved(&self, key: &SafePath, report: &mut VerifyReport) -> Result<()> {
        let text = key.as_str();
        if text.starts_with(JOURNALS) {
            report.problems.push(problem(
                key,
                "left by a transaction across files that did not finish",
            ));
        } else if text.starts_with(POSTINGS) {
            if let Some(id) = posting_id(key)
                && self.get(&id).ok().flatten().is_none()
            {
                report.problems.push(problem(
                    key,
                    format!("an index posting of {:?}, which has no record", id.as_str()),
                ));
            }
        } else if !text.starts_with(RECORDS) && text != snapshot::SNAPSHOT {
            report
                .problems
                .push(problem(key, "an unknown key under .memory-fs/"));
        }
        Ok(())
    }

    // ----- copying ----------------------------------------------------------------------

    /// Copies every file `query` selects to `destination`, each file in one commit
    /// there (an interrupted copy leaves each destination file as it was or as the
    /// source's). `progress(files_done, files_total, bytes)` is called after each file.
    ///
    /// # Errors
    /// Storage errors of either side, and a content that disagrees with its metadata
    /// (the files copied before stay copied).
    pub fn copy_to(
        &self,
        destination: &Catalog,
        query: &Query,
        mut progress: impl FnMut(usize, usize, u64),
    ) -> Result<CopyReport> {
        let listing = self.query(query)?;
        if let Some((_, e)) = listing.unreadable.into_iter().next() {
            return Err(e);
        }
        let total = listing.files.len();
        let mut report = CopyReport::default();
        for (i, file) in listing.files.iter().enumerate() {
            report.bytes += file.copy_to(&destination.storage)?;
            report.files += 1;
            progress(i + 1, total, report.bytes);
        }
        Ok(report)
    }

    /// The posting keys of every record (what a consistent index holds).
    ///
    /// # Errors
    /// Storage errors.
    pub fn expected_postings(&self) -> Result<BTreeSet<SafePath>> {
        let mut out = BTreeSet::new();
        for file in self.list()?.files {
            out.extend(index::postings(file.record())?);
        }
        Ok(out)
    }
}

/// The record a reindex writes for a file the store already has a record of: what the
/// configs show, plus the folders and versions the old record knew.
fn merge(old: &FileRecord, mut found: FileRecord) -> FileRecord {
    for folder in &old.folders {
        if !found.folders.contains(folder) {
            found.folders.push(folder.clone());
        }
    }
    if let (Some(o), Some(f)) = (&old.versions, &mut found.versions)
        && o.base == f.base
    {
        for n in &o.numbers {
            f.insert(*n);
        }
    } else if found.versions.is_none() {
        found.versions.clone_from(&old.versions);
    }
    // What only the record knows: the file's retention, and where a pruned chain
    // continues from (a scan finds only the versions kept).
    found.retention = found.retention.or(old.retention);
    if let (Some(o), Some(f)) = (&old.versions, &mut found.versions)
        && o.base == f.base
        && f.pruned.is_none()
        && let Some(anchor) = &o.pruned
        && f.numbers.first().is_some_and(|n| *n > anchor.through)
    {
        f.pruned = Some(anchor.clone());
    }
    // The head written through this library is newer than any placement a scan sees
    // when their timestamps say so.
    let old_time = old.head.first_metadata().map(|m| m.timestamp);
    let found_time = found.head.first_metadata().map(|m| m.timestamp);
    if old_time > found_time {
        found.head = old.head.clone();
    }
    found
}

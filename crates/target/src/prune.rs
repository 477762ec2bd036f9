//! Retention across the store: [`Catalog::prune`] applies each versioned file's policy
//! (or a default) and reports what went, file by file.

use memory_fs_file::{FileError, FileId, FilePrune, Result, Retention};

use crate::Catalog;

/// What [`Catalog::prune`] removed (or, for a dry run, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Whether nothing was written (a dry run).
    pub dry_run: bool,
    /// Versioned files looked at.
    pub files: usize,
    /// Each versioned file with a policy, what it loses and keeps, sorted by id.
    pub pruned: Vec<FilePrune>,
    /// Records that could not be read, with why.
    pub unreadable: Vec<(FileId, String)>,
}

impl PruneReport {
    /// Versions removed (or that would be), over every file.
    pub fn versions_removed(&self) -> usize {
        self.pruned.iter().map(|p| p.removed.len()).sum()
    }
}

impl Catalog {
    /// Applies retention to every versioned file (or to `only`): each file's own
    /// policy, else `default`; a file with neither keeps every version. Each file is
    /// pruned in one commit of its own (see [`File::prune`](memory_fs_file::File::prune)),
    /// so an interruption leaves every file with its old or its new set of versions.
    /// With `dry_run` nothing is written and the report says what would go.
    ///
    /// # Errors
    /// [`FileError::NotFound`] when `only` names no file; storage errors (files pruned
    /// before stay pruned).
    pub fn prune(
        &self,
        only: Option<&FileId>,
        default: Option<&Retention>,
        dry_run: bool,
    ) -> Result<PruneReport> {
        let mut report = PruneReport {
            dry_run,
            ..PruneReport::default()
        };
        let ids = match only {
            Some(id) => vec![id.clone()],
            None => self.ids()?,
        };
        for id in ids {
            let file = match self.get(&id) {
                Ok(Some(f)) => f,
                Ok(None) if only.is_some() => {
                    return Err(FileError::NotFound { id: id.to_string() });
                }
                Ok(None) => continue,
                Err(e @ FileError::Storage(_)) => return Err(e),
                Err(e) => {
                    report.unreadable.push((id, e.to_string()));
                    continue;
                }
            };
            if file.versions().is_empty() {
                continue;
            }
            report.files += 1;
            let pruned = if dry_run {
                file.would_prune(default)?
            } else {
                file.prune(default)?
            };
            if pruned.policy.is_some() {
                report.pruned.push(pruned);
            }
        }
        Ok(report)
    }
}

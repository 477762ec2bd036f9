//! `Project`: named path strategies, and files made with them.

use std::sync::Arc;

use memory_fs_file::storage::Storage;
use memory_fs_file::{Clock, File, FileError, FileId, FileType, PathHandler, SystemClock};

/// Why a project could not make a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    /// The strategy name is not defined in the project.
    #[error("no path strategy named {name:?} (defined: {defined})")]
    UnknownStrategy {
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        defined: String,
    },
    /// The file layer failed.
    #[error(transparent)]
    File(#[from] FileError),
}

/// A storage plus named path strategies.
#[derive(Debug, Clone)]
pub struct Project {
    storage: Arc<dyn Storage>,
    strategies: Vec<(String, Vec<PathHandler>)>,
    clock: Arc<dyn Clock>,
}

impl Project {
    /// A project with no strategies yet.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            strategies: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Adds (or replaces) the strategy `name`.
    pub fn with_strategy<I: IntoIterator<Item = PathHandler>>(
        mut self,
        name: &str,
        handlers: I,
    ) -> Self {
        let handlers: Vec<PathHandler> = handlers.into_iter().collect();
        match self.strategies.iter_mut().find(|(n, _)| n == name) {
            Some((_, h)) => *h = handlers,
            None => self.strategies.push((name.to_owned(), handlers)),
        }
        self
    }

    /// Uses `clock` for the files it makes.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The handlers of strategy `name`.
    pub fn strategy(&self, name: &str) -> Option<&[PathHandler]> {
        self.strategies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_slice())
    }

    /// A file placed by strategy `strategy`.
    ///
    /// # Errors
    /// [`ProjectError::UnknownStrategy`]; storage errors while resolving versions.
    pub fn file(
        &self,
        id: FileId,
        strategy: &str,
        file_type: FileType,
    ) -> Result<File, ProjectError> {
        let handlers = self
            .strategy(strategy)
            .ok_or_else(|| ProjectError::UnknownStrategy {
                name: strategy.to_owned(),
                defined: self
                    .strategies
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(File::builder(self.storage.clone(), id, file_type)
            .handlers(handlers.iter().cloned())
            .clock(self.clock.clone())
            .build()?)
    }
}

//! `Project`: named path strategies, and file specs made with them.

use memory_fs_file::{FileId, FileSpec, FileType, PathHandler, Retention};

/// Why a project could not describe a file.
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
}

/// Named path strategies (`development` = latest, `production` = temporal +
/// versioned…) that describe where files go, and the retention policy its files get
/// when they have none of their own.
#[derive(Debug, Clone, Default)]
pub struct Project {
    strategies: Vec<(String, Vec<PathHandler>)>,
    retention: Option<Retention>,
}

impl Project {
    /// A project with no strategies yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the strategy `name`.
    #[must_use]
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

    /// Sets the project's default retention: the specs it makes prune, on save, the
    /// versions this policy does not keep, for files without a policy of their own.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use memory_fs_file::{FileId, FileType, PathHandler, Retention};
    /// use memory_fs_target::Project;
    ///
    /// let keep = Retention::keep_last(NonZeroU32::new(3).unwrap());
    /// let project = Project::new()
    ///     .with_strategy("production", [PathHandler::versioned()])
    ///     .with_retention(keep);
    /// let spec = project.spec(FileId::new("report")?, "production", FileType::json())?;
    /// assert_eq!(spec.default_retention(), Some(&keep));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_retention(mut self, policy: Retention) -> Self {
        self.retention = Some(policy);
        self
    }

    /// The project's default retention.
    pub fn retention(&self) -> Option<&Retention> {
        self.retention.as_ref()
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
    /// [`ProjectError::UnknownStrategy`].
    pub fn spec(
        &self,
        id: FileId,
        strategy: &str,
        file_type: FileType,
    ) -> Result<FileSpec, ProjectError> {
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
        let spec = FileSpec::new(id, file_type).handlers(handlers.iter().cloned());
        Ok(match self.retention {
            Some(policy) => spec.with_default_retention(policy),
            None => spec,
        })
    }
}

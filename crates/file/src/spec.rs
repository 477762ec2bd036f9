//! `FileSpec`: what a save is asked to write — an id, a type, and where (folders given
//! outright, or path handlers resolved when the save commits).

use crate::{
    ExistsStrategy, FileConfig, FileError, FileId, FileType, HandlerKind, PathHandler, Result,
    Retention,
};

/// Where a save places a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placing {
    /// These folders (`""` or no folder: the storage root).
    Folders(Vec<String>),
    /// The folders these handlers choose at commit time (a versioned handler takes the
    /// next free version then).
    Handlers(Vec<PathHandler>),
}

/// A description of a logical file for saving: its id, type, key, exists strategy and
/// where it goes.
///
/// Made from a [`FileConfig`] (folders given) or with [`FileSpec::new`] and
/// [`handlers`](Self::handlers):
///
/// ```
/// use memory_fs_file::{FileId, FileSpec, FileType, PathHandler};
/// let spec = FileSpec::new(FileId::new("report")?, FileType::markdown())
///     .handlers([PathHandler::latest(), PathHandler::versioned()]);
/// assert_eq!(spec.id().as_str(), "report");
/// # Ok::<(), memory_fs_file::FileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    id: FileId,
    file_type: FileType,
    key: String,
    strategy: ExistsStrategy,
    placing: Placing,
    /// Boxed: most specs have none, and a spec is held by value in transactions.
    retention: Option<Box<SpecRetention>>,
}

/// The retention policies a spec carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SpecRetention {
    own: Option<Retention>,
    default: Option<Retention>,
}

impl FileSpec {
    /// A file at the storage root, no key, the `first` exists strategy.
    pub fn new(id: FileId, file_type: FileType) -> Self {
        Self {
            id,
            file_type,
            key: String::new(),
            strategy: ExistsStrategy::First,
            placing: Placing::Folders(Vec::new()),
            retention: None,
        }
    }

    /// Places the file where `handlers` say, when it is saved.
    #[must_use]
    pub fn handlers<I: IntoIterator<Item = PathHandler>>(mut self, handlers: I) -> Self {
        self.placing = Placing::Handlers(handlers.into_iter().collect());
        self
    }

    /// Places the file in these folders.
    #[must_use]
    pub fn folders<I: IntoIterator<Item = S>, S: Into<String>>(mut self, folders: I) -> Self {
        self.placing = Placing::Folders(folders.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the file key (used by [`PathHandler::key_based`]).
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Sets the exists strategy.
    #[must_use]
    pub fn exists_strategy(mut self, strategy: ExistsStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Gives the file its own retention policy, kept in its record: this save and
    /// every later one (and every prune) keep the versions it says, whatever default
    /// the saver has. A save without one keeps the policy the file already has.
    #[must_use]
    pub fn with_retention(mut self, policy: Retention) -> Self {
        self.retention.get_or_insert_default().own = Some(policy);
        self
    }

    /// The retention policy this save applies when the file has none of its own (a
    /// project's or a store's default); not kept in the record.
    #[must_use]
    pub fn with_default_retention(mut self, policy: Retention) -> Self {
        self.retention.get_or_insert_default().default = Some(policy);
        self
    }

    /// The file's own retention policy this save sets, if any.
    pub fn retention(&self) -> Option<&Retention> {
        self.retention.as_deref().and_then(|r| r.own.as_ref())
    }

    /// The default retention policy this save applies to a file without its own.
    pub fn default_retention(&self) -> Option<&Retention> {
        self.retention.as_deref().and_then(|r| r.default.as_ref())
    }

    /// The id.
    pub fn id(&self) -> &FileId {
        &self.id
    }

    /// The type.
    pub fn file_type(&self) -> &FileType {
        &self.file_type
    }

    /// Where the file goes.
    pub fn placing(&self) -> &Placing {
        &self.placing
    }

    /// The config of a save made at `now_ms`, with `next_version(base)` giving the
    /// version a versioned handler under `base` takes.
    ///
    /// # Errors
    /// [`FileError::Placement`] for a versioned handler whose folder would not end in
    /// `v<N>` (a suffix after it).
    pub(crate) fn resolve(
        &self,
        now_ms: i64,
        mut next_version: impl FnMut(&str) -> u32,
    ) -> Result<FileConfig> {
        let folders = match &self.placing {
            Placing::Folders(folders) => folders.clone(),
            Placing::Handlers(handlers) => {
                let mut out = Vec::with_capacity(handlers.len());
                for handler in handlers {
                    let folder = match handler.kind {
                        HandlerKind::Versioned { version: None } => {
                            if handler.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
                                return Err(FileError::Placement {
                                    id: self.id.to_string(),
                                    reason: "a versioned handler cannot have a suffix: the \
                                             version must be the folder's last segment"
                                        .into(),
                                });
                            }
                            let probe = handler.folder(&self.id, &self.key, now_ms, 1);
                            let base = crate::layout::version_base(&probe).to_owned();
                            handler.folder(&self.id, &self.key, now_ms, next_version(&base))
                        }
                        _ => handler.folder(&self.id, &self.key, now_ms, 1),
                    };
                    out.push(folder);
                }
                out
            }
        };
        // An empty folder is the storage root, as in Python; a lone root is stored as
        // no folder at all.
        let folders = if folders.len() == 1 && folders[0].is_empty() {
            Vec::new()
        } else {
            folders
        };
        Ok(FileConfig {
            exists_strategy: self.strategy,
            file_id: self.id.clone(),
            file_key: self.key.clone(),
            file_paths: folders,
            file_type: self.file_type.clone(),
        })
    }
}

impl From<FileConfig> for FileSpec {
    fn from(config: FileConfig) -> Self {
        Self {
            id: config.file_id,
            file_type: config.file_type,
            key: config.file_key,
            strategy: config.exists_strategy,
            placing: Placing::Folders(config.file_paths),
            retention: None,
        }
    }
}

impl From<&FileConfig> for FileSpec {
    fn from(config: &FileConfig) -> Self {
        config.clone().into()
    }
}

impl From<&FileSpec> for FileSpec {
    fn from(spec: &FileSpec) -> Self {
        spec.clone()
    }
}

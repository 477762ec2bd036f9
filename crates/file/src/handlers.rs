//! Path handlers: where a logical file's three files go.

use crate::FileId;
use crate::clock::utc_parts;

/// What decides a handler's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerKind {
    /// A fixed folder (`latest` by default).
    Latest {
        /// The folder name.
        folder: String,
    },
    /// `YYYY/MM/DD/HH` (UTC, from the file's clock), then the areas.
    Temporal {
        /// Extra folders after the time.
        areas: Vec<String>,
    },
    /// `v<N>`: an explicit version, or the next free one found in storage.
    Versioned {
        /// The version; `None` picks the next free one when the file is made.
        version: Option<u32>,
    },
    /// A fixed path.
    Custom {
        /// The path.
        path: String,
    },
    /// The file id cut into `depth` folders of `size` characters (`a1b2c3` → `a1/b2`),
    /// as the Python package's hash-sharded handler does.
    HashSharded {
        /// How many folders.
        depth: usize,
        /// Characters per folder.
        size: usize,
    },
    /// The file's key as the folder.
    KeyBased,
}

/// One path handler: a kind plus optional prefix and suffix folders.
///
/// ```
/// use memory_fs_file::PathHandler;
/// let h = PathHandler::key_based().with_prefix("data").with_suffix("current");
/// assert_eq!(h.name(), "key_based");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathHandler {
    /// What decides the folder.
    pub kind: HandlerKind,
    /// Folder before it.
    pub prefix: Option<String>,
    /// Folder after it.
    pub suffix: Option<String>,
}

impl PathHandler {
    fn of(kind: HandlerKind) -> Self {
        Self {
            kind,
            prefix: None,
            suffix: None,
        }
    }

    /// Files in `latest/`.
    pub fn latest() -> Self {
        Self::of(HandlerKind::Latest {
            folder: "latest".into(),
        })
    }

    /// Files in `YYYY/MM/DD/HH/`.
    pub fn temporal() -> Self {
        Self::of(HandlerKind::Temporal { areas: Vec::new() })
    }

    /// Files in `YYYY/MM/DD/HH/<areas…>/`.
    pub fn temporal_with_areas<I: IntoIterator<Item = S>, S: Into<String>>(areas: I) -> Self {
        Self::of(HandlerKind::Temporal {
            areas: areas.into_iter().map(Into::into).collect(),
        })
    }

    /// Files in `v<N>/` for the next version not yet in storage.
    pub fn versioned() -> Self {
        Self::of(HandlerKind::Versioned { version: None })
    }

    /// Files in `v<version>/`.
    pub fn versioned_at(version: u32) -> Self {
        Self::of(HandlerKind::Versioned {
            version: Some(version),
        })
    }

    /// Files in `path/`.
    pub fn custom(path: impl Into<String>) -> Self {
        Self::of(HandlerKind::Custom { path: path.into() })
    }

    /// Files in folders cut from the id (depth 2, 2 characters each).
    pub fn hash_sharded() -> Self {
        Self::of(HandlerKind::HashSharded { depth: 2, size: 2 })
    }

    /// Files in the folder named by the file's key.
    pub fn key_based() -> Self {
        Self::of(HandlerKind::KeyBased)
    }

    /// Adds a folder before the handler's own.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Adds a folder after the handler's own.
    pub fn with_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// The handler's name, as the Python package names it.
    pub fn name(&self) -> &'static str {
        match self.kind {
            HandlerKind::Latest { .. } => "latest",
            HandlerKind::Temporal { .. } => "temporal",
            HandlerKind::Versioned { .. } => "versioned",
            HandlerKind::Custom { .. } => "custom",
            HandlerKind::HashSharded { .. } => "hash_sharded",
            HandlerKind::KeyBased => "key_based",
        }
    }

    /// The folder for a file, given the time and (for `versioned()`) the version to use.
    pub(crate) fn folder(&self, id: &FileId, key: &str, now_ms: i64, version: u32) -> String {
        let middle = match &self.kind {
            HandlerKind::Latest { folder } => folder.clone(),
            HandlerKind::Temporal { areas } => {
                let (y, m, d, h) = utc_parts(now_ms);
                let mut p = format!("{y:04}/{m:02}/{d:02}/{h:02}");
                if !areas.is_empty() {
                    p.push('/');
                    p.push_str(&areas.join("/"));
                }
                p
            }
            HandlerKind::Versioned { version: v } => format!("v{}", v.unwrap_or(version)),
            HandlerKind::Custom { path } => path.clone(),
            HandlerKind::HashSharded { depth, size } => {
                let chars: Vec<char> = id.as_str().chars().collect();
                (0..*depth)
                    .filter_map(|i| {
                        chars
                            .get(i * size..)
                            .map(|rest| rest.iter().take(*size).collect::<String>())
                    })
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("/")
            }
            HandlerKind::KeyBased => key.to_owned(),
        };
        [
            self.prefix.as_deref(),
            Some(middle.as_str()),
            self.suffix.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
    }
}

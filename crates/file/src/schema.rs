//! The config and metadata schemas, serialized byte for byte as the Python package does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{FileError, FileId, FileType, Result, python_json};

/// How `exists` decides across several paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExistsStrategy {
    /// Every path must hold the file.
    All,
    /// At least one path must.
    Any,
    /// The first path decides (the Python default).
    #[default]
    First,
}

/// The stored config of a logical file (`<id>.<ext>.config`).
///
/// ```
/// use memory_fs_file::{FileConfig, FileId, FileType};
/// let config = FileConfig::new(FileId::new("user-profile")?, FileType::json()).with_paths(["latest"]);
/// assert!(config.to_json().starts_with("{\n    \"exists_strategy\": \"first\",\n    \"file_id\": \"user-profile\","));
/// # Ok::<(), memory_fs_file::FileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// How `exists` decides.
    pub exists_strategy: ExistsStrategy,
    /// The id.
    pub file_id: FileId,
    /// An optional key (used by the key-based path handler); `""` when none.
    pub file_key: String,
    /// The folders the file lives in (`""` is the storage root).
    pub file_paths: Vec<String>,
    /// The file type.
    pub file_type: FileType,
}

impl FileConfig {
    /// A config with no paths (the file lives at the storage root) and the default strategy.
    pub fn new(file_id: FileId, file_type: FileType) -> Self {
        Self {
            exists_strategy: ExistsStrategy::First,
            file_id,
            file_key: String::new(),
            file_paths: Vec::new(),
            file_type,
        }
    }

    /// Sets the folders.
    pub fn with_paths<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        self.file_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the exists strategy.
    pub fn with_exists_strategy(mut self, strategy: ExistsStrategy) -> Self {
        self.exists_strategy = strategy;
        self
    }

    /// Sets the file key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.file_key = key.into();
        self
    }

    /// The config as Python writes it (`json.dumps(indent=4)`).
    pub fn to_json(&self) -> String {
        python_json(&self.to_value(), 4)
    }

    /// The config as a JSON object with Python's keys, in Python's order.
    pub fn to_value(&self) -> Value {
        let mut file_type = Map::new();
        file_type.insert("name".into(), Value::from(self.file_type.name.clone()));
        file_type.insert(
            "content_type".into(),
            Value::from(self.file_type.content_type.clone()),
        );
        file_type.insert(
            "file_extension".into(),
            Value::from(self.file_type.file_extension.clone()),
        );
        if !self.file_type.alt_extensions.is_empty() {
            file_type.insert(
                "alt_extensions".into(),
                Value::from(self.file_type.alt_extensions.clone()),
            );
        }
        file_type.insert(
            "encoding".into(),
            self.file_type
                .encoding
                .map_or(Value::Null, |e| Value::from(e.name())),
        );
        file_type.insert(
            "serialization".into(),
            serde_json::to_value(self.file_type.serialization).unwrap_or(Value::Null),
        );
        let mut root = Map::new();
        root.insert(
            "exists_strategy".into(),
            serde_json::to_value(self.exists_strategy).unwrap_or(Value::Null),
        );
        root.insert("file_id".into(), Value::from(self.file_id.as_str()));
        root.insert("file_key".into(), Value::from(self.file_key.clone()));
        root.insert("file_paths".into(), Value::from(self.file_paths.clone()));
        root.insert("file_type".into(), Value::Object(file_type));
        Value::Object(root)
    }

    /// The folders the file lives in, in order; the storage root (`""`) when none.
    pub fn folders(&self) -> Vec<&str> {
        if self.file_paths.is_empty() {
            vec![""]
        } else {
            self.file_paths.iter().map(String::as_str).collect()
        }
    }

    /// Parses a stored config.
    ///
    /// # Errors
    /// [`FileError::CorruptConfig`] naming `path` for anything but a well-formed config.
    pub fn from_json(path: &str, bytes: &[u8]) -> Result<Self> {
        let corrupt = |detail: String| FileError::CorruptConfig {
            path: path.to_owned(),
            detail,
        };
        let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        Self::from_raw(raw).map_err(corrupt)
    }

    /// Parses a config from a JSON object (as [`to_value`](Self::to_value) makes it).
    ///
    /// # Errors
    /// [`FileError::CorruptConfig`] naming `path` for anything but a well-formed config.
    pub fn from_value(path: &str, value: Value) -> Result<Self> {
        let corrupt = |detail: String| FileError::CorruptConfig {
            path: path.to_owned(),
            detail,
        };
        let raw: RawConfig = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        Self::from_raw(raw).map_err(corrupt)
    }

    fn from_raw(raw: RawConfig) -> std::result::Result<Self, String> {
        let file_id = FileId::new(raw.file_id).map_err(|e| e.to_string())?;
        Ok(Self {
            exists_strategy: raw.exists_strategy,
            file_id,
            file_key: raw.file_key.unwrap_or_default(),
            file_paths: raw.file_paths,
            file_type: raw.file_type,
        })
    }
}

/// A config as stored, before its id is checked.
#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    exists_strategy: ExistsStrategy,
    file_id: String,
    #[serde(default)]
    file_key: Option<String>,
    #[serde(default)]
    file_paths: Vec<String>,
    file_type: FileType,
}

/// The stored metadata of a logical file (`<id>.<ext>.metadata`).
#[derive(Debug, Clone, PartialEq)]
pub struct FileMetadata {
    /// First 10 hex characters of the MD5 of the stored content bytes.
    pub content_hash: String,
    /// SHA-256 (hex) over the previous version's chain hash and this content; Python
    /// leaves it `null`, this crate fills it.
    pub chain_hash: Option<String>,
    /// The content path of the previous version, for versioned files.
    pub previous_version_path: Option<String>,
    /// Size of the stored content in bytes.
    pub content_size: u64,
    /// Tags, in the order they were added, without duplicates.
    pub tags: Vec<String>,
    /// When the content was saved, in milliseconds since the Unix epoch (UTC).
    pub timestamp: i64,
    /// Free-form user metadata.
    pub data: Map<String, Value>,
}

impl FileMetadata {
    /// The metadata as Python writes it (`json.dumps(indent=4)`).
    pub fn to_json(&self) -> String {
        python_json(&self.to_value(), 4)
    }

    /// The metadata as a JSON object with Python's keys, in Python's order.
    pub fn to_value(&self) -> Value {
        let mut root = Map::new();
        root.insert(
            "content__hash".into(),
            Value::from(self.content_hash.clone()),
        );
        root.insert(
            "chain_hash".into(),
            self.chain_hash.clone().map_or(Value::Null, Value::from),
        );
        root.insert(
            "previous_version_path".into(),
            self.previous_version_path
                .clone()
                .map_or(Value::Null, Value::from),
        );
        root.insert("content__size".into(), Value::from(self.content_size));
        root.insert("tags".into(), Value::from(self.tags.clone()));
        root.insert("timestamp".into(), Value::from(self.timestamp));
        root.insert("data".into(), Value::Object(self.data.clone()));
        Value::Object(root)
    }

    /// Parses stored metadata.
    ///
    /// # Errors
    /// [`FileError::CorruptMetadata`] naming `path` for anything but well-formed metadata.
    pub fn from_json(path: &str, bytes: &[u8]) -> Result<Self> {
        let raw: RawMetadata =
            serde_json::from_slice(bytes).map_err(|e| FileError::CorruptMetadata {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(Self::from_raw(raw))
    }

    /// Parses metadata from a JSON object (as [`to_value`](Self::to_value) makes it).
    ///
    /// # Errors
    /// [`FileError::CorruptMetadata`] naming `path` for anything but well-formed metadata.
    pub fn from_value(path: &str, value: Value) -> Result<Self> {
        let raw: RawMetadata =
            serde_json::from_value(value).map_err(|e| FileError::CorruptMetadata {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(Self::from_raw(raw))
    }

    fn from_raw(raw: RawMetadata) -> Self {
        Self {
            content_hash: raw.content_hash.unwrap_or_default(),
            chain_hash: raw.chain_hash,
            previous_version_path: raw.previous_version_path,
            content_size: raw.content_size,
            tags: raw.tags,
            timestamp: raw.timestamp,
            data: raw.data,
        }
    }
}

/// Metadata as stored.
#[derive(Deserialize)]
struct RawMetadata {
    #[serde(rename = "content__hash")]
    content_hash: Option<String>,
    chain_hash: Option<String>,
    previous_version_path: Option<String>,
    #[serde(rename = "content__size")]
    content_size: u64,
    #[serde(default)]
    tags: Vec<String>,
    timestamp: i64,
    #[serde(default)]
    data: Map<String, Value>,
}

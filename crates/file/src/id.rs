//! `FileId`: the validated id of a logical file.

use std::fmt;

use crate::{FileError, Result};

/// Longest id accepted.
pub const MAX_FILE_ID_LEN: usize = 128;

/// A file id: 1 to 128 characters from `[A-Za-z0-9_-]`.
///
/// [`FileId::new`] refuses anything else; [`FileId::sanitize`] maps any string the way
/// the Python package does (each other character becomes `_`, then it is cut to 128).
///
/// ```
/// use memory_fs_file::FileId;
/// assert_eq!(FileId::new("user-profile")?.as_str(), "user-profile");
/// assert!(FileId::new("my file").is_err());
/// assert_eq!(FileId::sanitize("my file.v1!é").as_str(), "my_file_v1__");
/// # Ok::<(), memory_fs_file::FileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(String);

impl FileId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`FileError::InvalidFileId`] naming the rule broken.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("it is empty")
        } else if id.chars().count() > MAX_FILE_ID_LEN {
            Some("it is longer than 128 characters")
        } else if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            Some("only letters, digits, '_' and '-' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(FileError::InvalidFileId { id, reason }),
            None => Ok(Self(id)),
        }
    }

    /// Maps any string to a valid id as Python's `Safe_Str__Id` does: every character
    /// outside `[A-Za-z0-9_-]` becomes `_`, and the result is cut to 128 characters
    /// (an empty input becomes `_`).
    pub fn sanitize(input: &str) -> Self {
        let mut id: String = input
            .chars()
            .take(MAX_FILE_ID_LEN)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if id.is_empty() {
            id.push('_');
        }
        Self(id)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

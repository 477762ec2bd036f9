//! `SafePath`: the validated storage key every provider accepts, and why a key was refused.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// Longest key accepted, in bytes (the S3 limit, and well under Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 1024;

/// Longest single segment accepted, in bytes (Linux's `NAME_MAX`).
pub const MAX_SEGMENT_LEN: usize = 255;

/// A validated storage key: relative, `/`-separated, already in normal form.
///
/// Invariants, checked once by [`SafePath::new`] and relied on by every provider:
/// - non-empty, at most [`MAX_PATH_LEN`] bytes;
/// - does not start or end with `/`, and has no empty segment (`a//b`);
/// - no segment is `.` or `..`, and no segment is longer than [`MAX_SEGMENT_LEN`] bytes;
/// - no NUL or other control character (U+0000–U+001F, U+007F).
///
/// Input that breaks a rule is refused with an [`InvalidPath`] that hands the input
/// back; nothing is ever rewritten silently (`a//b` is not turned into `a/b`).
///
/// Ordering is byte order of the key, which is the order every provider lists in.
///
/// # Examples
///
/// ```
/// use memory_fs_storage::SafePath;
///
/// let key = SafePath::new("reports/2025/summary.json")?;
/// assert_eq!(key.as_str(), "reports/2025/summary.json");
/// assert_eq!(key.file_name(), "summary.json");
///
/// let err = SafePath::new("../etc/passwd").unwrap_err();
/// assert_eq!(err.input(), "../etc/passwd");
/// # Ok::<(), memory_fs_storage::InvalidPath>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SafePath(Box<str>);

/// Why a key was refused by [`SafePath::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidPathReason {
    /// The key is empty.
    Empty,
    /// The key starts with `/`.
    Absolute,
    /// The key ends with `/`.
    TrailingSlash,
    /// The key has an empty segment (`a//b`).
    EmptySegment,
    /// A segment is `.` or `..`.
    DotSegment,
    /// The key contains NUL or another control character.
    ControlCharacter,
    /// The key is longer than [`MAX_PATH_LEN`] bytes.
    TooLong,
    /// A segment is longer than [`MAX_SEGMENT_LEN`] bytes.
    SegmentTooLong,
}

impl fmt::Display for InvalidPathReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "a key must not be empty",
            Self::Absolute => "a key must be relative (no leading '/')",
            Self::TrailingSlash => "a key must not end with '/'",
            Self::EmptySegment => "a key must not contain an empty segment ('//')",
            Self::DotSegment => "a key must not contain a '.' or '..' segment",
            Self::ControlCharacter => "a key must not contain NUL or control characters",
            Self::TooLong => "a key must be at most 1024 bytes",
            Self::SegmentTooLong => "a key segment must be at most 255 bytes",
        })
    }
}

/// A key refused by [`SafePath::new`]: the reason, and the input handed back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid storage key {input:?}: {reason}")]
pub struct InvalidPath {
    input: String,
    reason: InvalidPathReason,
}

impl InvalidPath {
    /// The rejected input, exactly as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Takes the rejected input back.
    pub fn into_input(self) -> String {
        self.input
    }

    /// Which rule the input broke.
    pub fn reason(&self) -> InvalidPathReason {
        self.reason
    }
}

impl SafePath {
    /// Validates `input` as a key; see the type's invariants.
    ///
    /// # Errors
    /// [`InvalidPath`] naming the first rule broken, with the input handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_fs_storage::{InvalidPathReason, SafePath};
    ///
    /// assert!(SafePath::new("a/b.json").is_ok());
    /// assert_eq!(SafePath::new("a//b").unwrap_err().reason(), InvalidPathReason::EmptySegment);
    /// assert_eq!(SafePath::new("/abs").unwrap_err().reason(), InvalidPathReason::Absolute);
    /// ```
    pub fn new(input: impl Into<String>) -> Result<Self, InvalidPath> {
        let input = input.into();
        match validate(&input) {
            Ok(()) => Ok(Self(input.into_boxed_str())),
            Err(reason) => Err(InvalidPath { input, reason }),
        }
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's segments, in order.
    ///
    /// ```
    /// # use memory_fs_storage::SafePath;
    /// let key = SafePath::new("a/b/c")?;
    /// assert_eq!(key.segments().collect::<Vec<_>>(), ["a", "b", "c"]);
    /// # Ok::<(), memory_fs_storage::InvalidPath>(())
    /// ```
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('/')
    }

    /// The last segment.
    ///
    /// ```
    /// # use memory_fs_storage::SafePath;
    /// assert_eq!(SafePath::new("a/b.txt")?.file_name(), "b.txt");
    /// # Ok::<(), memory_fs_storage::InvalidPath>(())
    /// ```
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The key without its last segment, or `None` for a one-segment key.
    ///
    /// ```
    /// # use memory_fs_storage::SafePath;
    /// assert_eq!(SafePath::new("a/b/c")?.parent().map(|p| p.to_string()), Some("a/b".into()));
    /// assert_eq!(SafePath::new("a")?.parent(), None);
    /// # Ok::<(), memory_fs_storage::InvalidPath>(())
    /// ```
    pub fn parent(&self) -> Option<SafePath> {
        // A prefix of a valid key that ends before a '/' is itself valid.
        self.0.rfind('/').map(|i| Self(self.0[..i].into()))
    }

    /// Appends `relative` (one or more segments) to this key, validating the result.
    ///
    /// # Errors
    /// [`InvalidPath`] if `relative` is not itself a valid key or the result is too long.
    ///
    /// ```
    /// # use memory_fs_storage::SafePath;
    /// let base = SafePath::new("latest")?;
    /// assert_eq!(base.join("doc.json")?.as_str(), "latest/doc.json");
    /// assert!(base.join("../x").is_err());
    /// # Ok::<(), memory_fs_storage::InvalidPath>(())
    /// ```
    pub fn join(&self, relative: &str) -> Result<SafePath, InvalidPath> {
        if let Err(reason) = validate(relative) {
            return Err(InvalidPath {
                input: relative.to_owned(),
                reason,
            });
        }
        Self::new(format!("{}/{}", self.0, relative))
    }

    /// Whether `self` is `prefix` or lies below it, segment by segment
    /// (`a/b` starts with `a`; `ab` does not).
    ///
    /// ```
    /// # use memory_fs_storage::SafePath;
    /// let a = SafePath::new("a")?;
    /// assert!(SafePath::new("a/b")?.starts_with(&a));
    /// assert!(SafePath::new("a")?.starts_with(&a));
    /// assert!(!SafePath::new("ab")?.starts_with(&a));
    /// # Ok::<(), memory_fs_storage::InvalidPath>(())
    /// ```
    pub fn starts_with(&self, prefix: &SafePath) -> bool {
        match self.0.strip_prefix(&*prefix.0) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

fn validate(input: &str) -> Result<(), InvalidPathReason> {
    if input.is_empty() {
        return Err(InvalidPathReason::Empty);
    }
    if input.starts_with('/') {
        return Err(InvalidPathReason::Absolute);
    }
    if input.chars().any(char::is_control) {
        return Err(InvalidPathReason::ControlCharacter);
    }
    if input.len() > MAX_PATH_LEN {
        return Err(InvalidPathReason::TooLong);
    }
    if input.ends_with('/') {
        return Err(InvalidPathReason::TrailingSlash);
    }
    for segment in input.split('/') {
        match segment {
            "" => return Err(InvalidPathReason::EmptySegment),
            "." | ".." => return Err(InvalidPathReason::DotSegment),
            s if s.len() > MAX_SEGMENT_LEN => return Err(InvalidPathReason::SegmentTooLong),
            _ => {}
        }
    }
    Ok(())
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for SafePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SafePath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for SafePath {
    type Err = InvalidPath;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for SafePath {
    type Error = InvalidPath;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for SafePath {
    type Error = InvalidPath;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SafePath> for String {
    fn from(value: SafePath) -> Self {
        value.0.into()
    }
}

#[cfg(test)]
mod tests;

//! Conditional writes and batches: [`Version`], [`Expect`], [`Write`] and [`Batch`].
//!
//! These are the pieces a commit protocol is built from: read a value with its version,
//! write it back only if nobody changed it in between, and apply several writes as one.

use sha2::{Digest as _, Sha256};

use crate::{Result, SafePath, StorageError};

/// An opaque tag of one stored value, handed out by [`Storage::file_get`] and
/// [`Storage::file_save_if`] and checked by conditional writes.
///
/// Two reads of a key give the same version exactly when nothing was written in
/// between, or when what was written has the same bytes (providers without a native
/// version tag use [`Version::of_bytes`]). A caller that needs to tell a rewrite with
/// equal bytes from no write at all keeps a counter inside the value.
///
/// [`Storage::file_get`]: crate::Storage::file_get
/// [`Storage::file_save_if`]: crate::Storage::file_save_if
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(String);

impl Version {
    /// A version from a provider's own tag (an S3 `ETag`, for example).
    pub fn new(tag: impl Into<String>) -> Self {
        Self(tag.into())
    }

    /// The version of `bytes` for providers that keep no tag of their own: the first
    /// 16 bytes of their SHA-256, in hex.
    ///
    /// ```
    /// use memory_fs_storage::Version;
    /// assert_eq!(Version::of_bytes(b"a"), Version::of_bytes(b"a"));
    /// assert_ne!(Version::of_bytes(b"a"), Version::of_bytes(b"b"));
    /// ```
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Self(hex::encode(&digest[..16]))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a conditional write expects to find at its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expect {
    /// The key holds no value.
    Absent,
    /// The key holds the value that had this version.
    Version(Version),
}

impl Expect {
    /// `Absent` for `None`, else the version.
    pub fn from_version(version: Option<Version>) -> Self {
        version.map_or(Self::Absent, Self::Version)
    }

    /// Whether a key whose value has version `current` (`None`: no value) is as
    /// expected; the error a conditional write reports when it is not.
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] when `Absent` finds a value;
    /// [`StorageError::PreconditionFailed`] when a version is expected and the key
    /// holds another one or none.
    ///
    /// ```
    /// use memory_fs_storage::{ErrorKind, Expect, SafePath, Version};
    /// let key = SafePath::new("k")?;
    /// let v = Version::of_bytes(b"x");
    /// assert!(Expect::Version(v.clone()).check(&key, Some(&v)).is_ok());
    /// let err = Expect::Absent.check(&key, Some(&v)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), memory_fs_storage::InvalidPath>(())
    /// ```
    pub fn check(&self, path: &SafePath, current: Option<&Version>) -> Result<()> {
        match (self, current) {
            (Self::Absent, None) => Ok(()),
            (Self::Absent, Some(_)) => Err(StorageError::AlreadyExists {
                path: path.to_string(),
            }),
            (Self::Version(want), Some(have)) if want == have => Ok(()),
            (Self::Version(_), _) => Err(StorageError::PreconditionFailed {
                path: path.to_string(),
            }),
        }
    }
}

/// One write of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<'a> {
    /// Creates or replaces the value at `path`.
    Put {
        /// The key.
        path: SafePath,
        /// The whole new value.
        data: &'a [u8],
    },
    /// Deletes the value at `path`, if any.
    Delete {
        /// The key.
        path: SafePath,
    },
    /// Creates or replaces the value at `to` with the value `from` holds when the batch
    /// applies (earlier writes of the batch included). A missing `from` fails the
    /// batch with [`StorageError::NotFound`].
    ///
    /// This is how a value streamed to a staging key joins an atomic batch without
    /// being held in memory.
    Copy {
        /// The key read.
        from: SafePath,
        /// The key written.
        to: SafePath,
    },
}

impl Write<'_> {
    /// The key written.
    pub fn path(&self) -> &SafePath {
        match self {
            Self::Put { path, .. } | Self::Delete { path } | Self::Copy { to: path, .. } => path,
        }
    }
}

/// Writes applied together by [`Storage::apply`], after checks on the keys they
/// depend on.
///
/// ```
/// use memory_fs_storage::{Batch, Expect, SafePath};
///
/// let head = SafePath::new("index/head")?;
/// let batch = Batch::new()
///     .check(head.clone(), Expect::Absent)
///     .put(SafePath::new("data/a")?, b"first")
///     .put(head, b"1");
/// assert_eq!(batch.writes().len(), 2);
/// # Ok::<(), memory_fs_storage::InvalidPath>(())
/// ```
///
/// [`Storage::apply`]: crate::Storage::apply
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch<'a> {
    checks: Vec<(SafePath, Expect)>,
    writes: Vec<Write<'a>>,
}

impl<'a> Batch<'a> {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check: the batch applies only if `path` is as `expect` says.
    #[must_use]
    pub fn check(mut self, path: SafePath, expect: Expect) -> Self {
        self.checks.push((path, expect));
        self
    }

    /// Adds a put.
    #[must_use]
    pub fn put(mut self, path: SafePath, data: &'a [u8]) -> Self {
        self.writes.push(Write::Put { path, data });
        self
    }

    /// Adds a delete.
    #[must_use]
    pub fn delete(mut self, path: SafePath) -> Self {
        self.writes.push(Write::Delete { path });
        self
    }

    /// Adds a copy of the value at `from` to `to`.
    #[must_use]
    pub fn copy(mut self, from: SafePath, to: SafePath) -> Self {
        self.writes.push(Write::Copy { from, to });
        self
    }

    /// Adds a check in place.
    pub fn push_check(&mut self, path: SafePath, expect: Expect) {
        self.checks.push((path, expect));
    }

    /// Adds a write in place.
    pub fn push(&mut self, write: Write<'a>) {
        self.writes.push(write);
    }

    /// The checks, in order.
    pub fn checks(&self) -> &[(SafePath, Expect)] {
        &self.checks
    }

    /// The writes, in the order they are applied.
    pub fn writes(&self) -> &[Write<'a>] {
        &self.writes
    }

    /// Whether the batch has neither checks nor writes.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.writes.is_empty()
    }
}

//! `Capabilities`: what a provider promises, so callers ask instead of special-casing.

/// What a [`Storage`](crate::Storage) provider can promise.
///
/// Start from [`Capabilities::new`] (nothing promised) and switch on what holds:
///
/// ```
/// use memory_fs_storage::Capabilities;
///
/// let caps = Capabilities::new("sqlite")
///     .with_atomic_write(true)
///     .with_atomic_batch(true)
///     .with_nested_keys(true);
/// assert!(caps.atomic_batch);
/// assert!(!caps.atomic_create);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Capabilities {
    /// Short provider name (`"memory"`, `"disk"`, `"sqlite"`, `"s3"`…), used in errors.
    pub backend: &'static str,
    /// A single `file_save` is seen whole or not at all by readers, even after a crash.
    pub atomic_write: bool,
    /// `files_save` and `files_delete` apply all items or none.
    pub atomic_batch: bool,
    /// `file_create` is atomic: two racing creators cannot both succeed.
    pub atomic_create: bool,
    /// `file_save_if` (and the checks of a batch) compare and write as one step: of two
    /// writers expecting the same version, one succeeds and the other is told.
    pub conditional_write: bool,
    /// A key and a key below it (`a` and `a/b`) can exist together; when false, the
    /// provider is tree-shaped and answers [`ErrorKind::Conflict`](crate::ErrorKind::Conflict).
    pub nested_keys: bool,
    /// Values survive the process (disk, SQLite file, S3), as opposed to memory.
    pub persistent: bool,
    /// Values are encrypted at rest by the encryption layer: bytes read through this
    /// storage are authenticated, and `file_copy` re-encrypts instead of copying on
    /// the server.
    pub encrypted: bool,
    /// Values pass through the compression layer.
    pub compressed: bool,
    /// Every change is recorded in the store's audit log by the audit layer.
    pub audited: bool,
    /// [`files_versions`](crate::Storage::files_versions) answers from the listing
    /// itself, reading no value (S3 listings carry every object's `ETag`).
    pub listed_versions: bool,
}

impl Capabilities {
    /// Nothing promised yet, for the provider named `backend`.
    pub const fn new(backend: &'static str) -> Self {
        Self {
            backend,
            atomic_write: false,
            atomic_batch: false,
            atomic_create: false,
            conditional_write: false,
            nested_keys: false,
            persistent: false,
            encrypted: false,
            compressed: false,
            audited: false,
            listed_versions: false,
        }
    }

    /// Sets [`atomic_write`](Self::atomic_write).
    pub const fn with_atomic_write(mut self, yes: bool) -> Self {
        self.atomic_write = yes;
        self
    }

    /// Sets [`atomic_batch`](Self::atomic_batch).
    pub const fn with_atomic_batch(mut self, yes: bool) -> Self {
        self.atomic_batch = yes;
        self
    }

    /// Sets [`atomic_create`](Self::atomic_create).
    pub const fn with_atomic_create(mut self, yes: bool) -> Self {
        self.atomic_create = yes;
        self
    }

    /// Sets [`conditional_write`](Self::conditional_write).
    pub const fn with_conditional_write(mut self, yes: bool) -> Self {
        self.conditional_write = yes;
        self
    }

    /// Sets [`nested_keys`](Self::nested_keys).
    pub const fn with_nested_keys(mut self, yes: bool) -> Self {
        self.nested_keys = yes;
        self
    }

    /// Sets [`persistent`](Self::persistent).
    pub const fn with_persistent(mut self, yes: bool) -> Self {
        self.persistent = yes;
        self
    }

    /// Sets [`encrypted`](Self::encrypted).
    pub const fn with_encrypted(mut self, yes: bool) -> Self {
        self.encrypted = yes;
        self
    }

    /// Sets [`compressed`](Self::compressed).
    pub const fn with_compressed(mut self, yes: bool) -> Self {
        self.compressed = yes;
        self
    }

    /// Sets [`audited`](Self::audited).
    pub const fn with_audited(mut self, yes: bool) -> Self {
        self.audited = yes;
        self
    }

    /// Sets [`listed_versions`](Self::listed_versions).
    pub const fn with_listed_versions(mut self, yes: bool) -> Self {
        self.listed_versions = yes;
        self
    }
}

//! Storage layers: a [`Storage`] that wraps a [`Storage`] and changes what is stored,
//! never the keys. Each layer sits behind its own cargo feature.
//!
//! | layer | feature | what it does |
//! |---|---|---|
//! | [`Encrypted`] | `encrypt` | AES-256-GCM-SIV in 64 KiB chunks, the key path bound into every chunk (`docs/format-encryption.md`) |
//! | [`Compressed`] | `compress` | zstd, kept only where it saves space, with a bound on the decompressed size |
//! | [`Audited`] | `audit` | an append-only, hash-chained log of every change, kept in the store itself |
//!
//! Layers compose by nesting; the usual stack is
//! `Audited::new(Compressed::new(Encrypted::new(provider, keys)))`: the audit log sees
//! (and hashes) what the application saved and is itself compressed and encrypted;
//! compression runs before encryption, where it still finds redundancy.
//!
//! What every layer keeps, so the store layer's commit protocol works unchanged:
//! - keys are never changed, so listings, prefixes and the index work as before;
//! - `apply` stays one `apply` of the storage below (its checks and its atomicity
//!   kept), `file_save_if` stays one `file_save_if`, and the [`Version`](crate::Version)s
//!   handed out are those of the storage below (of the stored bytes);
//! - [`Capabilities`](crate::Capabilities) say what the layer changes
//!   (`encrypted`, `compressed`, `audited`).
//!
//! Each layer marks the store it writes to with a small plain JSON value under
//! [`LAYER_PREFIX`] (its *marker*), so that opening the store without the layer is
//! refused with a clear error ([`check_layers`]) instead of handing ciphertext or a
//! compressed frame to a JSON parser. Markers pass through every layer unchanged,
//! are hidden from listings, and cannot be overwritten or deleted through a layer.
//!
//! A layer above the storage can name the logical operation its calls belong to
//! ([`operation::Operation::scope`]); the audit layer records that name with each
//! record, so that the several key writes of one logical save read as one operation.

use crate::{Result, SafePath, Storage, StorageError};

#[cfg(feature = "audit")]
pub mod audit;
#[cfg(feature = "compress")]
pub mod compress;
#[cfg(feature = "encrypt")]
pub mod encrypt;
pub mod operation;

#[cfg(feature = "audit")]
pub use audit::Audited;
#[cfg(feature = "compress")]
pub use compress::Compressed;
#[cfg(feature = "encrypt")]
pub use encrypt::Encrypted;

/// The folder under which layers keep their markers: `.memory-fs/layers`, inside the
/// folder the file layer reserves for the library (`.memory-fs/`, which the Python
/// package ignores), beside and apart from its records (`files`), index postings
/// (`index`) and transaction journals (`tx`).
pub const LAYER_PREFIX: &str = ".memory-fs/layers";

/// The folder of the audit log: `.memory-fs/audit`.
pub const AUDIT_PREFIX: &str = ".memory-fs/audit";

/// One of the storage layers, as named in markers, errors and store URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LayerKind {
    /// [`Encrypted`].
    Encrypt,
    /// [`Compressed`].
    Compress,
    /// [`Audited`].
    Audit,
}

impl LayerKind {
    /// Every layer, from the one nearest the provider outwards.
    pub const ALL: [LayerKind; 3] = [Self::Encrypt, Self::Compress, Self::Audit];

    /// The layer's name: `encrypt`, `compress`, `audit` (also its store-URL parameter).
    pub fn name(self) -> &'static str {
        match self {
            Self::Encrypt => "encrypt",
            Self::Compress => "compress",
            Self::Audit => "audit",
        }
    }

    /// The key of the layer's marker.
    pub fn marker_key(self) -> SafePath {
        SafePath::new(format!("{LAYER_PREFIX}/{}.json", self.name()))
            .unwrap_or_else(|e| unreachable!("a marker key is a valid literal: {e}"))
    }

    /// The four bytes every value written by the layer starts with, for layers that
    /// frame each value (the audit layer stores values unchanged).
    pub const fn magic(self) -> Option<[u8; 4]> {
        match self {
            Self::Encrypt => Some(*b"\x89MFE"),
            Self::Compress => Some(*b"\x89MFZ"),
            Self::Audit => None,
        }
    }

    /// How to open a store with this layer, for error messages.
    fn how_to_open(self) -> &'static str {
        match self {
            Self::Encrypt => "open it with the encryption layer (store URL `?encrypt=env:VAR`)",
            Self::Compress => "open it with the compression layer (store URL `?compress=zstd`)",
            Self::Audit => "open it with the audit layer (store URL `?audit=LABEL`)",
        }
    }

    /// The marker's value: which layer and format wrote the store.
    #[cfg(any(feature = "encrypt", feature = "compress", feature = "audit"))]
    fn marker_value(self) -> Vec<u8> {
        let value = match self {
            Self::Encrypt => serde_json::json!({
                "layer": "encrypt",
                "format": 1,
                "cipher": "AES-256-GCM-SIV",
                "chunk_size": 65536,
            }),
            Self::Compress => {
                serde_json::json!({"layer": "compress", "format": 1, "codec": "zstd"})
            }
            Self::Audit => serde_json::json!({"layer": "audit", "format": 1, "hash": "SHA-256"}),
        };
        value.to_string().into_bytes()
    }
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The layer whose framing `bytes` start with, if any.
///
/// ```
/// use memory_fs_storage::layers::{LayerKind, detect};
/// assert_eq!(detect(b"\x89MFE\x01rest"), Some(LayerKind::Encrypt));
/// assert_eq!(detect(br#"{"plain": "json"}"#), None);
/// ```
pub fn detect(bytes: &[u8]) -> Option<LayerKind> {
    LayerKind::ALL
        .into_iter()
        .find(|kind| kind.magic().is_some_and(|m| bytes.starts_with(&m)))
}

/// The layers whose markers `storage` holds: one listing of [`LAYER_PREFIX`].
///
/// Give it the storage *below* the layers (the provider as opened): the layers hide
/// their markers from listings.
///
/// # Errors
/// As [`Storage::files_paths`].
pub fn markers(storage: &dyn Storage) -> Result<Vec<LayerKind>> {
    let prefix = SafePath::new(LAYER_PREFIX)
        .unwrap_or_else(|e| unreachable!("the marker folder is a valid literal: {e}"));
    let keys = storage.files_paths(Some(&prefix))?;
    Ok(LayerKind::ALL
        .into_iter()
        .filter(|kind| keys.contains(&kind.marker_key()))
        .collect())
}

/// Refuses a store written through a layer that is not in `open`: the check to run
/// on the provider when a store is opened, so that an encrypted store opened without
/// its key fails here, clearly, and not later as a JSON error on ciphertext.
///
/// ```
/// use memory_fs_storage::layers::{LayerKind, check_layers};
/// # #[derive(Debug)] struct Empty;
/// # impl memory_fs_storage::Storage for Empty {
/// #   fn capabilities(&self) -> memory_fs_storage::Capabilities { memory_fs_storage::Capabilities::new("empty") }
/// #   fn file_save(&self, _: &memory_fs_storage::SafePath, _: &[u8]) -> memory_fs_storage::Result<()> { Ok(()) }
/// #   fn file_bytes(&self, _: &memory_fs_storage::SafePath) -> memory_fs_storage::Result<Option<Vec<u8>>> { Ok(None) }
/// #   fn file_exists(&self, _: &memory_fs_storage::SafePath) -> memory_fs_storage::Result<bool> { Ok(false) }
/// #   fn file_delete(&self, _: &memory_fs_storage::SafePath) -> memory_fs_storage::Result<bool> { Ok(false) }
/// #   fn files_paths(&self, _: Option<&memory_fs_storage::SafePath>) -> memory_fs_storage::Result<Vec<memory_fs_storage::SafePath>> { Ok(vec![]) }
/// #   fn clear(&self) -> memory_fs_storage::Result<()> { Ok(()) }
/// # }
/// // A store without markers opens with any layers.
/// check_layers(&Empty, &[])?;
/// check_layers(&Empty, &[LayerKind::Encrypt])?;
/// # Ok::<(), memory_fs_storage::StorageError>(())
/// ```
///
/// # Errors
/// [`ErrorKind::Integrity`](crate::ErrorKind::Integrity) naming the missing layer and how to open the store;
/// otherwise as [`Storage::files_paths`].
pub fn check_layers(storage: &dyn Storage, open: &[LayerKind]) -> Result<()> {
    for kind in markers(storage)? {
        if !open.contains(&kind) {
            let what = match kind {
                LayerKind::Encrypt => "is encrypted",
                LayerKind::Compress => "is compressed",
                LayerKind::Audit => "keeps an audit log",
            };
            return Err(StorageError::integrity(
                kind.marker_key().as_str(),
                format!(
                    "this store {what} (written through the {kind} layer, which is not open): {}; \
                     the Python memory-fs package cannot read such a store",
                    kind.how_to_open()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(any(feature = "encrypt", feature = "compress", feature = "audit"))]
mod shared;
#[cfg(any(feature = "encrypt", feature = "compress", feature = "audit"))]
use shared::{Marker, is_marker, refuse_marker, reserved};
#[cfg(any(feature = "encrypt", feature = "compress"))]
use shared::{framed_storage_methods, framing, without_markers};

//! What the layers share: their markers and the keys they keep for themselves, and,
//! for the value-framing layers, how a batch is re-encoded.

use super::{LAYER_PREFIX, LayerKind};
use crate::{ErrorKind, Result, SafePath, Storage, StorageError};

/// Whether `path` is one of the layers' markers.
pub(super) fn is_marker(path: &SafePath) -> bool {
    path.as_str()
        .strip_prefix(LAYER_PREFIX)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|name| {
            LayerKind::ALL
                .iter()
                .any(|k| name == format!("{}.json", k.name()))
        })
}

/// Refuses a write or delete of a marker through a layer.
pub(super) fn refuse_marker(path: &SafePath) -> Result<()> {
    if is_marker(path) {
        return Err(reserved(path, "a storage layer's marker"));
    }
    Ok(())
}

/// The error for a write to a key a layer keeps for itself.
pub(super) fn reserved(path: &SafePath, what: &str) -> StorageError {
    StorageError::Conflict {
        path: path.to_string(),
        reason: format!("the key is reserved for {what}"),
    }
}

/// `paths` without the markers.
#[cfg(any(feature = "encrypt", feature = "compress"))]
pub(super) fn without_markers(mut paths: Vec<SafePath>) -> Vec<SafePath> {
    paths.retain(|p| !is_marker(p));
    paths
}

/// A layer's marker, written once per handle before the layer's first write.
#[derive(Debug)]
pub(super) struct Marker {
    kind: LayerKind,
    written: std::sync::atomic::AtomicBool,
}

impl Marker {
    pub(super) fn new(kind: LayerKind) -> Self {
        Self {
            kind,
            written: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Creates the marker in `inner` unless this handle already did (another writer
    /// having created it first is fine: the content is the same).
    pub(super) fn ensure(&self, inner: &dyn Storage) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.written.load(Ordering::Acquire) {
            return Ok(());
        }
        match inner.file_create(&self.kind.marker_key(), &self.kind.marker_value()) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.written.store(true, Ordering::Release);
        Ok(())
    }

    /// Forgets that the marker was written (after `clear` removed it).
    #[cfg(any(feature = "encrypt", feature = "compress"))]
    pub(super) fn reset(&self) {
        self.written
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// The [`Storage`] methods a value-framing layer (encryption, compression) implements
/// alike, expanded inside its `impl Storage`: every value written is `$encode`d
/// (`fn(&self, &SafePath, &[u8]) -> Result<Vec<u8>>`) on its way to `self.inner` and
/// every value read is `$decode`d (`fn(&self, &SafePath, Vec<u8>) -> Result<Vec<u8>>`);
/// markers pass through unchanged and are hidden from listings, and the layer's own
/// marker (`self.marker`) is written before its first write. Keys, versions and the
/// calls below are those of the storage underneath: `apply` is one `apply`,
/// `file_save_if` one `file_save_if`. The layer writes `capabilities` and `file_copy`
/// itself.
#[cfg(any(feature = "encrypt", feature = "compress"))]
macro_rules! framed_storage_methods {
    ($encode:ident, $decode:ident) => {
        fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
            refuse_marker(path)?;
            self.marker.ensure(&self.inner)?;
            self.inner.file_save(path, &self.$encode(path, data)?)
        }

        fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
            let stored = self.inner.file_bytes(path)?;
            if is_marker(path) {
                return Ok(stored);
            }
            stored.map(|s| self.$decode(path, s)).transpose()
        }

        fn file_exists(&self, path: &SafePath) -> Result<bool> {
            self.inner.file_exists(path)
        }

        fn file_delete(&self, path: &SafePath) -> Result<bool> {
            refuse_marker(path)?;
            self.inner.file_delete(path)
        }

        fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
            Ok(without_markers(self.inner.files_paths(prefix)?))
        }

        fn watch_keys(&self, prefix: &SafePath) -> Result<Option<crate::KeyWatch>> {
            // Keys are unchanged: what changes below is what changes here.
            self.inner.watch_keys(prefix)
        }

        fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
            // Keys are unchanged and versions are the inner store's (as `file_get` says).
            let mut listed = self.inner.files_versions(prefix)?;
            listed.retain(|(p, _)| !is_marker(p));
            Ok(listed)
        }

        fn clear(&self) -> Result<()> {
            self.inner.clear()?;
            self.marker.reset();
            Ok(())
        }

        fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
            if is_marker(path) {
                // A layer above marking the store: markers pass through unchanged.
                return self.inner.file_create(path, data);
            }
            self.marker.ensure(&self.inner)?;
            self.inner.file_create(path, &self.$encode(path, data)?)
        }

        fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
            let stored = self.inner.file_get(path)?;
            if is_marker(path) {
                return Ok(stored);
            }
            stored
                .map(|(s, version)| Ok((self.$decode(path, s)?, version)))
                .transpose()
        }

        fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
            refuse_marker(path)?;
            self.marker.ensure(&self.inner)?;
            self.inner
                .file_save_if(path, &self.$encode(path, data)?, expect)
        }

        fn apply(&self, batch: &Batch<'_>) -> Result<()> {
            let encoded = Encoded::new(
                batch,
                |path, data| self.$encode(path, data),
                |path| self.file_bytes(path),
            )?;
            if !batch.writes().is_empty() {
                self.marker.ensure(&self.inner)?;
            }
            self.inner.apply(&encoded.batch())
        }

        fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
            let encoded = items
                .iter()
                .map(|(path, data)| {
                    refuse_marker(path)?;
                    Ok((path.clone(), self.$encode(path, data)?))
                })
                .collect::<Result<Vec<_>>>()?;
            if !items.is_empty() {
                self.marker.ensure(&self.inner)?;
            }
            let borrowed: Vec<(SafePath, &[u8])> = encoded
                .iter()
                .map(|(p, d)| (p.clone(), d.as_slice()))
                .collect();
            self.inner.files_save(&borrowed)
        }

        fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
            paths.iter().try_for_each(refuse_marker)?;
            self.inner.files_delete(paths)
        }

        fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
            paths.iter().try_for_each(refuse_marker)?;
            self.inner.files_remove(paths)
        }
    };
}
#[cfg(any(feature = "encrypt", feature = "compress"))]
pub(super) use framed_storage_methods;

#[cfg(any(feature = "encrypt", feature = "compress"))]
pub(super) mod framing {
    //! What the value-framing layers (encryption, compression) share: both transform
    //! each value whole and forward everything else.

    use crate::{Batch, Expect, Result, SafePath, Write};

    /// A batch whose puts carry encoded values, owned until the batch below is built.
    pub(in crate::layers) struct Encoded {
        checks: Vec<(SafePath, Expect)>,
        writes: Vec<(SafePath, Option<Vec<u8>>)>,
    }

    impl Encoded {
        /// Encodes every put of `batch` with `encode(key, data)`; checks, deletes and
        /// the order are kept. A copy becomes a put of the value `from` holds at that
        /// point of the batch (read with `read`, which decodes, unless the batch wrote
        /// it earlier), encoded for its new key. Markers are refused.
        pub(in crate::layers) fn new(
            batch: &Batch<'_>,
            mut encode: impl FnMut(&SafePath, &[u8]) -> Result<Vec<u8>>,
            mut read: impl FnMut(&SafePath) -> Result<Option<Vec<u8>>>,
        ) -> Result<Self> {
            let mut writes = Vec::with_capacity(batch.writes().len());
            for (i, write) in batch.writes().iter().enumerate() {
                super::refuse_marker(write.path())?;
                writes.push(match write {
                    Write::Put { path, data } => (path.clone(), Some(encode(path, data)?)),
                    Write::Delete { path } => (path.clone(), None),
                    Write::Copy { from, to } => {
                        let written = batch.writes()[..i].iter().rfind(|w| w.path() == from);
                        let plain = match written {
                            Some(Write::Put { data, .. }) => Some(data.to_vec()),
                            Some(Write::Delete { .. }) => None,
                            Some(Write::Copy { .. }) | None => read(from)?,
                        };
                        let Some(plain) = plain else {
                            return Err(crate::StorageError::NotFound {
                                path: from.to_string(),
                            });
                        };
                        (to.clone(), Some(encode(to, &plain)?))
                    }
                });
            }
            Ok(Self {
                checks: batch.checks().to_vec(),
                writes,
            })
        }

        /// The batch to apply below: one `apply`, so its checks and atomicity hold.
        pub(in crate::layers) fn batch(&self) -> Batch<'_> {
            let mut out = Batch::new();
            for (path, expect) in &self.checks {
                out.push_check(path.clone(), expect.clone());
            }
            for (path, data) in &self.writes {
                out.push(match data {
                    Some(data) => Write::Put {
                        path: path.clone(),
                        data,
                    },
                    None => Write::Delete { path: path.clone() },
                });
            }
            out
        }
    }
}

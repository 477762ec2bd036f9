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

//! The compression layer: values compressed with zstd on the way down, kept
//! compressed only where that saves space, and decompressed within a size bound.
//!
//! Stored form (format 1): the magic `89 4D 46 5A` (`"\x89MFZ"`), one codec byte,
//! then the payload.
//!
//! | codec | payload |
//! |---|---|
//! | `0x00` stored | the value itself (compression would not have made it smaller) |
//! | `0x01` zstd | one zstd frame with its content size and checksum |
//!
//! A zstd frame must declare its decompressed size, and a value declaring more than
//! the layer's bound ([`DEFAULT_MAX_SIZE`] unless set) is refused before anything is
//! decompressed; decompression writes into a buffer of the declared size and fails if
//! the frame holds more, so a small value cannot expand into an allocation of any
//! size (a decompression bomb).
//!
//! Compression runs before encryption when both layers are used
//! (`Compressed::new(Encrypted::new(..))`): ciphertext does not compress. The sizes of
//! compressed values can tell something about how repetitive they are; a value whose
//! secrecy must not depend on that should not share a value with attacker-chosen text.

use std::cell::RefCell;
use std::io::Cursor;

use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe;

use super::framing::Encoded;
use super::{LayerKind, Marker, framed_storage_methods, is_marker, refuse_marker, without_markers};
use crate::{Batch, Capabilities, Expect, Result, SafePath, Storage, StorageError, Version};

/// The zstd level used unless another is set (zstd's own default).
pub const DEFAULT_LEVEL: i32 = 3;

/// The largest decompressed value accepted unless another bound is set: 1 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// Bytes before the payload: magic and codec.
pub const HEADER_SIZE: usize = 5;

const CODEC_STORED: u8 = 0;
const CODEC_ZSTD: u8 = 1;

const MAGIC: [u8; 4] = match LayerKind::Compress.magic() {
    Some(m) => m,
    None => [0; 4],
};

/// A zstd level outside the range the library supports.
#[derive(Debug, Clone, thiserror::Error)]
#[error("zstd level {level} is out of range ({min} to {max})")]
pub struct InvalidLevel {
    /// The level asked for.
    pub level: i32,
    /// The fastest level.
    pub min: i32,
    /// The strongest level.
    pub max: i32,
}

thread_local! {
    // zstd contexts are costly to make (hundreds of KiB of tables); one per thread
    // is reused across values, which keeps small values cheap.
    static COMPRESSOR: RefCell<Option<(i32, Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// A storage whose values are zstd-compressed (where that saves space) before they
/// reach `S`. Keys, listings, versions and batches are those of `S`.
#[derive(Debug)]
pub struct Compressed<S> {
    inner: S,
    level: i32,
    max_size: u64,
    marker: Marker,
}

impl<S: Storage> Compressed<S> {
    /// Wraps `inner`, compressing at [`DEFAULT_LEVEL`] and refusing values that
    /// would decompress to more than [`DEFAULT_MAX_SIZE`] bytes.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            level: DEFAULT_LEVEL,
            max_size: DEFAULT_MAX_SIZE,
            marker: Marker::new(LayerKind::Compress),
        }
    }

    /// The same layer compressing at `level` (negative levels are zstd's fast ones).
    ///
    /// ```
    /// # use memory_fs_storage::layers::compress::Compressed;
    /// # #[derive(Debug)] struct S;
    /// # impl memory_fs_storage::Storage for S {
    /// #   fn capabilities(&self) -> memory_fs_storage::Capabilities { memory_fs_storage::Capabilities::new("s") }
    /// #   fn file_save(&self, _: &memory_fs_storage::SafePath, _: &[u8]) -> memory_fs_storage::Result<()> { Ok(()) }
    /// #   fn file_bytes(&self, _: &memory_fs_storage::SafePath) -> memory_fs_storage::Result<Option<Vec<u8>>> { Ok(None) }
    /// #   fn file_exists(&self, _: &memory_fs_storage::SafePath) -> memory_fs_storage::Result<bool> { Ok(false) }
    /// #   fn file_delete(&self, _: &memory_fs_storage::SafePath) -> memory_fs_storage::Result<bool> { Ok(false) }
    /// #   fn files_paths(&self, _: Option<&memory_fs_storage::SafePath>) -> memory_fs_storage::Result<Vec<memory_fs_storage::SafePath>> { Ok(vec![]) }
    /// #   fn clear(&self) -> memory_fs_storage::Result<()> { Ok(()) }
    /// # }
    /// assert!(Compressed::new(S).with_level(19).is_ok());
    /// assert!(Compressed::new(S).with_level(99).is_err());
    /// ```
    ///
    /// # Errors
    /// [`InvalidLevel`] outside zstd's range.
    pub fn with_level(mut self, level: i32) -> std::result::Result<Self, InvalidLevel> {
        let (min, max) = (zstd_safe::min_c_level(), zstd_safe::max_c_level());
        if !(min..=max).contains(&level) || level == 0 {
            return Err(InvalidLevel { level, min, max });
        }
        self.level = level;
        Ok(self)
    }

    /// The same layer refusing values that declare more than `bytes` decompressed.
    #[must_use]
    pub fn with_max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// The zstd level in use.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// The storage underneath (holding the compressed form).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn backend(&self) -> &'static str {
        self.inner.capabilities().backend
    }

    /// The stored form of `data`: compressed if that is smaller, else as it is.
    fn encode(&self, path: &SafePath, data: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(HEADER_SIZE + zstd_safe::compress_bound(data.len()));
        out.extend_from_slice(&MAGIC);
        out.push(CODEC_ZSTD);
        let mut cursor = Cursor::new(out);
        cursor.set_position(HEADER_SIZE as u64);
        let written = COMPRESSOR.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                if slot.as_ref().is_none_or(|(level, _)| *level != self.level) {
                    *slot = Some((self.level, self.compressor()?));
                }
                match slot.as_mut() {
                    Some((_, compressor)) => compressor.compress_to_buffer(data, &mut cursor),
                    None => Err(std::io::Error::other("no compressor")),
                }
            }
            Err(_) => self.compressor()?.compress_to_buffer(data, &mut cursor),
        });
        let written =
            written.map_err(|e| StorageError::backend(self.backend(), Some(path.as_str()), e))?;
        let mut out = cursor.into_inner();
        if written < data.len() {
            out.truncate(HEADER_SIZE + written);
            return Ok(out);
        }
        out.clear();
        out.reserve(HEADER_SIZE + data.len());
        out.extend_from_slice(&MAGIC);
        out.push(CODEC_STORED);
        out.extend_from_slice(data);
        Ok(out)
    }

    fn compressor(&self) -> std::io::Result<Compressor<'static>> {
        let mut compressor = Compressor::new(self.level)?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))?;
        Ok(compressor)
    }

    /// The value whose stored form is `stored`.
    fn decode(&self, path: &SafePath, mut stored: Vec<u8>) -> Result<Vec<u8>> {
        let bad = |reason: String| StorageError::integrity(path.as_str(), reason);
        if !stored.starts_with(&MAGIC) {
            return Err(bad(match super::detect(&stored) {
                Some(other) => format!(
                    "the value is framed by the {other} layer, not compressed: the layers are stacked in another order than when it was written"
                ),
                None => "the value has no compression header: it was written without the compression layer".to_owned(),
            }));
        }
        if stored.len() < HEADER_SIZE {
            return Err(bad("truncated: no codec byte after the header".to_owned()));
        }
        match stored[4] {
            CODEC_STORED => {
                stored.drain(..HEADER_SIZE);
                Ok(stored)
            }
            CODEC_ZSTD => {
                let frame = &stored[HEADER_SIZE..];
                let declared = match zstd_safe::get_frame_content_size(frame) {
                    Ok(Some(size)) => size,
                    Ok(None) => {
                        return Err(bad(
                            "the zstd frame does not declare its decompressed size".to_owned()
                        ));
                    }
                    Err(_) => return Err(bad("the zstd frame header is corrupt".to_owned())),
                };
                if declared > self.max_size {
                    return Err(StorageError::InvalidData {
                        path: path.to_string(),
                        reason: format!(
                            "the compressed value declares {declared} bytes, over this layer's bound of {} bytes (a decompression bomb is refused; raise the bound to read it)",
                            self.max_size
                        ),
                    });
                }
                let capacity = usize::try_from(declared)
                    .map_err(|_| bad(format!("{declared} bytes do not fit in memory")))?;
                let out = DECOMPRESSOR.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut slot) => {
                        if slot.is_none() {
                            *slot = Some(Decompressor::new()?);
                        }
                        match slot.as_mut() {
                            Some(d) => d.decompress(frame, capacity),
                            None => Err(std::io::Error::other("no decompressor")),
                        }
                    }
                    Err(_) => Decompressor::new()?.decompress(frame, capacity),
                });
                let out = out.map_err(|e| bad(format!("the zstd frame is corrupt: {e}")))?;
                if out.len() as u64 != declared {
                    return Err(bad(format!(
                        "the zstd frame declares {declared} bytes and holds {}",
                        out.len()
                    )));
                }
                Ok(out)
            }
            codec => Err(bad(format!(
                "compression codec {codec} is not known (this build reads 0 and 1)"
            ))),
        }
    }
}

impl<S: Storage> Storage for Compressed<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities().with_compressed(true)
    }

    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        // The stored form does not depend on the key, so the copy below (server-side
        // where the provider has one) is a copy of the value.
        refuse_marker(to)?;
        if is_marker(from) {
            return Err(super::reserved(from, "a storage layer's marker"));
        }
        self.inner.file_copy(from, to)
    }

    framed_storage_methods!(encode, decode);
}

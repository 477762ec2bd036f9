//! The encrypted value format, version 1 (`docs/format-encryption.md` is its
//! specification; the test vectors there come from this code).
//!
//! ```text
//! value  = header chunk+
//! header = magic "\x89MFE" | version 0x01 | key id (8 bytes) | nonce N (12 bytes)   25 bytes
//! chunk  = AES-256-GCM-SIV(key, N_i, AD_i, plaintext chunk i) | tag (16 bytes)
//! N_i    = N with its last four bytes XOR big-endian u32 i
//! AD_i   = header | big-endian u32 i | final flag (0x00, or 0x01 on the last chunk) | key path (UTF-8)
//! ```
//!
//! Every chunk holds 64 KiB of plaintext except the last, which holds the rest (0 to
//! 64 KiB bytes; an empty value is one empty final chunk). The chunk index and the
//! final flag in the nonce and the associated data make a swapped, dropped, repeated or
//! appended chunk fail to authenticate; the key path in the associated data makes a
//! value moved or copied to another key fail; the header in the associated data makes
//! an edited key id or version fail.

use aes_gcm_siv::aead::inout::InOutBuf;
use aes_gcm_siv::{AeadInOut, Aes256GcmSiv, Nonce, Tag};

use super::key::KeyId;
use crate::layers::LayerKind;

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Bytes of the authentication tag after each chunk.
pub const TAG_SIZE: usize = 16;
/// Bytes of the header before the first chunk.
pub const HEADER_SIZE: usize = 4 + 1 + KeyId::LEN + NONCE_SIZE;
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Bytes of the per-value nonce.
pub const NONCE_SIZE: usize = 12;

/// The most chunks a value may have (the chunk index is a `u32`): 256 TiB.
const MAX_CHUNKS: usize = u32::MAX as usize;

const MAGIC: [u8; 4] = match LayerKind::Encrypt.magic() {
    Some(m) => m,
    None => [0; 4],
};

/// The size of the stored form of a `len`-byte value.
///
/// ```
/// use memory_fs_storage::layers::encrypt::sealed_len;
/// assert_eq!(sealed_len(0), 25 + 16);
/// assert_eq!(sealed_len(65536), 25 + 65536 + 16);
/// assert_eq!(sealed_len(65537), 25 + 65537 + 32);
/// ```
pub const fn sealed_len(len: usize) -> usize {
    HEADER_SIZE + len + TAG_SIZE * chunk_count(len)
}

const fn chunk_count(len: usize) -> usize {
    if len == 0 {
        1
    } else {
        len.div_ceil(CHUNK_SIZE)
    }
}

/// The header fields of a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) key_id: KeyId,
    pub(super) nonce: [u8; NONCE_SIZE],
}

impl Header {
    fn bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5..5 + KeyId::LEN].copy_from_slice(self.key_id.as_bytes());
        out[5 + KeyId::LEN..].copy_from_slice(&self.nonce);
        out
    }

    /// Reads the header of `stored`, or says why it is not one.
    pub(super) fn parse(stored: &[u8]) -> Result<Self, String> {
        if !stored.starts_with(&MAGIC) {
            return Err(match crate::layers::detect(stored) {
                Some(other) => format!(
                    "the value is framed by the {other} layer, not encrypted: the layers are stacked in another order than when it was written"
                ),
                None => "the value is not encrypted (no encryption header): it was written without the encryption layer".to_owned(),
            });
        }
        if stored.len() < HEADER_SIZE {
            return Err(format!(
                "truncated: {} bytes, shorter than the {HEADER_SIZE}-byte header",
                stored.len()
            ));
        }
        if stored[4] != VERSION {
            return Err(format!(
                "encryption format version {} is not known (this build reads version {VERSION})",
                stored[4]
            ));
        }
        let mut id = [0u8; KeyId::LEN];
        id.copy_from_slice(&stored[5..5 + KeyId::LEN]);
        let mut nonce = [0u8; NONCE_SIZE];
        nonce.copy_from_slice(&stored[5 + KeyId::LEN..HEADER_SIZE]);
        Ok(Self {
            key_id: KeyId::from_bytes(id),
            nonce,
        })
    }
}

/// The nonce and associated data of each chunk, rebuilt in place chunk by chunk.
struct ChunkParams {
    base: [u8; NONCE_SIZE],
    ad: Vec<u8>,
}

impl ChunkParams {
    fn new(header: &Header, path: &str) -> Self {
        let mut ad = Vec::with_capacity(HEADER_SIZE + 5 + path.len());
        ad.extend_from_slice(&header.bytes());
        ad.extend_from_slice(&[0; 5]);
        ad.extend_from_slice(path.as_bytes());
        Self {
            base: header.nonce,
            ad,
        }
    }

    /// Sets chunk `index` (final or not) and gives its nonce and associated data.
    fn chunk(&mut self, index: u32, last: bool) -> (Nonce, &[u8]) {
        let mut nonce = self.base;
        for (n, i) in nonce[NONCE_SIZE - 4..].iter_mut().zip(index.to_be_bytes()) {
            *n ^= i;
        }
        self.ad[HEADER_SIZE..HEADER_SIZE + 4].copy_from_slice(&index.to_be_bytes());
        self.ad[HEADER_SIZE + 4] = u8::from(last);
        (Nonce::from(nonce), &self.ad)
    }
}

/// Encrypts `plaintext` for the key `path` under `header`.
///
/// # Errors
/// A value of more than 2^32 chunks (256 TiB), or a cipher refusal, in words.
pub(super) fn seal(
    cipher: &Aes256GcmSiv,
    header: &Header,
    path: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    let chunks = chunk_count(plaintext.len());
    if chunks > MAX_CHUNKS {
        return Err(format!(
            "a value of {} bytes is over the format's limit of 2^32 chunks",
            plaintext.len()
        ));
    }
    let mut out = Vec::with_capacity(sealed_len(plaintext.len()));
    out.extend_from_slice(&header.bytes());
    let mut params = ChunkParams::new(header, path);
    for index in 0..chunks {
        let piece = &plaintext[(index * CHUNK_SIZE).min(plaintext.len())
            ..((index + 1) * CHUNK_SIZE).min(plaintext.len())];
        let start = out.len();
        out.resize(start + piece.len(), 0);
        let (nonce, ad) = params.chunk(index as u32, index + 1 == chunks);
        let buf = InOutBuf::new(piece, &mut out[start..])
            .map_err(|_| "chunk buffers differ in length".to_owned())?;
        let tag = cipher
            .encrypt_inout_detached(&nonce, ad, buf)
            .map_err(|_| format!("the cipher refused chunk {index}"))?;
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Where each chunk of a stored value of `len` bytes sits: its start, the length of
/// its ciphertext (the tag follows it), and whether it is the last.
fn chunks_of(len: usize) -> Result<impl Iterator<Item = (usize, usize, bool)>, String> {
    let body = len.saturating_sub(HEADER_SIZE);
    let full = CHUNK_SIZE + TAG_SIZE;
    let chunks = body.div_ceil(full).max(1);
    let last_len = body - (chunks - 1) * full;
    if len < HEADER_SIZE || last_len < TAG_SIZE {
        return Err(format!(
            "truncated: {body} bytes after the header do not end in a whole chunk"
        ));
    }
    Ok((0..chunks).map(move |index| {
        let start = HEADER_SIZE + index * full;
        let data = if index + 1 == chunks {
            last_len - TAG_SIZE
        } else {
            CHUNK_SIZE
        };
        (start, data, index + 1 == chunks)
    }))
}

fn failed(index: usize, len: usize) -> String {
    let chunks = len
        .saturating_sub(HEADER_SIZE)
        .div_ceil(CHUNK_SIZE + TAG_SIZE)
        .max(1);
    format!(
        "chunk {index} of {chunks} failed authentication: the value was altered, \
         truncated, reordered, or moved here from another key"
    )
}

/// Decrypts `stored` (whose header is `header`) for the key `path` into a new buffer.
///
/// # Errors
/// Why the bytes are not a value sealed for `path` with this key, in words.
pub(super) fn open(
    cipher: &Aes256GcmSiv,
    header: &Header,
    path: &str,
    stored: &[u8],
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(stored.len().saturating_sub(HEADER_SIZE));
    let mut params = ChunkParams::new(header, path);
    for (index, (start, len, last)) in chunks_of(stored.len())?.enumerate() {
        let tag = Tag::try_from(&stored[start + len..start + len + TAG_SIZE])
            .map_err(|_| "a tag is not 16 bytes".to_owned())?;
        let at = out.len();
        out.extend_from_slice(&stored[start..start + len]);
        let (nonce, ad) = params.chunk(index as u32, last);
        cipher
            .decrypt_inout_detached(&nonce, ad, (&mut out[at..]).into(), &tag)
            .map_err(|_| failed(index, stored.len()))?;
    }
    Ok(out)
}

/// Decrypts `stored` (whose header is `header`) for the key `path` in its own buffer:
/// each chunk is decrypted where it lies and moved down over the header and the tags
/// before it, so no second buffer of the value's size is allocated.
///
/// # Errors
/// As [`open`].
pub(super) fn open_owned(
    cipher: &Aes256GcmSiv,
    header: &Header,
    path: &str,
    mut stored: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let total = stored.len();
    let mut params = ChunkParams::new(header, path);
    let mut written = 0;
    for (index, (start, len, last)) in chunks_of(total)?.enumerate() {
        let tag = Tag::try_from(&stored[start + len..start + len + TAG_SIZE])
            .map_err(|_| "a tag is not 16 bytes".to_owned())?;
        let (nonce, ad) = params.chunk(index as u32, last);
        cipher
            .decrypt_inout_detached(&nonce, ad, (&mut stored[start..start + len]).into(), &tag)
            .map_err(|_| failed(index, total))?;
        stored.copy_within(start..start + len, written);
        written += len;
    }
    stored.truncate(written);
    Ok(stored)
}

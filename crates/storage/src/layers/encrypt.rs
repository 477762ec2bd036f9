//! The encryption layer: every value encrypted at rest with AES-256-GCM-SIV, in
//! 64 KiB chunks, bound to its key (`docs/format-encryption.md`).
//!
//! ```
//! use memory_fs_storage::layers::encrypt::{Encrypted, EncryptionKey};
//! # use memory_fs_storage::{SafePath, Storage};
//! # fn demo(provider: impl Storage) -> Result<(), Box<dyn std::error::Error>> {
//! let store = Encrypted::new(provider, EncryptionKey::from_spec("env:MEMORY_FS_KEY")?);
//! store.file_save(&SafePath::new("notes/today.txt")?, b"secret")?;
//! # Ok(()) }
//! ```
//!
//! Why AES-256-GCM-SIV (RFC 8452) rather than XChaCha20-Poly1305: it runs on the AES
//! and carry-less multiply instructions of x86-64 and ARMv8 (RustCrypto's crate uses
//! them when the CPU has them; the throughput is measured in `docs/benchmarks.md`),
//! and it is nonce-misuse resistant: each value's 96-bit nonce is random, and should
//! two values ever draw the same one, only identical chunks under identical associated
//! data (same key path, same chunk index) would be recognisable as identical, nothing
//! more. Without AES instructions it falls back to a constant-time software AES that
//! is several times slower.

mod format;
mod key;

pub use format::{CHUNK_SIZE, HEADER_SIZE, NONCE_SIZE, TAG_SIZE, VERSION, sealed_len};
pub use key::{EncryptionKey, KeyError, KeyId, Keyring};

use format::Header;

use super::framing::Encoded;
use super::{LayerKind, Marker, framed_storage_methods, is_marker, refuse_marker, without_markers};
use crate::{
    Batch, Capabilities, ErrorKind, Expect, Result, SafePath, Storage, StorageError, Version,
};

/// A storage whose values are encrypted before they reach `S` and authenticated when
/// they come back. Keys, listings, versions and batches are those of `S`.
///
/// A value read back is exactly the value written at that key, or an
/// [`ErrorKind::Integrity`] error: never garbage. `file_copy` decrypts and re-encrypts
/// (the key path is part of what is authenticated, so copied ciphertext would not
/// open at its new key).
#[derive(Debug)]
pub struct Encrypted<S> {
    inner: S,
    keys: Keyring,
    marker: Marker,
}

/// What [`Encrypted::rekey`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Values re-encrypted under the primary key.
    pub rewritten: usize,
    /// Values that were already under the primary key.
    pub current: usize,
}

impl<S: Storage> Encrypted<S> {
    /// Wraps `inner`: values are encrypted with the keyring's primary key and
    /// decrypted with whichever of its keys wrote them.
    pub fn new(inner: S, keys: impl Into<Keyring>) -> Self {
        Self {
            inner,
            keys: keys.into(),
            marker: Marker::new(LayerKind::Encrypt),
        }
    }

    /// The storage underneath (holding ciphertext).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The keys this layer uses.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    fn backend(&self) -> &'static str {
        self.inner.capabilities().backend
    }

    fn seal(&self, path: &SafePath, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_SIZE];
        getrandom::fill(&mut nonce).map_err(|e| {
            StorageError::backend(
                self.backend(),
                Some(path.as_str()),
                std::io::Error::other(format!("no randomness for a nonce: {e}")),
            )
        })?;
        let (key, cipher) = self.keys.primary_cipher();
        seal_parts(key, cipher, nonce, path, plaintext)
    }

    fn open(&self, path: &SafePath, stored: Vec<u8>) -> Result<Vec<u8>> {
        open_owned(&self.keys, path, stored)
    }

    /// Re-encrypts every value not yet under the primary key (markers aside), each with
    /// a conditional write so that a value changed meanwhile is read again rather than
    /// overwritten. Resumable: values already under the primary key are left alone, so
    /// an interrupted run is finished by running it again.
    ///
    /// Open the store with the new key first and the old ones after it
    /// ([`Keyring::with_old`]); once this returns, the old keys are no longer needed.
    /// Writers still using an old key as their primary go on writing with it, so stop
    /// them (or move them to the new key) first. On a provider without
    /// [`Capabilities::conditional_write`] the check and the write are two steps.
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] for a value that does not open with any key given (the
    /// run stops there; values done so far stay re-encrypted); otherwise as the
    /// storage below.
    pub fn rekey(&self) -> Result<RekeyReport> {
        let primary = self.keys.primary().id();
        let mut report = RekeyReport::default();
        self.marker.ensure(&self.inner)?;
        for path in self.inner.files_paths(None)? {
            if is_marker(&path) {
                continue;
            }
            loop {
                let Some((stored, version)) = self.inner.file_get(&path)? else {
                    break;
                };
                let header = Header::parse(&stored)
                    .map_err(|reason| StorageError::integrity(path.as_str(), reason))?;
                if header.key_id == primary {
                    report.current += 1;
                    break;
                }
                let plaintext = self.open(&path, stored)?;
                let sealed = self.seal(&path, &plaintext)?;
                match self
                    .inner
                    .file_save_if(&path, &sealed, &Expect::Version(version))
                {
                    Ok(_) => {
                        report.rewritten += 1;
                        break;
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::PreconditionFailed | ErrorKind::AlreadyExists
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(report)
    }
}

/// Encrypts `plaintext` for the key `path` exactly as the layer does, but with the
/// nonce given: for other implementations of the format and for its test vectors
/// (`docs/format-encryption.md`). The layer itself draws a fresh random nonce for every
/// value; a nonce must never be chosen twice for one key.
///
/// ```
/// use memory_fs_storage::SafePath;
/// use memory_fs_storage::layers::encrypt::{EncryptionKey, Keyring, open_value, seal_with_nonce, sealed_len};
/// let key = EncryptionKey::from_bytes([1; 32]);
/// let path = SafePath::new("notes/a.txt")?;
/// let stored = seal_with_nonce(&key, [9; 12], &path, b"hello")?;
/// assert_eq!(stored.len(), sealed_len(5));
/// assert_eq!(open_value(&Keyring::new(key), &path, &stored)?, b"hello");
/// # Ok::<(), memory_fs_storage::StorageError>(())
/// ```
///
/// # Errors
/// [`ErrorKind::Unsupported`] for a value over the format's limit (2^32 chunks).
pub fn seal_with_nonce(
    key: &EncryptionKey,
    nonce: [u8; NONCE_SIZE],
    path: &SafePath,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    seal_parts(key, &key.cipher(), nonce, path, plaintext)
}

fn seal_parts(
    key: &EncryptionKey,
    cipher: &aes_gcm_siv::Aes256GcmSiv,
    nonce: [u8; NONCE_SIZE],
    path: &SafePath,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let header = Header {
        key_id: key.id(),
        nonce,
    };
    format::seal(cipher, &header, path.as_str(), plaintext).map_err(|reason| {
        StorageError::Unsupported {
            backend: "encrypt",
            operation: format!("encrypting {path}: {reason}"),
        }
    })
}

/// Decrypts the stored value of the key `path` with whichever key of `keys` its header
/// names: the plaintext, or an [`ErrorKind::Integrity`] error saying why not.
///
/// # Errors
/// [`ErrorKind::Integrity`] for a value that is not encrypted, was encrypted with a key
/// not in `keys`, or does not authenticate (altered, truncated, reordered, or moved
/// from another key).
pub fn open_value(keys: &Keyring, path: &SafePath, stored: &[u8]) -> Result<Vec<u8>> {
    let (header, cipher) = opening(keys, path, stored)?;
    format::open(cipher, &header, path.as_str(), stored)
        .map_err(|reason| StorageError::integrity(path.as_str(), reason))
}

/// As [`open_value`], decrypting in the stored value's own buffer (what the layer does
/// with the value the storage below hands it): no second buffer of the value's size.
///
/// ```
/// use memory_fs_storage::SafePath;
/// use memory_fs_storage::layers::encrypt::{EncryptionKey, Keyring, open_owned, seal_with_nonce};
/// let key = EncryptionKey::from_bytes([1; 32]);
/// let path = SafePath::new("notes/a.txt")?;
/// let stored = seal_with_nonce(&key, [9; 12], &path, &[7; 200_000])?;
/// assert_eq!(open_owned(&Keyring::new(key), &path, stored)?, [7; 200_000]);
/// # Ok::<(), memory_fs_storage::StorageError>(())
/// ```
///
/// # Errors
/// As [`open_value`].
pub fn open_owned(keys: &Keyring, path: &SafePath, stored: Vec<u8>) -> Result<Vec<u8>> {
    let (header, cipher) = opening(keys, path, &stored)?;
    format::open_owned(cipher, &header, path.as_str(), stored)
        .map_err(|reason| StorageError::integrity(path.as_str(), reason))
}

/// The header of `stored` and the cipher of the key it names.
fn opening<'k>(
    keys: &'k Keyring,
    path: &SafePath,
    stored: &[u8],
) -> Result<(Header, &'k aes_gcm_siv::Aes256GcmSiv)> {
    let header =
        Header::parse(stored).map_err(|reason| StorageError::integrity(path.as_str(), reason))?;
    let cipher = keys.cipher_for(header.key_id).ok_or_else(|| {
        let ids: Vec<String> = keys.ids().iter().map(ToString::to_string).collect();
        StorageError::integrity(
            path.as_str(),
            format!(
                "encrypted with key {}, which is not among the keys given ({}): wrong key",
                header.key_id,
                ids.join(", ")
            ),
        )
    })?;
    Ok((header, cipher))
}

impl<S: Storage> Storage for Encrypted<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities().with_encrypted(true)
    }

    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        refuse_marker(to)?;
        if is_marker(from) {
            return Err(super::reserved(from, "a storage layer's marker"));
        }
        match self.file_bytes(from)? {
            Some(plaintext) => {
                self.file_save(to, &plaintext)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    framed_storage_methods!(seal, open);
}

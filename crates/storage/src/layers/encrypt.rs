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
use super::{LayerKind, Marker, is_marker, refuse_marker, without_markers};
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

    fn open(&self, path: &SafePath, stored: &[u8]) -> Result<Vec<u8>> {
        open_value(&self.keys, path, stored)
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
                let plaintext = self.open(&path, &stored)?;
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
    format::open(cipher, &header, path.as_str(), stored)
        .map_err(|reason| StorageError::integrity(path.as_str(), reason))
}

impl<S: Storage> Storage for Encrypted<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities().with_encrypted(true)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        refuse_marker(path)?;
        self.marker.ensure(&self.inner)?;
        self.inner.file_save(path, &self.seal(path, data)?)
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        let stored = self.inner.file_bytes(path)?;
        if is_marker(path) {
            return Ok(stored);
        }
        stored.map(|s| self.open(path, &s)).transpose()
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
        self.inner.file_create(path, &self.seal(path, data)?)
    }

    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        let stored = self.inner.file_get(path)?;
        if is_marker(path) {
            return Ok(stored);
        }
        stored
            .map(|(s, version)| Ok((self.open(path, &s)?, version)))
            .transpose()
    }

    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        refuse_marker(path)?;
        self.marker.ensure(&self.inner)?;
        self.inner
            .file_save_if(path, &self.seal(path, data)?, expect)
    }

    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        let encoded = Encoded::new(
            batch,
            |path, data| self.seal(path, data),
            |path| self.file_bytes(path),
        )?;
        if !batch.writes().is_empty() {
            self.marker.ensure(&self.inner)?;
        }
        self.inner.apply(&encoded.batch())
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

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        let sealed = items
            .iter()
            .map(|(path, data)| {
                refuse_marker(path)?;
                Ok((path.clone(), self.seal(path, data)?))
            })
            .collect::<Result<Vec<_>>>()?;
        if !items.is_empty() {
            self.marker.ensure(&self.inner)?;
        }
        let borrowed: Vec<(SafePath, &[u8])> = sealed
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
}

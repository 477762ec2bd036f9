//! Encryption keys: 32 secret bytes, their public [`KeyId`], where they come from
//! (`env:VAR`, `file:PATH`), and the [`Keyring`] a store is opened with.

use aes_gcm_siv::{Aes256GcmSiv, KeyInit};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The spec is neither `env:VAR` nor `file:PATH`.
    #[error(
        "key source {spec:?} is not understood: write env:VARIABLE or file:PATH (keys never go in a URL or on a command line)"
    )]
    UnknownSource {
        /// The spec as given.
        spec: String,
    },
    /// The environment variable is not set (or not Unicode).
    #[error(
        "environment variable {name} is not set: it must hold the 32-byte key in hex or base64"
    )]
    MissingVariable {
        /// The variable.
        name: String,
    },
    /// The key file cannot be read.
    #[error("cannot read the key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a 32-byte key.
    #[error("{origin} does not hold a key: {reason}")]
    Malformed {
        /// Where the text came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// The public name of a key: the first 8 bytes of SHA-256 over
/// `"memory-fs key id v1\0"` and the key. Stored in every value's header so that a
/// store opened with the wrong key says so instead of failing to authenticate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KeyId::LEN]);

impl KeyId {
    /// Bytes in a key id.
    pub const LEN: usize = 8;

    pub(super) fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 256-bit encryption key. Its bytes are wiped when it is dropped and never shown
/// by `Debug`.
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: Zeroizing<[u8; 32]>,
    id: KeyId,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let digest = Sha256::new()
            .chain_update(b"memory-fs key id v1\0")
            .chain_update(bytes.as_slice())
            .finalize();
        let mut id = [0u8; KeyId::LEN];
        id.copy_from_slice(&digest[..KeyId::LEN]);
        Self {
            bytes,
            id: KeyId(id),
        }
    }

    /// A fresh random key from the operating system.
    ///
    /// # Errors
    /// [`KeyError::Random`] when the system has no randomness to give.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_bytes(*bytes))
    }

    /// A key written as text: 64 hex digits, or 32 bytes in standard base64
    /// (surrounding whitespace ignored). `origin` names where the text came from, for
    /// the error.
    ///
    /// ```
    /// use memory_fs_storage::layers::encrypt::EncryptionKey;
    /// let hex = "00".repeat(32);
    /// let a = EncryptionKey::parse(&hex, "test")?;
    /// let b = EncryptionKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "test")?;
    /// assert_eq!(a.id(), b.id());
    /// assert!(EncryptionKey::parse("too short", "test").is_err());
    /// # Ok::<(), memory_fs_storage::layers::encrypt::KeyError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::Malformed`] saying what the text is not.
    pub fn parse(text: &str, origin: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let malformed = |reason: String| KeyError::Malformed {
            origin: origin.to_owned(),
            reason,
        };
        let decoded = Zeroizing::new(
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(text).map_err(|e| malformed(e.to_string()))?
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| {
                        malformed(format!(
                            "{} characters that are neither 64 hex digits nor base64 of 32 bytes",
                            text.len()
                        ))
                    })?
            },
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            malformed(format!(
                "it decodes to {} bytes, and a key is 32 bytes",
                decoded.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key named by `spec`: `env:VAR` (the variable holds the key as text) or
    /// `file:PATH` (the file holds it as text, or as 32 raw bytes).
    ///
    /// # Errors
    /// [`KeyError`] saying which source failed and how.
    pub fn from_spec(spec: &str) -> Result<Self, KeyError> {
        if let Some(name) = spec.strip_prefix("env:") {
            let text = std::env::var(name).map_err(|_| KeyError::MissingVariable {
                name: name.to_owned(),
            })?;
            let text = Zeroizing::new(text);
            Self::parse(&text, &format!("environment variable {name}"))
        } else if let Some(path) = spec.strip_prefix("file:") {
            let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::File {
                path: path.to_owned(),
                source,
            })?);
            if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(Self::from_bytes(raw));
            }
            let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Malformed {
                origin: format!("key file {path}"),
                reason: format!(
                    "{} bytes that are neither 32 raw bytes nor text",
                    bytes.len()
                ),
            })?;
            Self::parse(text, &format!("key file {path}"))
        } else {
            Err(KeyError::UnknownSource {
                spec: spec.to_owned(),
            })
        }
    }

    /// The key's public id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key as lowercase hex, to hand to another program (handle with care).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_slice()))
    }

    pub(super) fn cipher(&self) -> Aes256GcmSiv {
        let bytes: &[u8; 32] = &self.bytes;
        Aes256GcmSiv::new(bytes.into())
    }
}

/// The keys a store is opened with: the first encrypts, every one decrypts the values
/// whose header names its id (so a store being re-keyed reads with old and new).
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(EncryptionKey, Aes256GcmSiv)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(k, _)| k.id))
            .finish()
    }
}

impl Keyring {
    /// A keyring that encrypts with `primary`.
    pub fn new(primary: EncryptionKey) -> Self {
        let cipher = primary.cipher();
        Self {
            keys: vec![(primary, cipher)],
        }
    }

    /// Adds a key that only decrypts (an older key during rotation). A key already in
    /// the ring is not added twice.
    #[must_use]
    pub fn with_old(mut self, key: EncryptionKey) -> Self {
        if !self.keys.iter().any(|(k, _)| k.id == key.id) {
            let cipher = key.cipher();
            self.keys.push((key, cipher));
        }
        self
    }

    /// A keyring from specs (see [`EncryptionKey::from_spec`]), the first one primary.
    ///
    /// # Errors
    /// As [`EncryptionKey::from_spec`]; [`KeyError::UnknownSource`] for an empty list.
    pub fn from_specs<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Self, KeyError> {
        let mut specs = specs.into_iter();
        let first = specs.next().ok_or_else(|| KeyError::UnknownSource {
            spec: String::new(),
        })?;
        let mut ring = Self::new(EncryptionKey::from_spec(first)?);
        for spec in specs {
            ring = ring.with_old(EncryptionKey::from_spec(spec)?);
        }
        Ok(ring)
    }

    /// The key that encrypts.
    pub fn primary(&self) -> &EncryptionKey {
        &self.keys[0].0
    }

    /// Every key's id, the primary first.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(k, _)| k.id).collect()
    }

    pub(super) fn primary_cipher(&self) -> (&EncryptionKey, &Aes256GcmSiv) {
        let (k, c) = &self.keys[0];
        (k, c)
    }

    pub(super) fn cipher_for(&self, id: KeyId) -> Option<&Aes256GcmSiv> {
        self.keys.iter().find(|(k, _)| k.id == id).map(|(_, c)| c)
    }
}

impl From<EncryptionKey> for Keyring {
    fn from(key: EncryptionKey) -> Self {
        Self::new(key)
    }
}

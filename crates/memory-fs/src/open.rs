//! Opening the store a [`StoreUrl`] names, with the providers compiled in.

use std::sync::Arc;

use memory_fs_target::file::storage::Storage;
use memory_fs_target::file::storage::layers::audit::Audited;
use memory_fs_target::file::storage::layers::compress::Compressed;
use memory_fs_target::file::storage::layers::encrypt::{Encrypted, Keyring, RekeyReport};
use memory_fs_target::file::storage::layers::{LayerKind, check_layers};

use crate::{Error, LayerParams, MemoryFs, Result, StoreUrl};

/// Why a backend did not open.
enum Failure {
    /// Its cargo feature is off.
    #[cfg_attr(
        all(
            feature = "memory",
            feature = "disk",
            feature = "sqlite",
            feature = "s3"
        ),
        allow(dead_code, reason = "only a backend compiled out constructs it")
    )]
    Disabled,
    /// It refused.
    #[cfg_attr(
        not(any(feature = "disk", feature = "sqlite", feature = "s3")),
        allow(dead_code, reason = "only the fallible backends construct it")
    )]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

type Opened = std::result::Result<Arc<dyn Storage>, Failure>;

#[cfg_attr(
    not(any(feature = "disk", feature = "sqlite", feature = "s3")),
    allow(dead_code, reason = "only the fallible backends use it")
)]
fn backend<S: Storage + 'static, E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    result: std::result::Result<S, E>,
) -> Opened {
    result
        .map(|s| Arc::new(s) as Arc<dyn Storage>)
        .map_err(|e| Failure::Backend(e.into()))
}

impl StoreUrl {
    /// Opens the store: creates the directory or database file if missing, connects to
    /// the bucket and checks it is reachable; then puts the URL's layers over it.
    ///
    /// A store written through a layer is marked, and opening it without that layer
    /// fails here: an encrypted store opened without `encrypt=`, for example, is
    /// refused with an error saying so, rather than read as ciphertext.
    ///
    /// # Errors
    /// [`Error::FeatureDisabled`] when the backend's cargo feature is off;
    /// [`Error::Open`] when the backend refuses (naming the store and the cause);
    /// [`Error::Layer`] for a key that cannot be had or a bad compression level;
    /// an integrity error (`ErrorKind::Integrity`) for a store written through a layer
    /// the URL does not name.
    pub fn open_storage(&self) -> Result<Arc<dyn Storage>> {
        let layers = self.layers();
        let below = self.store().open_bare()?;
        check_layers(&*below, &kinds(&layers))?;
        let mut storage = below;
        if !layers.encrypt.is_empty() {
            storage = Arc::new(Encrypted::new(storage, keyring(&layers.encrypt)?));
        }
        if let Some(level) = layers.compress {
            let compressed =
                Compressed::new(storage)
                    .with_level(level)
                    .map_err(|e| Error::Layer {
                        layer: "compress",
                        reason: e.to_string(),
                    })?;
            storage = Arc::new(compressed);
        }
        if let Some(caller) = &layers.audit {
            storage = Arc::new(Audited::new(storage, caller.clone()));
        }
        Ok(storage)
    }

    /// Re-encrypts every value of the store under the key `to` (`env:VAR` or
    /// `file:PATH`), reading with the URL's own keys (`encrypt=`), and returns what it
    /// did. Each value is rewritten with a conditional write, so one changed meanwhile
    /// is read again; an interrupted run is finished by running it again. Afterwards
    /// the store opens with `encrypt=<to>` alone. Nothing is recorded in the audit log:
    /// no value changes.
    ///
    /// Writers still encrypting with an old key go on doing so: stop them (or move
    /// them to the new key) first.
    ///
    /// # Errors
    /// [`Error::Layer`] when the URL names no encryption key or a key cannot be had;
    /// an integrity error for a value no key given opens; as
    /// [`open_storage`](Self::open_storage).
    pub fn rekey(&self, to: &str) -> Result<RekeyReport> {
        let layers = self.layers();
        if layers.encrypt.is_empty() {
            return Err(Error::Layer {
                layer: "encrypt",
                reason: "the store URL names no key to read the store with: add encrypt=env:VAR (its current key)".to_owned(),
            });
        }
        let specs: Vec<&str> = std::iter::once(to)
            .chain(layers.encrypt.iter().map(String::as_str))
            .collect();
        let ring = Keyring::from_specs(specs).map_err(|e| Error::Layer {
            layer: "encrypt",
            reason: e.to_string(),
        })?;
        let below = self.store().open_bare()?;
        check_layers(&*below, &kinds(&layers))?;
        Ok(Encrypted::new(below, ring).rekey()?)
    }

    /// The store underneath, without layers.
    fn open_bare(&self) -> Result<Arc<dyn Storage>> {
        let opened = match self {
            Self::Memory => memory(),
            Self::Disk { root } => disk(root),
            Self::Sqlite {
                path,
                synchronous_normal,
            } => sqlite(path.as_deref(), *synchronous_normal),
            Self::S3(location) => s3(location),
            Self::Layered { store, .. } => return store.open_bare(),
        };
        opened.map_err(|failure| match failure {
            Failure::Disabled => Error::FeatureDisabled {
                scheme: self.scheme(),
                feature: self.feature(),
            },
            Failure::Backend(source) => Error::Open {
                url: self.to_string(),
                source,
            },
        })
    }

    /// Opens the store and wraps it in a [`MemoryFs`].
    ///
    /// # Errors
    /// As [`open_storage`](Self::open_storage).
    pub fn open(&self) -> Result<MemoryFs> {
        Ok(MemoryFs::new(self.open_storage()?))
    }
}

/// The layers `layers` opens.
fn kinds(layers: &LayerParams) -> Vec<LayerKind> {
    let mut kinds = Vec::new();
    if !layers.encrypt.is_empty() {
        kinds.push(LayerKind::Encrypt);
    }
    if layers.compress.is_some() {
        kinds.push(LayerKind::Compress);
    }
    if layers.audit.is_some() {
        kinds.push(LayerKind::Audit);
    }
    kinds
}

fn keyring(specs: &[String]) -> Result<Keyring> {
    Keyring::from_specs(specs.iter().map(String::as_str)).map_err(|e| Error::Layer {
        layer: "encrypt",
        reason: e.to_string(),
    })
}

#[cfg(feature = "memory")]
fn memory() -> Opened {
    Ok(Arc::new(memory_fs_storage_memory::MemoryStorage::new()))
}

#[cfg(not(feature = "memory"))]
fn memory() -> Opened {
    Err(Failure::Disabled)
}

#[cfg(feature = "disk")]
fn disk(root: &std::path::Path) -> Opened {
    backend(memory_fs_storage_disk::DiskStorage::open(root))
}

#[cfg(not(feature = "disk"))]
fn disk(_root: &std::path::Path) -> Opened {
    Err(Failure::Disabled)
}

#[cfg(feature = "sqlite")]
fn sqlite(path: Option<&std::path::Path>, synchronous_normal: bool) -> Opened {
    use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};
    let mut config = match path {
        Some(path) => SqliteConfig::file(path),
        None => SqliteConfig::in_memory(),
    };
    if synchronous_normal {
        config = config.synchronous_normal();
    }
    backend(SqliteStorage::with_config(config))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(_path: Option<&std::path::Path>, _synchronous_normal: bool) -> Opened {
    Err(Failure::Disabled)
}

#[cfg(feature = "s3")]
fn s3(location: &crate::S3Location) -> Opened {
    use memory_fs_storage_s3::{S3Config, S3Storage};
    let mut config = S3Config::new(location.bucket.clone())
        .with_virtual_hosted_style(location.virtual_hosted_style);
    if let Some(prefix) = &location.prefix {
        config = config.with_prefix(prefix.clone());
    }
    if let Some(endpoint) = &location.endpoint {
        config = config
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint.clone());
    }
    let region = location.region.clone().or_else(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
    });
    if let Some(region) = region {
        config = config.with_region(region);
    }
    if let Some(nested) = location.nested_keys {
        config = config.with_nested_keys(nested);
    }
    if let Some(conditional) = location.conditional_create {
        config = config.with_conditional_create(conditional);
    }
    if let Some((id, secret)) = &location.credentials {
        config = config.with_credentials(id.clone(), secret.clone());
    }
    backend(S3Storage::new(config))
}

#[cfg(not(feature = "s3"))]
fn s3(_location: &crate::S3Location) -> Opened {
    Err(Failure::Disabled)
}

//! `S3Storage`: the `Storage` trait over `object_store`'s S3 client, run on an owned runtime.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use memory_fs_storage::{Capabilities, Result, SafePath, Storage, StorageError};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use crate::error::BACKEND;
use crate::{S3Config, S3Error};

/// Batches above this size find the existing keys with one listing instead of one
/// HEAD request per key.
const LIST_INSTEAD_OF_HEAD: usize = 64;

/// A [`Storage`] in one S3 bucket, optionally under a key prefix.
///
/// Every method may be called from plain threads or from inside any tokio runtime:
/// requests run on the store's own IO runtime (see the crate docs for why).
///
/// # Examples
///
/// ```no_run
/// use memory_fs_storage::{SafePath, Storage};
/// use memory_fs_storage_s3::{S3Config, S3Storage};
///
/// let store = S3Storage::new(S3Config::new("my-bucket").with_region("eu-west-1"))?;
/// store.file_save(&SafePath::new("a/b.txt")?, b"hi")?;
/// assert_eq!(store.files_paths(None)?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct S3Storage {
    inner: Arc<Inner>,
    handle: Handle,
    /// Always `Some` until dropped; taken in `Drop` to shut down without blocking.
    runtime: Option<Runtime>,
}

/// What the request tasks share.
#[derive(Debug)]
struct Inner {
    store: AmazonS3,
    /// The key prefix as raw segments (validated as a `SafePath` at construction).
    root: Vec<String>,
    config: S3Config,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Drop for S3Storage {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its workers stop, which panics inside an
        // async context; shutting down in the background never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl S3Storage {
    /// Connects to the bucket described by `config` and checks that it is reachable.
    ///
    /// # Errors
    /// [`S3Error::InvalidConfig`] for a configuration that cannot work,
    /// [`S3Error::BucketNotFound`], [`S3Error::AccessDenied`] for refused credentials,
    /// [`S3Error::Client`] when the server cannot be reached (within the configured
    /// timeouts and retries).
    pub fn new(config: S3Config) -> Result<Self, S3Error> {
        let invalid = |reason: String| S3Error::InvalidConfig { reason };
        if config.bucket.is_empty() {
            return Err(invalid("the bucket name is empty".to_owned()));
        }
        if config.part_size < 5 * 1024 * 1024 {
            return Err(invalid(format!(
                "part_size {} is below the 5 MiB minimum of S3",
                config.part_size
            )));
        }
        if config.concurrency == 0 {
            return Err(invalid("concurrency must be at least 1".to_owned()));
        }
        let root = match config.prefix.as_deref() {
            None | Some("") => Vec::new(),
            Some(prefix) => SafePath::new(prefix)
                .map_err(|e| invalid(format!("key prefix: {e}")))?
                .segments()
                .map(str::to_owned)
                .collect(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("memory-fs-s3-io")
            .enable_all()
            .build()
            .map_err(S3Error::Runtime)?;
        let store = build_client(&config)?;
        let storage = Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            inner: Arc::new(Inner {
                store,
                root,
                config,
            }),
        };
        storage.probe()?;
        Ok(storage)
    }

    /// The configuration this store was made from.
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// Lists the root once, turning the usual first-contact failures into clear errors.
    fn probe(&self) -> Result<(), S3Error> {
        let inner = Arc::clone(&self.inner);
        let answer = self.block(async move {
            let root = inner.root_path();
            inner
                .store
                .list_with_delimiter(Some(&root))
                .await
                .map(|_| ())
        })?;
        let config = &self.inner.config;
        let Err(source) = answer else {
            return Ok(());
        };
        // object_store wraps listing failures in an opaque retry error; the S3 error
        // code and HTTP status in its text are what tell the cases apart.
        let text = format!("{source:?}");
        let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
        let missing =
            matches!(source, object_store::Error::NotFound { .. }) || has(&["NoSuchBucket"]);
        let denied = matches!(
            source,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || has(&[
            "status: 401",
            "status: 403",
            "AccessDenied",
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
        ]);
        if missing {
            Err(S3Error::BucketNotFound {
                bucket: config.bucket.clone(),
                endpoint: config.endpoint_name(),
            })
        } else if denied {
            Err(S3Error::AccessDenied {
                bucket: config.bucket.clone(),
                endpoint: config.endpoint_name(),
                source,
            })
        } else {
            Err(S3Error::Client(source))
        }
    }

    /// Runs `fut` on the IO runtime and waits for it, wherever the caller is.
    fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, S3Error> {
        let task = self.handle.spawn(fut);
        let wait = || futures::executor::block_on(task);
        let joined = match Handle::try_current() {
            // Tell a multi-threaded caller runtime that this worker blocks, so it moves
            // its other tasks elsewhere; a current-thread runtime has nowhere to move
            // them, and our task does not need it.
            Ok(caller) if caller.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        joined.map_err(|e| S3Error::Task(e.to_string()))
    }

    /// Runs a request for `path` and converts its failure.
    fn request<T: Send + 'static>(
        &self,
        path: Option<&SafePath>,
        make: impl FnOnce(Arc<Inner>) -> BoxFuture<T>,
    ) -> Result<T> {
        let at = path.map(SafePath::as_str);
        self.block(make(Arc::clone(&self.inner)))
            .map_err(|e| e.at(at))?
            .map_err(|e| e.at(at))
    }
}

/// The `object_store` client for `config`.
fn build_client(config: &S3Config) -> Result<AmazonS3, S3Error> {
    let options = ClientOptions::new()
        .with_allow_http(config.allow_http)
        .with_connect_timeout(config.connect_timeout)
        .with_timeout(config.request_timeout);
    let retry = RetryConfig {
        max_retries: config.max_retries,
        retry_timeout: config.retry_timeout,
        ..RetryConfig::default()
    };
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&config.bucket)
        .with_region(&config.region)
        .with_allow_http(config.allow_http)
        .with_virtual_hosted_style_request(config.virtual_hosted_style)
        .with_client_options(options)
        .with_retry(retry)
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(key) = &config.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &config.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = &config.session_token {
        builder = builder.with_token(token);
    }
    builder.build().map_err(|e| S3Error::InvalidConfig {
        reason: e.to_string(),
    })
}

impl Inner {
    /// The object location of the key prefix itself.
    fn root_path(&self) -> Path {
        Path::from_iter(self.root.iter().map(String::as_str))
    }

    /// The object location of `key`.
    fn location(&self, key: &SafePath) -> Path {
        Path::from_iter(self.root.iter().map(String::as_str).chain(key.segments()))
    }

    /// The key of an object location, or `None` when it lies outside the prefix.
    fn key_of(&self, location: &Path) -> Result<Option<SafePath>, S3Error> {
        let mut parts = location.parts();
        for segment in &self.root {
            match parts.next() {
                Some(part) if decode(part.as_ref()).as_deref() == Some(segment.as_str()) => {}
                _ => return Ok(None),
            }
        }
        let decoded: Option<Vec<String>> = parts.map(|p| decode(p.as_ref())).collect();
        let foreign = || S3Error::ForeignKey {
            key: location.to_string(),
        };
        let segments = decoded.ok_or_else(foreign)?;
        if segments.is_empty() {
            return Ok(None);
        }
        SafePath::new(segments.join("/"))
            .map(Some)
            .map_err(|_| foreign())
    }

    /// Every object below `location` (pagination is followed by the stream).
    async fn list_below(&self, location: Option<&Path>) -> Result<Vec<Path>, S3Error> {
        let root = self.root_path();
        let at = location.unwrap_or(&root);
        let at = (at.as_ref() != "").then_some(at);
        Ok(self
            .store
            .list(at)
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?)
    }

    /// Whether an object exists at `location`.
    async fn exists(&self, location: &Path) -> Result<bool, S3Error> {
        match self.store.head(location).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => self.directory_or(location, e).await.map(|()| false),
        }
    }

    /// On a tree-shaped server, a request on a directory fails with a server error
    /// rather than "no such key"; this turns that failure into `Ok(())` ("no value
    /// here") when the parent's listing shows no object at `location`, and returns
    /// `err` otherwise.
    async fn directory_or(&self, location: &Path, err: object_store::Error) -> Result<(), S3Error> {
        if self.config.nested_keys {
            return Err(err.into());
        }
        let parent = location.prefix_match(&Path::default()).map(|parts| {
            let parts: Vec<_> = parts.collect();
            let n = parts.len().saturating_sub(1);
            Path::from_iter(parts.into_iter().take(n))
        });
        let parent = parent.filter(|p| p.as_ref() != "");
        match self.store.list_with_delimiter(parent.as_ref()).await {
            Ok(listing) if !listing.objects.iter().any(|o| &o.location == location) => Ok(()),
            _ => Err(err.into()),
        }
    }

    /// Uploads `data` to `location`, in parts above the threshold.
    async fn put(&self, location: &Path, data: Bytes) -> Result<(), S3Error> {
        if data.len() >= self.config.multipart_threshold {
            let upload = self.store.put_multipart(location).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, self.config.part_size);
            writer.put(data);
            writer.finish().await?;
        } else {
            self.store.put(location, PutPayload::from(data)).await?;
        }
        Ok(())
    }

    /// Saves `key`, explaining a refusal by a tree-shaped server as a conflict.
    async fn save(&self, key: &SafePath, data: Bytes) -> Result<(), SaveError> {
        let location = self.location(key);
        match self.put(&location, data).await {
            Ok(()) => Ok(()),
            Err(err) if !self.config.nested_keys => match self.conflict(key).await {
                Some(reason) => Err(SaveError::Conflict(reason)),
                None => Err(SaveError::S3(err)),
            },
            Err(err) => Err(SaveError::S3(err)),
        }
    }

    /// On a tree-shaped server, why `key` cannot be written, if a neighbour is the reason.
    async fn conflict(&self, key: &SafePath) -> Option<String> {
        let mut ancestor = key.parent();
        while let Some(a) = ancestor {
            if self.exists(&self.location(&a)).await.unwrap_or(false) {
                return Some(format!(
                    "{a} holds a value, so nothing can be stored below it"
                ));
            }
            ancestor = a.parent();
        }
        let location = self.location(key);
        let below = self.store.list(Some(&location)).next().await;
        matches!(below, Some(Ok(_)))
            .then(|| format!("keys exist below {key}, so it cannot hold a value"))
    }

    /// Deletes the objects at `locations` in bulk requests.
    async fn delete_all(&self, locations: Vec<Path>) -> Result<(), S3Error> {
        let input = stream::iter(locations.into_iter().map(Ok)).boxed();
        self.store
            .delete_stream(input)
            .try_collect::<Vec<Path>>()
            .await?;
        Ok(())
    }

    /// The deepest common key prefix of `keys`, segment-wise.
    fn common_prefix(keys: &[SafePath]) -> Option<SafePath> {
        let first = keys.first()?;
        let mut common: Vec<&str> = first.segments().collect();
        common.pop();
        for key in &keys[1..] {
            let shared = common
                .iter()
                .zip(key.segments())
                .take_while(|(a, b)| *a == b)
                .count();
            let depth = key.segments().count().saturating_sub(1);
            common.truncate(shared.min(depth));
        }
        SafePath::new(common.join("/")).ok()
    }
}

/// Why a save failed.
enum SaveError {
    Conflict(String),
    S3(S3Error),
}

/// Percent-decodes one object key segment, as `object_store` encoded it.
fn decode(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = part.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = Result<T, S3Error>> + Send>>;

impl Storage for S3Storage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_create(self.inner.config.conditional_create)
            .with_nested_keys(self.inner.config.nested_keys)
            .with_persistent(true)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        let key = path.clone();
        let data = Bytes::copy_from_slice(data);
        let inner = Arc::clone(&self.inner);
        let answer = self
            .block(async move { inner.save(&key, data).await })
            .map_err(|e| e.at(Some(path.as_str())))?;
        match answer {
            Ok(()) => Ok(()),
            Err(SaveError::Conflict(reason)) => Err(StorageError::Conflict {
                path: path.to_string(),
                reason,
            }),
            Err(SaveError::S3(e)) => Err(e.at(Some(path.as_str()))),
        }
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        let key = path.clone();
        self.request(Some(path), move |inner| -> BoxFuture<_> {
            Box::pin(async move {
                let location = inner.location(&key);
                let got = match inner.store.get(&location).await {
                    Ok(got) => got.bytes().await,
                    Err(e) => Err(e),
                };
                match got {
                    Ok(bytes) => Ok(Some(Vec::from(bytes))),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => inner.directory_or(&location, e).await.map(|()| None),
                }
            })
        })
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        let key = path.clone();
        self.request(Some(path), move |inner| -> BoxFuture<_> {
            Box::pin(async move { inner.exists(&inner.location(&key)).await })
        })
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        let key = path.clone();
        self.request(Some(path), move |inner| -> BoxFuture<_> {
            Box::pin(async move {
                let location = inner.location(&key);
                if !inner.exists(&location).await? {
                    return Ok(false);
                }
                inner.store.delete(&location).await?;
                Ok(true)
            })
        })
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let owned = prefix.cloned();
        self.request(prefix, move |inner| -> BoxFuture<_> {
            Box::pin(async move {
                let mut locations = match &owned {
                    None => inner.list_below(None).await?,
                    Some(key) => {
                        // S3 lists below `key/`; the key itself is one HEAD away.
                        let location = inner.location(key);
                        let mut below = inner.list_below(Some(&location)).await?;
                        // On a tree-shaped server a key with keys below it is a
                        // directory, never a value, so the HEAD is not needed.
                        if (below.is_empty() || inner.config.nested_keys)
                            && inner.exists(&location).await?
                        {
                            below.push(location);
                        }
                        below
                    }
                };
                let mut keys = Vec::with_capacity(locations.len());
                for location in locations.drain(..) {
                    keys.extend(inner.key_of(&location)?);
                }
                keys.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
                keys.dedup();
                Ok(keys)
            })
        })
    }

    fn clear(&self) -> Result<()> {
        self.request(None, move |inner| -> BoxFuture<_> {
            Box::pin(async move {
                let all = inner.list_below(None).await?;
                inner.delete_all(all).await
            })
        })
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        if !self.inner.config.conditional_create {
            if self.file_exists(path)? {
                return Err(StorageError::AlreadyExists {
                    path: path.to_string(),
                });
            }
            return self.file_save(path, data);
        }
        let key = path.clone();
        let data = Bytes::copy_from_slice(data);
        let created = self.request(Some(path), move |inner| -> BoxFuture<_> {
            Box::pin(async move {
                let options = PutOptions::from(PutMode::Create);
                match inner
                    .store
                    .put_opts(&inner.location(&key), PutPayload::from(data), options)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
        })?;
        if created {
            Ok(())
        } else {
            Err(StorageError::AlreadyExists {
                path: path.to_string(),
            })
        }
    }

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        let owned: Vec<(SafePath, Bytes)> = items
            .iter()
            .map(|(k, d)| (k.clone(), Bytes::copy_from_slice(d)))
            .collect();
        let inner = Arc::clone(&self.inner);
        let failures = self
            .block(async move {
                let concurrency = inner.config.concurrency;
                stream::iter(owned)
                    .map(|(key, data)| {
                        let inner = Arc::clone(&inner);
                        async move { inner.save(&key, data).await.err().map(|e| (key, e)) }
                    })
                    .buffer_unordered(concurrency)
                    .filter_map(std::future::ready)
                    .collect::<Vec<_>>()
                    .await
            })
            .map_err(|e| e.at(None))?;
        // Report the first failing item in input order.
        let first = failures
            .into_iter()
            .min_by_key(|(key, _)| items.iter().position(|(k, _)| k == key));
        match first {
            None => Ok(()),
            Some((key, SaveError::Conflict(reason))) => Err(StorageError::Conflict {
                path: key.to_string(),
                reason,
            }),
            Some((key, SaveError::S3(e))) => Err(e.at(Some(key.as_str()))),
        }
    }

    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        let keys: Vec<SafePath> = paths
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.request(None, move |inner| -> BoxFuture<_> {
            Box::pin(async move {
                let existing: Vec<Path> = if keys.len() > LIST_INSTEAD_OF_HEAD {
                    let common = Inner::common_prefix(&keys);
                    let under = common.as_ref().map(|c| inner.location(c));
                    let listed: BTreeSet<Path> = inner
                        .list_below(under.as_ref())
                        .await?
                        .into_iter()
                        .collect();
                    keys.iter()
                        .map(|k| inner.location(k))
                        .filter(|l| listed.contains(l))
                        .collect()
                } else {
                    let concurrency = inner.config.concurrency;
                    let locations: Vec<Path> = keys.iter().map(|k| inner.location(k)).collect();
                    stream::iter(locations)
                        .map(|location| {
                            let inner = Arc::clone(&inner);
                            async move {
                                let found = inner.exists(&location).await?;
                                Ok::<_, S3Error>(found.then_some(location))
                            }
                        })
                        .buffer_unordered(concurrency)
                        .try_filter_map(|found| std::future::ready(Ok(found)))
                        .try_collect()
                        .await?
                };
                let count = existing.len();
                inner.delete_all(existing).await?;
                Ok(count)
            })
        })
    }
}

//! `S3AsyncStorage`: the `AsyncStorage` trait over `object_store`'s S3 client; and
//! `S3Storage`, the blocking `Storage` over it, run on an owned runtime.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{FutureExt as _, SinkExt as _, StreamExt, TryStreamExt, stream};
use memory_fs_storage::{
    AsyncStorage, Batch, ByteStream, CHUNK, Capabilities, Expect, Result, SafePath, Storage,
    StorageError, ValueReader, Version, Write, read_full,
};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion,
    WriteMultipart,
};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use crate::error::BACKEND;
use crate::{S3Config, S3Error};

/// Batches above this size find the existing keys with one listing instead of one
/// HEAD request per key.
const LIST_INSTEAD_OF_HEAD: usize = 64;

/// A [`Storage`] in one S3 bucket, optionally under a key prefix: the blocking wrapper
/// of [`S3AsyncStorage`].
///
/// Every method may be called from plain threads or from inside any tokio runtime:
/// each call is the async store's, spawned on the store's own IO runtime and waited
/// on (see the crate docs for why).
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
    store: S3AsyncStorage,
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
            .field("config", &self.store.inner.config)
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
        let store = S3AsyncStorage::unchecked(config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("memory-fs-s3-io")
            .enable_all()
            .build()
            .map_err(S3Error::Runtime)?;
        let storage = Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            store,
        };
        let store = storage.store.clone();
        storage.block(async move { store.probe().await })??;
        Ok(storage)
    }

    /// The configuration this store was made from.
    pub fn config(&self) -> &S3Config {
        &self.store.inner.config
    }

    /// The async store this one wraps. Its futures belong on the caller's runtime; for
    /// a store used only from async code, [`S3AsyncStorage::connect`] makes one without
    /// an IO runtime of its own.
    pub fn async_store(&self) -> &S3AsyncStorage {
        &self.store
    }

    /// Runs `fut` on the IO runtime and waits for it, wherever the caller is.
    fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, S3Error> {
        let task = self.handle.spawn(fut);
        blocking(|| futures::executor::block_on(task)).map_err(|e| S3Error::Task(e.to_string()))
    }

    /// Runs `fut` on the IO runtime and waits for its answer; a task that fails is an
    /// error at `path`.
    fn wait<T: Send + 'static>(
        &self,
        path: Option<&SafePath>,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.block(fut)
            .map_err(|e| e.at(path.map(SafePath::as_str)))?
    }

    /// Runs the async store's call `make` on an owned copy of `path` on the IO runtime.
    fn call<T: Send + 'static, F>(
        &self,
        path: &SafePath,
        make: impl FnOnce(S3AsyncStorage, SafePath) -> F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        self.wait(Some(path), make(self.store.clone(), path.clone()))
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

    /// The keys equal to or below `prefix` (all keys for `None`), sorted, each with its
    /// `ETag` when `tagged`.
    async fn listing(
        &self,
        prefix: Option<&SafePath>,
        tagged: bool,
    ) -> Result<Vec<(SafePath, Option<String>)>, S3Error> {
        let below = |at: Option<Path>| async move {
            if tagged {
                let listed = self.list_versions_below(at.as_ref()).await?;
                Ok::<_, S3Error>(listed.into_iter().map(|(l, t)| (l, Some(t))).collect())
            } else {
                let listed = self.list_below(at.as_ref()).await?;
                Ok(listed.into_iter().map(|l| (l, None)).collect::<Vec<_>>())
            }
        };
        let mut located = match prefix {
            None => below(None).await?,
            Some(key) => {
                // S3 lists below `key/`; the key itself is one HEAD away.
                let location = self.location(key);
                let mut found = below(Some(location.clone())).await?;
                // On a tree-shaped server a key with keys below it is a directory,
                // never a value, so the HEAD is not needed.
                if found.is_empty() || self.config.nested_keys {
                    if tagged {
                        if let Some(e_tag) = self.e_tag(&location).await? {
                            found.push((location, Some(e_tag)));
                        }
                    } else if self.exists(&location).await? {
                        found.push((location, None));
                    }
                }
                found
            }
        };
        let mut keys = Vec::with_capacity(located.len());
        for (location, e_tag) in located.drain(..) {
            if let Some(key) = self.key_of(&location)? {
                keys.push((key, e_tag));
            }
        }
        keys.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        keys.dedup_by(|a, b| a.0 == b.0);
        Ok(keys)
    }

    /// Every object below `location` (everything for `None`) with its `ETag`, from the
    /// listing alone.
    async fn list_versions_below(
        &self,
        location: Option<&Path>,
    ) -> Result<Vec<(Path, String)>, S3Error> {
        let root = self.root_path();
        let at = location.unwrap_or(&root);
        let at = (at.as_ref() != "").then_some(at);
        let metas: Vec<object_store::ObjectMeta> = self.store.list(at).try_collect().await?;
        let mut listed = Vec::with_capacity(metas.len());
        for meta in metas {
            match meta.e_tag {
                Some(e_tag) => listed.push((meta.location, e_tag)),
                // A server whose listings leave tags out: one HEAD for the object (gone
                // since it was listed: left out).
                None => {
                    if let Some(e_tag) = self.e_tag(&meta.location).await? {
                        listed.push((meta.location, e_tag));
                    }
                }
            }
        }
        Ok(listed)
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

    /// The `ETag` of the object at `location`, or `None` when there is none.
    async fn e_tag(&self, location: &Path) -> Result<Option<String>, S3Error> {
        match self.store.head(location).await {
            Ok(meta) => meta.e_tag.map(Some).ok_or_else(|| S3Error::NoETag {
                key: location.to_string(),
            }),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => self.directory_or(location, e).await.map(|()| None),
        }
    }

    /// The value at `key` and its `ETag`, or `None`.
    async fn get(&self, key: &SafePath) -> Result<Option<(Bytes, String)>, S3Error> {
        let location = self.location(key);
        let got = match self.store.get(&location).await {
            Ok(got) => {
                let e_tag = got.meta.e_tag.clone();
                got.bytes().await.map(|bytes| (bytes, e_tag))
            }
            Err(e) => Err(e),
        };
        match got {
            Ok((bytes, Some(e_tag))) => Ok(Some((bytes, e_tag))),
            Ok((_, None)) => Err(S3Error::NoETag {
                key: location.to_string(),
            }),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => self.directory_or(&location, e).await.map(|()| None),
        }
    }

    /// Writes `data` at `key` in one conditional PUT (`If-None-Match: *` for
    /// `Expect::Absent`, `If-Match` for a version), whatever its size; the new `ETag`.
    async fn put_if(
        &self,
        key: &SafePath,
        data: Bytes,
        expect: &Expect,
    ) -> Result<String, Refusal> {
        let location = self.location(key);
        let mode = match expect {
            Expect::Absent => PutMode::Create,
            Expect::Version(v) => PutMode::Update(UpdateVersion {
                e_tag: Some(v.as_str().to_owned()),
                version: None,
            }),
        };
        let put = self
            .store
            .put_opts(&location, PutPayload::from(data), PutOptions::from(mode))
            .await;
        match put {
            Ok(done) => done.e_tag.ok_or_else(|| {
                Refusal::S3(S3Error::NoETag {
                    key: location.to_string(),
                })
            }),
            Err(object_store::Error::AlreadyExists { .. }) => Err(Refusal::Exists),
            Err(object_store::Error::Precondition { .. }) => Err(match expect {
                Expect::Absent => Refusal::Exists,
                Expect::Version(_) => Refusal::Stale,
            }),
            Err(object_store::Error::NotFound { .. }) => Err(Refusal::Stale),
            Err(err) if !self.config.nested_keys => match self.conflict(key).await {
                Some(reason) => Err(Refusal::Conflict(reason)),
                None => Err(Refusal::S3(err.into())),
            },
            Err(err) => Err(Refusal::S3(err.into())),
        }
    }

    /// Whether `key` is as `expect` says, asked with one `HEAD`.
    async fn check(&self, key: &SafePath, expect: &Expect) -> Result<(), Refusal> {
        let current = self
            .e_tag(&self.location(key))
            .await
            .map_err(Refusal::S3)?
            .map(Version::new);
        match expect.check(key, current.as_ref()) {
            Ok(()) => Ok(()),
            Err(StorageError::AlreadyExists { .. }) => Err(Refusal::Exists),
            Err(_) => Err(Refusal::Stale),
        }
    }

    /// Deletes the object at `key` (one `DELETE`, whether or not it exists).
    async fn remove(&self, key: &SafePath) -> Result<(), S3Error> {
        match self.store.delete(&self.location(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs the writes of `batch` after its checks: see [`S3Storage::apply`].
    async fn apply(
        &self,
        checks: Vec<(SafePath, Expect)>,
        writes: Vec<Owned>,
    ) -> Result<(), (SafePath, Refusal)> {
        let mut expected: HashMap<SafePath, Expect> = HashMap::new();
        for (key, expect) in checks {
            self.check(&key, &expect)
                .await
                .map_err(|e| (key.clone(), e))?;
            expected.entry(key).or_insert(expect);
        }
        for write in writes {
            match write {
                Owned::Put(path, data) => {
                    let path = &path;
                    match expected.get(path) {
                        Some(expect) if self.config.conditional_write => {
                            let e_tag = self
                                .put_if(path, data, expect)
                                .await
                                .map_err(|e| (path.clone(), e))?;
                            expected.insert(path.clone(), Expect::Version(Version::new(e_tag)));
                        }
                        _ => self.save(path, data).await.map_err(|e| {
                            let refusal = match e {
                                SaveError::Conflict(reason) => Refusal::Conflict(reason),
                                SaveError::S3(e) => Refusal::S3(e),
                            };
                            (path.clone(), refusal)
                        })?,
                    }
                }
                Owned::Delete(path) => {
                    self.remove(&path)
                        .await
                        .map_err(|e| (path.clone(), Refusal::S3(e)))?;
                    if expected.contains_key(&path) {
                        expected.insert(path, Expect::Absent);
                    }
                }
                Owned::Copy(from, to) => {
                    match self.copy(&from, &to).await {
                        Ok(true) => {}
                        Ok(false) => return Err((from, Refusal::Missing)),
                        Err(e) => return Err((to, e)),
                    }
                    // Its new version is unknown here: a later put of it is plain.
                    expected.remove(&to);
                }
            }
        }
        Ok(())
    }

    /// Copies the object at `source` to `target` on the server; `Ok(false)` if there
    /// is none at `source`.
    async fn copy(&self, source: &SafePath, target: &SafePath) -> Result<bool, Refusal> {
        let (from, to) = (self.location(source), self.location(target));
        match self.store.copy(&from, &to).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) if !self.config.nested_keys => {
                if let Some(reason) = self.conflict(target).await {
                    return Err(Refusal::Conflict(reason));
                }
                // A directory of a tree-shaped server holds no value to copy.
                self.directory_or(&from, err)
                    .await
                    .map(|()| false)
                    .map_err(Refusal::S3)
            }
            Err(err) => Err(Refusal::S3(err.into())),
        }
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

/// A write of a batch, owned, so it can travel to the IO runtime.
enum Owned {
    Put(SafePath, Bytes),
    Delete(SafePath),
    Copy(SafePath, SafePath),
}

/// Why a conditional write (or the check of a batch) did not go through.
enum Refusal {
    /// `Expect::Absent` found an object.
    Exists,
    /// The object is not at the expected version (or is gone).
    Stale,
    /// A tree-shaped server refused the key because of a neighbour.
    Conflict(String),
    /// A key that had to hold a value (the source of a copy) holds none.
    Missing,
    /// The request failed.
    S3(S3Error),
}

impl Refusal {
    fn at(self, key: &SafePath) -> StorageError {
        match self {
            Refusal::Exists => StorageError::AlreadyExists {
                path: key.to_string(),
            },
            Refusal::Stale => StorageError::PreconditionFailed {
                path: key.to_string(),
            },
            Refusal::Conflict(reason) => StorageError::Conflict {
                path: key.to_string(),
                reason,
            },
            Refusal::Missing => StorageError::NotFound {
                path: key.to_string(),
            },
            Refusal::S3(e) => e.at(Some(key.as_str())),
        }
    }
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

/// An [`AsyncStorage`] in one S3 bucket, optionally under a key prefix: the provider
/// itself, natively async on object_store. Its futures run on the caller's runtime (a
/// tokio runtime with IO and time enabled); [`S3Storage`] is the blocking wrapper.
///
/// # Examples
///
/// ```no_run
/// use memory_fs_storage::{AsyncStorage, SafePath};
/// use memory_fs_storage_s3::{S3AsyncStorage, S3Config};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = S3AsyncStorage::connect(S3Config::new("my-bucket")).await?;
/// let key = SafePath::new("a/b.txt")?;
/// store.file_save(&key, "hi".into()).await?;
/// assert_eq!(store.file_bytes(&key).await?.as_deref(), Some(&b"hi"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct S3AsyncStorage {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for S3AsyncStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3AsyncStorage")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl S3AsyncStorage {
    /// Connects to the bucket described by `config` and checks that it is reachable.
    ///
    /// # Errors
    /// As [`S3Storage::new`].
    pub async fn connect(config: S3Config) -> Result<Self, S3Error> {
        let store = Self::unchecked(config)?;
        store.probe().await?;
        Ok(store)
    }

    /// A store for `config`, its configuration checked but the server not asked yet.
    fn unchecked(config: S3Config) -> Result<Self, S3Error> {
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
        let store = build_client(&config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                root,
                config,
            }),
        })
    }

    /// The configuration this store was made from.
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// Lists the root once, turning the usual first-contact failures into clear errors.
    async fn probe(&self) -> Result<(), S3Error> {
        let root = self.inner.root_path();
        let answer = self
            .inner
            .store
            .list_with_delimiter(Some(&root))
            .await
            .map(|_| ());
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

    /// The value at `path` as a stream that borrows nothing (one GET), or `None`.
    async fn open_stream(&self, path: &SafePath) -> Result<Option<ByteStream<'static>>> {
        let inner = &self.inner;
        let location = inner.location(path);
        match inner.store.get(&location).await {
            Ok(got) => {
                let key = path.to_string();
                Ok(Some(
                    got.into_stream()
                        .map_err(move |e| std::io::Error::other(S3Error::from(e).at(Some(&key))))
                        .boxed(),
                ))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => inner
                .directory_or(&location, e)
                .await
                .map(|()| None)
                .map_err(|e| e.at(Some(path.as_str()))),
        }
    }

    /// Saves the chunks of `stream` at `path`: one PUT below the multipart threshold,
    /// else a multipart upload of parts of the part size, at most two in flight (so a
    /// few parts are in memory, never the value), aborted when the stream fails.
    async fn save_stream(&self, path: &SafePath, mut stream: ByteStream<'_>) -> Result<u64> {
        let inner = &self.inner;
        let at = |e: S3Error| e.at(Some(path.as_str()));
        let input = |e| StorageError::input(path, e);
        let threshold = inner.config.multipart_threshold;
        let mut head = BytesMut::new();
        let mut ended = true;
        while let Some(chunk) = stream.next().await {
            head.extend_from_slice(&chunk.map_err(input)?);
            if head.len() >= threshold {
                ended = false;
                break;
            }
        }
        if ended {
            let len = head.len() as u64;
            return match inner.save(path, head.freeze()).await {
                Ok(()) => Ok(len),
                Err(SaveError::Conflict(reason)) => Err(StorageError::Conflict {
                    path: path.to_string(),
                    reason,
                }),
                Err(SaveError::S3(e)) => Err(at(e)),
            };
        }
        let location = inner.location(path);
        let upload = match inner.store.put_multipart(&location).await {
            Ok(upload) => upload,
            Err(err) => {
                if !inner.config.nested_keys
                    && let Some(reason) = inner.conflict(path).await
                {
                    return Err(StorageError::Conflict {
                        path: path.to_string(),
                        reason,
                    });
                }
                return Err(at(err.into()));
            }
        };
        let mut writer = WriteMultipart::new_with_chunk_size(upload, inner.config.part_size);
        let mut len = head.len() as u64;
        writer.put(head.freeze());
        loop {
            let chunk = match stream.next().await {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    // Nothing of the upload is left: S3 drops its parts.
                    let _ = writer.abort().await;
                    return Err(input(e));
                }
            };
            if let Err(e) = writer.wait_for_capacity(STREAM_PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(at(e.into()));
            }
            len += chunk.len() as u64;
            writer.put(chunk);
        }
        writer.finish().await.map_err(|e| at(e.into()))?;
        Ok(len)
    }
}

/// Parts of a streamed upload in flight at once.
const STREAM_PARTS_IN_FLIGHT: usize = 2;

impl AsyncStorage for S3AsyncStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_create(self.inner.config.conditional_create)
            .with_conditional_write(self.inner.config.conditional_write)
            .with_nested_keys(self.inner.config.nested_keys)
            .with_persistent(true)
            .with_listed_versions(true)
    }

    fn file_save<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        async move {
            match self.inner.save(path, data).await {
                Ok(()) => Ok(()),
                Err(SaveError::Conflict(reason)) => Err(StorageError::Conflict {
                    path: path.to_string(),
                    reason,
                }),
                Err(SaveError::S3(e)) => Err(e.at(Some(path.as_str()))),
            }
        }
        .boxed()
    }

    fn file_bytes<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<Bytes>>> {
        async move {
            let inner = &self.inner;
            let location = inner.location(path);
            let got = match inner.store.get(&location).await {
                Ok(got) => got.bytes().await,
                Err(e) => Err(e),
            };
            match got {
                Ok(bytes) => Ok(Some(bytes)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => inner.directory_or(&location, e).await.map(|()| None),
            }
            .map_err(|e| e.at(Some(path.as_str())))
        }
        .boxed()
    }

    fn file_exists<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        async move {
            self.inner
                .exists(&self.inner.location(path))
                .await
                .map_err(|e| e.at(Some(path.as_str())))
        }
        .boxed()
    }

    fn file_delete<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        async move {
            let inner = &self.inner;
            let location = inner.location(path);
            let deleted: Result<bool, S3Error> = async {
                if !inner.exists(&location).await? {
                    return Ok(false);
                }
                inner.store.delete(&location).await?;
                Ok(true)
            }
            .await;
            deleted.map_err(|e| e.at(Some(path.as_str())))
        }
        .boxed()
    }

    fn files_paths<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<SafePath>>> {
        async move {
            let listed = self
                .inner
                .listing(prefix, false)
                .await
                .map_err(|e| e.at(prefix.map(SafePath::as_str)))?;
            Ok(listed.into_iter().map(|(key, _)| key).collect())
        }
        .boxed()
    }

    /// One listing (a request per thousand keys): S3 listings carry each object's
    /// `ETag`, the version [`file_get`](AsyncStorage::file_get) hands out.
    fn files_versions<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<(SafePath, Version)>>> {
        async move {
            let listed = self
                .inner
                .listing(prefix, true)
                .await
                .map_err(|e| e.at(prefix.map(SafePath::as_str)))?;
            Ok(listed
                .into_iter()
                .filter_map(|(key, e_tag)| e_tag.map(|t| (key, Version::new(t))))
                .collect())
        }
        .boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        async move {
            let inner = &self.inner;
            let cleared: Result<(), S3Error> = async {
                let all = inner.list_below(None).await?;
                inner.delete_all(all).await
            }
            .await;
            cleared.map_err(|e| e.at(None))
        }
        .boxed()
    }

    fn file_create<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        async move {
            let inner = &self.inner;
            if !inner.config.conditional_create {
                if self.file_exists(path).await? {
                    return Err(StorageError::AlreadyExists {
                        path: path.to_string(),
                    });
                }
                return self.file_save(path, data).await;
            }
            let options = PutOptions::from(PutMode::Create);
            match inner
                .store
                .put_opts(&inner.location(path), PutPayload::from(data), options)
                .await
            {
                Ok(_) => Ok(()),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Err(StorageError::AlreadyExists {
                    path: path.to_string(),
                }),
                Err(e) => Err(S3Error::from(e).at(Some(path.as_str()))),
            }
        }
        .boxed()
    }

    fn files_save<'a>(&'a self, items: &'a [(SafePath, Bytes)]) -> BoxFuture<'a, Result<()>> {
        async move {
            let inner = &self.inner;
            let concurrency = inner.config.concurrency;
            let failures =
                stream::iter(items.iter().cloned())
                    .map(|(key, data)| async move {
                        inner.save(&key, data).await.err().map(|e| (key, e))
                    })
                    .buffer_unordered(concurrency)
                    .filter_map(std::future::ready)
                    .collect::<Vec<_>>()
                    .await;
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
        .boxed()
    }

    fn files_delete<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<usize>> {
        async move {
            let inner = &self.inner;
            let keys = sorted_unique(paths);
            let deleted: Result<usize, S3Error> = async {
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
                        .map(|location| async move {
                            let found = inner.exists(&location).await?;
                            Ok::<_, S3Error>(found.then_some(location))
                        })
                        .buffer_unordered(concurrency)
                        .try_filter_map(|found| std::future::ready(Ok(found)))
                        .try_collect()
                        .await?
                };
                let count = existing.len();
                inner.delete_all(existing).await?;
                Ok(count)
            }
            .await;
            deleted.map_err(|e| e.at(None))
        }
        .boxed()
    }

    /// One `DeleteObjects` request per 1,000 keys, with no look first: S3 deletes a
    /// missing key without complaint.
    fn files_remove<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<()>> {
        async move {
            let inner = &self.inner;
            let locations = sorted_unique(paths)
                .iter()
                .map(|k| inner.location(k))
                .collect();
            inner.delete_all(locations).await.map_err(|e| e.at(None))
        }
        .boxed()
    }

    fn file_get<'a>(
        &'a self,
        path: &'a SafePath,
    ) -> BoxFuture<'a, Result<Option<(Bytes, Version)>>> {
        async move {
            let got = self
                .inner
                .get(path)
                .await
                .map_err(|e| e.at(Some(path.as_str())))?;
            Ok(got.map(|(bytes, e_tag)| (bytes, Version::new(e_tag))))
        }
        .boxed()
    }

    /// One conditional PUT where the server honours it
    /// ([`S3Config::conditional_write`]): `If-None-Match: *` for `Expect::Absent`,
    /// `If-Match` with the expected `ETag` otherwise, whatever the size of the value (a
    /// single PUT takes up to 5 GiB; object_store's multipart uploads carry no
    /// condition). Elsewhere a `HEAD` compares first, and the write follows (not atomic,
    /// as the capability says).
    fn file_save_if<'a>(
        &'a self,
        path: &'a SafePath,
        data: Bytes,
        expect: &'a Expect,
    ) -> BoxFuture<'a, Result<Version>> {
        async move {
            let inner = &self.inner;
            let answer: Result<String, Refusal> = async {
                if inner.config.conditional_write {
                    return inner.put_if(path, data, expect).await;
                }
                inner.check(path, expect).await?;
                let created = matches!(expect, Expect::Absent) && inner.config.conditional_create;
                if created {
                    return inner.put_if(path, data, &Expect::Absent).await;
                }
                let location = inner.location(path);
                match inner.save(path, data).await {
                    Ok(()) => {}
                    Err(SaveError::Conflict(reason)) => return Err(Refusal::Conflict(reason)),
                    Err(SaveError::S3(e)) => return Err(Refusal::S3(e)),
                }
                match inner.e_tag(&location).await {
                    Ok(Some(e_tag)) => Ok(e_tag),
                    Ok(None) => Err(Refusal::Stale),
                    Err(e) => Err(Refusal::S3(e)),
                }
            }
            .await;
            answer.map(Version::new).map_err(|e| e.at(path))
        }
        .boxed()
    }

    /// Checks every key with one `HEAD` each (a failed check writes nothing), then runs
    /// the writes in order. Where the server honours conditional writes, every put to a
    /// checked key is a conditional PUT against the version the check saw (or against
    /// that put's own result, for a second put of the key), so the check and that write
    /// are one step: of two batches that check and rewrite the same key, one fails with
    /// `PreconditionFailed`. The other writes are plain, and a batch that fails part
    /// way keeps the writes before the failure (S3 has no `atomic_batch`).
    fn apply<'a>(&'a self, batch: &'a Batch<'a>) -> BoxFuture<'a, Result<()>> {
        async move {
            let checks = batch.checks().to_vec();
            let writes: Vec<Owned> = batch
                .writes()
                .iter()
                .map(|w| match w {
                    Write::Put { path, data } => {
                        Owned::Put(path.clone(), Bytes::copy_from_slice(data))
                    }
                    Write::Delete { path } => Owned::Delete(path.clone()),
                    Write::Copy { from, to } => Owned::Copy(from.clone(), to.clone()),
                })
                .collect();
            self.inner
                .apply(checks, writes)
                .await
                .map_err(|(key, refusal)| refusal.at(&key))
        }
        .boxed()
    }

    fn file_copy<'a>(
        &'a self,
        from: &'a SafePath,
        to: &'a SafePath,
    ) -> BoxFuture<'a, Result<bool>> {
        async move { self.inner.copy(from, to).await.map_err(|e| e.at(to)) }.boxed()
    }

    fn file_save_stream<'a>(
        &'a self,
        path: &'a SafePath,
        stream: ByteStream<'a>,
    ) -> BoxFuture<'a, Result<u64>> {
        self.save_stream(path, stream).boxed()
    }

    /// One GET, its body handed on as it arrives.
    fn file_stream<'s: 'p, 'p>(
        &'s self,
        path: &'p SafePath,
    ) -> BoxFuture<'p, Result<Option<ByteStream<'s>>>> {
        async move { self.open_stream(path).await }.boxed()
    }

    /// A `HEAD` for the length, then a ranged GET of what lies inside the value.
    fn file_range<'a>(
        &'a self,
        path: &'a SafePath,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<Option<Bytes>>> {
        async move {
            let Some(size) = self.file_size(path).await? else {
                return Ok(None);
            };
            let start = offset.min(size);
            let end = start.saturating_add(len).min(size);
            if start == end {
                return Ok(Some(Bytes::new()));
            }
            let location = self.inner.location(path);
            match self.inner.store.get_range(&location, start..end).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(S3Error::from(e).at(Some(path.as_str()))),
            }
        }
        .boxed()
    }

    /// One `HEAD`.
    fn file_size<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<u64>>> {
        async move {
            let inner = &self.inner;
            let location = inner.location(path);
            match inner.store.head(&location).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => inner.directory_or(&location, e).await.map(|()| None),
            }
            .map_err(|e| e.at(Some(path.as_str())))
        }
        .boxed()
    }
}

/// Runs `f`, which blocks, telling a multi-threaded caller runtime first so it moves
/// its other tasks elsewhere (a current-thread runtime has nowhere to move them, and
/// the IO runtime's tasks do not need it).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(caller) if caller.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Chunks in flight between a blocking caller and the IO runtime.
const IN_FLIGHT: usize = 2;

/// Every call is the async store's own, spawned on the IO runtime with its arguments
/// owned and waited on.
impl Storage for S3Storage {
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        let data = Bytes::copy_from_slice(data);
        self.call(
            path,
            move |s, key| async move { s.file_save(&key, data).await },
        )
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        let got = self.call(path, |s, key| async move { s.file_bytes(&key).await })?;
        Ok(got.map(Vec::from))
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        self.call(path, |s, key| async move { s.file_exists(&key).await })
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        self.call(path, |s, key| async move { s.file_delete(&key).await })
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let prefix = prefix.cloned();
        let store = self.store.clone();
        self.wait(
            None,
            async move { store.files_paths(prefix.as_ref()).await },
        )
    }

    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        let prefix = prefix.cloned();
        let store = self.store.clone();
        self.wait(
            None,
            async move { store.files_versions(prefix.as_ref()).await },
        )
    }

    fn clear(&self) -> Result<()> {
        let store = self.store.clone();
        self.wait(None, async move { store.clear().await })
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        let data = Bytes::copy_from_slice(data);
        self.call(path, move |s, key| async move {
            s.file_create(&key, data).await
        })
    }

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        let owned: Vec<(SafePath, Bytes)> = items
            .iter()
            .map(|(k, d)| (k.clone(), Bytes::copy_from_slice(d)))
            .collect();
        let store = self.store.clone();
        self.wait(None, async move { store.files_save(&owned).await })
    }

    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        let paths = paths.to_vec();
        let store = self.store.clone();
        self.wait(None, async move { store.files_delete(&paths).await })
    }

    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        let paths = paths.to_vec();
        let store = self.store.clone();
        self.wait(None, async move { store.files_remove(&paths).await })
    }

    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        let got = self.call(path, |s, key| async move { s.file_get(&key).await })?;
        Ok(got.map(|(bytes, version)| (Vec::from(bytes), version)))
    }

    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        let data = Bytes::copy_from_slice(data);
        let expect = expect.clone();
        self.call(path, move |s, key| async move {
            s.file_save_if(&key, data, &expect).await
        })
    }

    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        let checks = batch.checks().to_vec();
        let writes: Vec<Owned> = batch
            .writes()
            .iter()
            .map(|w| match w {
                Write::Put { path, data } => Owned::Put(path.clone(), Bytes::copy_from_slice(data)),
                Write::Delete { path } => Owned::Delete(path.clone()),
                Write::Copy { from, to } => Owned::Copy(from.clone(), to.clone()),
            })
            .collect();
        let inner = Arc::clone(&self.store.inner);
        self.wait(None, async move {
            inner
                .apply(checks, writes)
                .await
                .map_err(|(key, refusal)| refusal.at(&key))
        })
    }

    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        let (source, target) = (from.clone(), to.clone());
        let store = self.store.clone();
        self.wait(Some(from), async move {
            store.file_copy(&source, &target).await
        })
    }

    /// Reads `reader` on the calling thread and hands its chunks to the async store's
    /// streamed save (one PUT, or a multipart upload) on the IO runtime, a few chunks
    /// in flight.
    fn file_save_from(&self, path: &SafePath, reader: &mut dyn std::io::Read) -> Result<u64> {
        let (mut tx, rx) = futures::channel::mpsc::channel::<std::io::Result<Bytes>>(IN_FLIGHT);
        let store = self.store.clone();
        let key = path.clone();
        let task = self
            .handle
            .spawn(async move { store.file_save_stream(&key, rx.boxed()).await });
        blocking(|| {
            loop {
                let mut buf = vec![0; CHUNK];
                let item = match read_full(reader, &mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(Bytes::from(buf))
                    }
                    Err(e) => Err(e),
                };
                let last = item.as_ref().map_or(true, |b| b.len() < CHUNK);
                // The save stopped reading (it failed): its error is the answer.
                if futures::executor::block_on(tx.send(item)).is_err() || last {
                    break;
                }
            }
            drop(tx);
            futures::executor::block_on(task)
        })
        .map_err(|e| S3Error::Task(e.to_string()).at(Some(path.as_str())))?
    }

    /// One GET on the IO runtime, its body handed over a few chunks at a time.
    fn file_reader(&self, path: &SafePath) -> Result<Option<ValueReader<'_>>> {
        let store = self.store.clone();
        let key = path.clone();
        let opened = self.wait(Some(path), async move { store.open_stream(&key).await })?;
        let Some(mut stream) = opened else {
            return Ok(None);
        };
        let (mut tx, rx) = futures::channel::mpsc::channel(IN_FLIGHT);
        self.handle.spawn(async move {
            while let Some(chunk) = stream.next().await {
                // The reader was dropped: stop reading the body.
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        // The chunks a task on the IO runtime receives from the body.
        let mut rx = rx;
        Ok(Some(Box::new(memory_fs_storage::ChunkReader::new(
            move || blocking(|| futures::executor::block_on(rx.next())),
        ))))
    }

    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let got = self.call(path, move |s, key| async move {
            s.file_range(&key, offset, len).await
        })?;
        Ok(got.map(Vec::from))
    }

    fn file_size(&self, path: &SafePath) -> Result<Option<u64>> {
        self.call(path, |s, key| async move { s.file_size(&key).await })
    }
}

/// `paths` sorted, each once.
fn sorted_unique(paths: &[SafePath]) -> Vec<SafePath> {
    paths
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

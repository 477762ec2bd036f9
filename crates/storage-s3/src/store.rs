//! `S3Storage`: the `Storage` trait over `object_store`'s S3 client, run on an owned runtime.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use memory_fs_storage::{
    Batch, Capabilities, Expect, Result, SafePath, Storage, StorageError, Version, Write,
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

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = Result<T, S3Error>> + Send>>;

impl Storage for S3Storage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_create(self.inner.config.conditional_create)
            .with_conditional_write(self.inner.config.conditional_write)
            .with_nested_keys(self.inner.config.nested_keys)
            .with_persistent(true)
            .with_listed_versions(true)
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
        let listed = self.request(prefix, move |inner| -> BoxFuture<_> {
            Box::pin(async move { inner.listing(owned.as_ref(), false).await })
        })?;
        Ok(listed.into_iter().map(|(key, _)| key).collect())
    }

    /// One listing (a request per thousand keys): S3 listings carry each object's
    /// `ETag`, the version [`file_get`](Storage::file_get) hands out.
    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        let owned = prefix.cloned();
        let listed = self.request(prefix, move |inner| -> BoxFuture<_> {
            Box::pin(async move { inner.listing(owned.as_ref(), true).await })
        })?;
        Ok(listed
            .into_iter()
            .filter_map(|(key, e_tag)| e_tag.map(|t| (key, Version::new(t))))
            .collect())
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
        let keys = sorted_unique(paths);
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

    /// One `DeleteObjects` request per 1,000 keys, with no look first: S3 deletes a
    /// missing key without complaint.
    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        let keys = sorted_unique(paths);
        self.request(None, move |inner| -> BoxFuture<_> {
            Box::pin(async move {
                let locations = keys.iter().map(|k| inner.location(k)).collect();
                inner.delete_all(locations).await
            })
        })
    }

    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        let key = path.clone();
        let got = self.request(Some(path), move |inner| -> BoxFuture<_> {
            Box::pin(async move { inner.get(&key).await })
        })?;
        Ok(got.map(|(bytes, e_tag)| (Vec::from(bytes), Version::new(e_tag))))
    }

    /// One conditional PUT where the server honours it
    /// ([`S3Config::conditional_write`]): `If-None-Match: *` for `Expect::Absent`,
    /// `If-Match` with the expected `ETag` otherwise, whatever the size of the value (a
    /// single PUT takes up to 5 GiB; object_store's multipart uploads carry no
    /// condition). Elsewhere a `HEAD` compares first, and the write follows (not atomic,
    /// as the capability says).
    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        let key = path.clone();
        let data = Bytes::copy_from_slice(data);
        let expect = expect.clone();
        let inner = Arc::clone(&self.inner);
        let answer = self
            .block(async move {
                if inner.config.conditional_write {
                    return inner.put_if(&key, data, &expect).await;
                }
                inner.check(&key, &expect).await?;
                let created = matches!(expect, Expect::Absent) && inner.config.conditional_create;
                if created {
                    return inner.put_if(&key, data, &Expect::Absent).await;
                }
                let location = inner.location(&key);
                let saved = inner.save(&key, data).await;
                match saved {
                    Ok(()) => {}
                    Err(SaveError::Conflict(reason)) => return Err(Refusal::Conflict(reason)),
                    Err(SaveError::S3(e)) => return Err(Refusal::S3(e)),
                }
                match inner.e_tag(&location).await {
                    Ok(Some(e_tag)) => Ok(e_tag),
                    Ok(None) => Err(Refusal::Stale),
                    Err(e) => Err(Refusal::S3(e)),
                }
            })
            .map_err(|e| e.at(Some(path.as_str())))?;
        answer.map(Version::new).map_err(|e| e.at(path))
    }

    /// Checks every key with one `HEAD` each (a failed check writes nothing), then runs
    /// the writes in order. Where the server honours conditional writes, every put to a
    /// checked key is a conditional PUT against the version the check saw (or against
    /// that put's own result, for a second put of the key), so the check and that write
    /// are one step: of two batches that check and rewrite the same key, one fails with
    /// `PreconditionFailed`. The other writes are plain, and a batch that fails part
    /// way keeps the writes before the failure (S3 has no `atomic_batch`).
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
        let inner = Arc::clone(&self.inner);
        self.block(async move { inner.apply(checks, writes).await })
            .map_err(|e| e.at(None))?
            .map_err(|(key, refusal)| refusal.at(&key))
    }

    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        let (source, target) = (from.clone(), to.clone());
        let inner = Arc::clone(&self.inner);
        let copied = self
            .block(async move { inner.copy(&source, &target).await })
            .map_err(|e| e.at(Some(from.as_str())))?;
        copied.map_err(|e| e.at(to))
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

//! The async twin of [`Storage`]: [`AsyncStorage`], and the adapters that join the two
//! contracts so one conformance suite checks both.
//!
//! - [`Inline`] runs a blocking provider's calls inside the future, for providers whose
//!   calls take microseconds (memory): no thread hop.
//! - [`Pooled`] runs each call on tokio's blocking pool (`spawn_blocking`), for
//!   providers that wait on the disk (disk, SQLite), so the caller's executor threads
//!   never block.
//! - [`BlockOn`] is a blocking [`Storage`] over an async one, driving each future on a
//!   runtime it owns; it works from plain threads and from inside any runtime.
//!
//! Values go in and out as [`Bytes`] (owned, shared without copying); streamed values
//! as a [`ByteStream`] of chunks.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use crate::{
    Batch, CHUNK, Capabilities, Expect, Result, SafePath, Storage, StorageError, ValueReader,
    Version, Write, read_full,
};

/// A stream of the chunks of one value; an error ends it.
pub type ByteStream<'a> = BoxStream<'a, io::Result<Bytes>>;

/// How many chunks may wait between the two sides of a bridge from a reader to a
/// stream (or back): enough to keep both busy, few enough to bound memory.
const IN_FLIGHT: usize = 2;

/// The async twin of [`Storage`]: the same contract, call for call (the conformance
/// suite runs on it through [`BlockOn`]), with futures that borrow their arguments
/// and streams for values that need not fit in memory.
///
/// Object-safe (`Box<dyn AsyncStorage>`, `Arc<dyn AsyncStorage>`); every future is
/// `Send`, so it can be spawned on a multi-threaded runtime. The provided methods
/// follow the provided methods of [`Storage`] (check then write, whole values); a
/// provider overrides what its backend does better.
pub trait AsyncStorage: Send + Sync + std::fmt::Debug {
    /// What this provider can promise (as [`Storage::capabilities`]).
    fn capabilities(&self) -> Capabilities;

    /// As [`Storage::file_save`].
    fn file_save<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>>;

    /// As [`Storage::file_bytes`].
    fn file_bytes<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<Bytes>>>;

    /// As [`Storage::file_exists`].
    fn file_exists<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>>;

    /// As [`Storage::file_delete`].
    fn file_delete<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>>;

    /// As [`Storage::files_paths`].
    fn files_paths<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<SafePath>>>;

    /// As [`Storage::clear`].
    fn clear(&self) -> BoxFuture<'_, Result<()>>;

    /// As [`Storage::file_create`].
    fn file_create<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        async move {
            if self.file_exists(path).await? {
                return Err(StorageError::AlreadyExists {
                    path: path.to_string(),
                });
            }
            self.file_save(path, data).await
        }
        .boxed()
    }

    /// As [`Storage::file_get`].
    fn file_get<'a>(
        &'a self,
        path: &'a SafePath,
    ) -> BoxFuture<'a, Result<Option<(Bytes, Version)>>> {
        async move {
            Ok(self.file_bytes(path).await?.map(|bytes| {
                let version = Version::of_bytes(&bytes);
                (bytes, version)
            }))
        }
        .boxed()
    }

    /// As [`Storage::file_save_if`].
    fn file_save_if<'a>(
        &'a self,
        path: &'a SafePath,
        data: Bytes,
        expect: &'a Expect,
    ) -> BoxFuture<'a, Result<Version>> {
        async move {
            let current = self.file_get(path).await?.map(|(_, version)| version);
            expect.check(path, current.as_ref())?;
            let version = Version::of_bytes(&data);
            match expect {
                Expect::Absent => self.file_create(path, data).await?,
                Expect::Version(_) => self.file_save(path, data).await?,
            }
            Ok(version)
        }
        .boxed()
    }

    /// As [`Storage::apply`].
    fn apply<'a>(&'a self, batch: &'a Batch<'a>) -> BoxFuture<'a, Result<()>> {
        async move {
            for (path, expect) in batch.checks() {
                let current = self.file_get(path).await?.map(|(_, version)| version);
                expect.check(path, current.as_ref())?;
            }
            for write in batch.writes() {
                match write {
                    Write::Put { path, data } => {
                        self.file_save(path, Bytes::copy_from_slice(data)).await?;
                    }
                    Write::Delete { path } => {
                        self.file_delete(path).await?;
                    }
                    Write::Copy { from, to } => {
                        if !self.file_copy(from, to).await? {
                            return Err(StorageError::NotFound {
                                path: from.to_string(),
                            });
                        }
                    }
                }
            }
            Ok(())
        }
        .boxed()
    }

    /// As [`Storage::file_copy`].
    fn file_copy<'a>(
        &'a self,
        from: &'a SafePath,
        to: &'a SafePath,
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            match self.file_bytes(from).await? {
                Some(bytes) => {
                    self.file_save(to, bytes).await?;
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        .boxed()
    }

    /// As [`Storage::files_versions`].
    fn files_versions<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<(SafePath, Version)>>> {
        async move {
            let mut listed = Vec::new();
            for path in self.files_paths(prefix).await? {
                if let Some((_, version)) = self.file_get(&path).await? {
                    listed.push((path, version));
                }
            }
            Ok(listed)
        }
        .boxed()
    }

    /// As [`Storage::files_remove`].
    fn files_remove<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<()>> {
        async move { self.files_delete(paths).await.map(drop) }.boxed()
    }

    /// As [`Storage::files_save`].
    fn files_save<'a>(&'a self, items: &'a [(SafePath, Bytes)]) -> BoxFuture<'a, Result<()>> {
        async move {
            for (path, data) in items {
                self.file_save(path, data.clone()).await?;
            }
            Ok(())
        }
        .boxed()
    }

    /// As [`Storage::files_delete`].
    fn files_delete<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<usize>> {
        async move {
            let mut n = 0;
            for path in paths {
                n += usize::from(self.file_delete(path).await?);
            }
            Ok(n)
        }
        .boxed()
    }

    /// Saves the chunks of `stream` at `path` and returns their length, as
    /// [`Storage::file_save_from`] saves a reader's bytes: atomic as `file_save`, and a
    /// stream that ends in an error leaves the old value ([`ErrorKind::Input`]).
    ///
    /// The provided implementation gathers the value, then saves it.
    ///
    /// [`ErrorKind::Input`]: crate::ErrorKind::Input
    fn file_save_stream<'a>(
        &'a self,
        path: &'a SafePath,
        mut stream: ByteStream<'a>,
    ) -> BoxFuture<'a, Result<u64>> {
        async move {
            let mut data = Vec::new();
            while let Some(chunk) = stream.next().await {
                data.extend_from_slice(&chunk.map_err(|e| StorageError::input(path, e))?);
            }
            let len = data.len() as u64;
            self.file_save(path, Bytes::from(data)).await?;
            Ok(len)
        }
        .boxed()
    }

    /// The value at `path` as a stream of chunks, or `None`, as
    /// [`Storage::file_reader`] reads it (one value, never a mix of two saves).
    ///
    /// The provided implementation reads the whole value first.
    fn file_stream<'s: 'p, 'p>(
        &'s self,
        path: &'p SafePath,
    ) -> BoxFuture<'p, Result<Option<ByteStream<'s>>>> {
        async move {
            Ok(self
                .file_bytes(path)
                .await?
                .map(|bytes| futures::stream::iter([Ok(bytes)]).boxed()))
        }
        .boxed()
    }

    /// As [`Storage::file_range`].
    fn file_range<'a>(
        &'a self,
        path: &'a SafePath,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<Option<Bytes>>> {
        async move {
            Ok(self
                .file_bytes(path)
                .await?
                .map(|bytes| bytes.slice(crate::clip_range(bytes.len(), offset, len))))
        }
        .boxed()
    }

    /// As [`Storage::file_size`].
    fn file_size<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<u64>>> {
        async move { Ok(self.file_bytes(path).await?.map(|b| b.len() as u64)) }.boxed()
    }
}

/// A blocking [`Storage`] whose calls take microseconds (the memory provider), as an
/// [`AsyncStorage`] that runs each call inside its future: no thread hop, no wait
/// worth moving off the executor.
#[derive(Debug, Clone)]
pub struct Inline<S>(pub S);

/// Reads a blocking reader as a stream of chunks of up to [`CHUNK`] bytes, inline.
fn reader_stream<'a>(reader: ValueReader<'a>) -> ByteStream<'a> {
    futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0; CHUNK];
        match read_full(&mut reader, &mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                let more = n == CHUNK;
                Some((Ok(Bytes::from(buf)), more.then_some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

impl<S: Storage> AsyncStorage for Inline<S> {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn file_save<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        async move { self.0.file_save(path, &data) }.boxed()
    }
    fn file_bytes<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<Bytes>>> {
        async move { self.0.file_bytes(path).map(|v| v.map(Bytes::from)) }.boxed()
    }
    fn file_exists<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        async move { self.0.file_exists(path) }.boxed()
    }
    fn file_delete<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        async move { self.0.file_delete(path) }.boxed()
    }
    fn files_paths<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<SafePath>>> {
        async move { self.0.files_paths(prefix) }.boxed()
    }
    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        async move { self.0.clear() }.boxed()
    }
    fn file_create<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        async move { self.0.file_create(path, &data) }.boxed()
    }
    fn file_get<'a>(
        &'a self,
        path: &'a SafePath,
    ) -> BoxFuture<'a, Result<Option<(Bytes, Version)>>> {
        async move { Ok(self.0.file_get(path)?.map(|(b, v)| (Bytes::from(b), v))) }.boxed()
    }
    fn file_save_if<'a>(
        &'a self,
        path: &'a SafePath,
        data: Bytes,
        expect: &'a Expect,
    ) -> BoxFuture<'a, Result<Version>> {
        async move { self.0.file_save_if(path, &data, expect) }.boxed()
    }
    fn apply<'a>(&'a self, batch: &'a Batch<'a>) -> BoxFuture<'a, Result<()>> {
        async move { self.0.apply(batch) }.boxed()
    }
    fn file_copy<'a>(
        &'a self,
        from: &'a SafePath,
        to: &'a SafePath,
    ) -> BoxFuture<'a, Result<bool>> {
        async move { self.0.file_copy(from, to) }.boxed()
    }
    fn files_versions<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<(SafePath, Version)>>> {
        async move { self.0.files_versions(prefix) }.boxed()
    }
    fn files_remove<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<()>> {
        async move { self.0.files_remove(paths) }.boxed()
    }
    fn files_save<'a>(&'a self, items: &'a [(SafePath, Bytes)]) -> BoxFuture<'a, Result<()>> {
        async move {
            let items: Vec<(SafePath, &[u8])> =
                items.iter().map(|(k, d)| (k.clone(), &d[..])).collect();
            self.0.files_save(&items)
        }
        .boxed()
    }
    fn files_delete<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<usize>> {
        async move { self.0.files_delete(paths) }.boxed()
    }
    /// Gathers the stream, then saves it: the store holds the value in memory anyway,
    /// and a blocking save cannot wait on a stream inside the executor.
    fn file_save_stream<'a>(
        &'a self,
        path: &'a SafePath,
        mut stream: ByteStream<'a>,
    ) -> BoxFuture<'a, Result<u64>> {
        async move {
            let mut data = Vec::new();
            while let Some(chunk) = stream.next().await {
                data.extend_from_slice(&chunk.map_err(|e| StorageError::input(path, e))?);
            }
            self.0.file_save_from(path, &mut &data[..])
        }
        .boxed()
    }
    /// The provider's own reader, a chunk at a time.
    fn file_stream<'s: 'p, 'p>(
        &'s self,
        path: &'p SafePath,
    ) -> BoxFuture<'p, Result<Option<ByteStream<'s>>>> {
        async move { Ok(self.0.file_reader(path)?.map(reader_stream)) }.boxed()
    }
    fn file_range<'a>(
        &'a self,
        path: &'a SafePath,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<Option<Bytes>>> {
        async move { Ok(self.0.file_range(path, offset, len)?.map(Bytes::from)) }.boxed()
    }
    fn file_size<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<u64>>> {
        async move { self.0.file_size(path) }.boxed()
    }
}

/// A blocking [`Storage`] that waits on the disk (disk, SQLite), as an
/// [`AsyncStorage`] that runs each call on tokio's blocking pool, so the caller's
/// executor threads never wait on it. Must be used inside a tokio runtime.
#[derive(Debug)]
pub struct Pooled<S> {
    storage: Arc<S>,
}

impl<S> Clone for Pooled<S> {
    fn clone(&self) -> Self {
        Self {
            storage: Arc::clone(&self.storage),
        }
    }
}

impl<S: Storage + 'static> Pooled<S> {
    /// `storage`, its calls run on the blocking pool.
    pub fn new(storage: S) -> Self {
        Self::from_arc(Arc::new(storage))
    }

    /// A shared `storage`, its calls run on the blocking pool.
    pub fn from_arc(storage: Arc<S>) -> Self {
        Self { storage }
    }

    /// The blocking storage underneath.
    pub fn get_ref(&self) -> &S {
        &self.storage
    }

    /// Runs `call` on the blocking pool with the storage and waits for it without
    /// blocking the executor.
    fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&S) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let storage = Arc::clone(&self.storage);
        async move {
            match tokio::task::spawn_blocking(move || call(&storage)).await {
                Ok(answer) => answer,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(StorageError::backend(
                    "blocking pool",
                    None,
                    format!("the call was cancelled: {e}"),
                )),
            }
        }
        .boxed()
    }
}

impl<S: Storage + 'static> AsyncStorage for Pooled<S> {
    fn capabilities(&self) -> Capabilities {
        self.storage.capabilities()
    }
    fn file_save<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        let path = path.clone();
        self.run(move |s| s.file_save(&path, &data))
    }
    fn file_bytes<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<Bytes>>> {
        let path = path.clone();
        self.run(move |s| s.file_bytes(&path).map(|v| v.map(Bytes::from)))
    }
    fn file_exists<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        let path = path.clone();
        self.run(move |s| s.file_exists(&path))
    }
    fn file_delete<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        let path = path.clone();
        self.run(move |s| s.file_delete(&path))
    }
    fn files_paths<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<SafePath>>> {
        let prefix = prefix.cloned();
        self.run(move |s| s.files_paths(prefix.as_ref()))
    }
    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        self.run(|s| s.clear())
    }
    fn file_create<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        let path = path.clone();
        self.run(move |s| s.file_create(&path, &data))
    }
    fn file_get<'a>(
        &'a self,
        path: &'a SafePath,
    ) -> BoxFuture<'a, Result<Option<(Bytes, Version)>>> {
        let path = path.clone();
        self.run(move |s| Ok(s.file_get(&path)?.map(|(b, v)| (Bytes::from(b), v))))
    }
    fn file_save_if<'a>(
        &'a self,
        path: &'a SafePath,
        data: Bytes,
        expect: &'a Expect,
    ) -> BoxFuture<'a, Result<Version>> {
        let (path, expect) = (path.clone(), expect.clone());
        self.run(move |s| s.file_save_if(&path, &data, &expect))
    }
    fn apply<'a>(&'a self, batch: &'a Batch<'a>) -> BoxFuture<'a, Result<()>> {
        let owned = OwnedBatch::of(batch);
        self.run(move |s| s.apply(&owned.batch()))
    }
    fn file_copy<'a>(
        &'a self,
        from: &'a SafePath,
        to: &'a SafePath,
    ) -> BoxFuture<'a, Result<bool>> {
        let (from, to) = (from.clone(), to.clone());
        self.run(move |s| s.file_copy(&from, &to))
    }
    fn files_versions<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<(SafePath, Version)>>> {
        let prefix = prefix.cloned();
        self.run(move |s| s.files_versions(prefix.as_ref()))
    }
    fn files_remove<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<()>> {
        let paths = paths.to_vec();
        self.run(move |s| s.files_remove(&paths))
    }
    fn files_save<'a>(&'a self, items: &'a [(SafePath, Bytes)]) -> BoxFuture<'a, Result<()>> {
        let items = items.to_vec();
        self.run(move |s| {
            let items: Vec<(SafePath, &[u8])> =
                items.iter().map(|(k, d)| (k.clone(), &d[..])).collect();
            s.files_save(&items)
        })
    }
    fn files_delete<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<usize>> {
        let paths = paths.to_vec();
        self.run(move |s| s.files_delete(&paths))
    }
    /// The provider's streamed save on the pool, fed the stream's chunks through a
    /// channel of `IN_FLIGHT` chunks: the value is never gathered.
    fn file_save_stream<'a>(
        &'a self,
        path: &'a SafePath,
        mut stream: ByteStream<'a>,
    ) -> BoxFuture<'a, Result<u64>> {
        let (mut tx, rx) = futures::channel::mpsc::channel(IN_FLIGHT);
        let key = path.clone();
        let save = self.run(move |s| {
            // Chunks sent from the async stream, read by the blocking save on the pool.
            let mut rx = rx;
            let mut reader =
                crate::ChunkReader::new(move || futures::executor::block_on(rx.next()));
            s.file_save_from(&key, &mut reader)
        });
        async move {
            let feed = async move {
                while let Some(chunk) = stream.next().await {
                    let failed = chunk.is_err();
                    // The save stopped reading (it failed): its error is the answer.
                    if tx.send(chunk).await.is_err() || failed {
                        break;
                    }
                }
            };
            let ((), saved) = futures::join!(feed, save);
            saved
        }
        .boxed()
    }
    /// The provider's reader on the pool, its chunks sent through a channel of
    /// `IN_FLIGHT` chunks.
    fn file_stream<'s: 'p, 'p>(
        &'s self,
        path: &'p SafePath,
    ) -> BoxFuture<'p, Result<Option<ByteStream<'s>>>> {
        let (opened_tx, opened_rx) = futures::channel::oneshot::channel::<Result<bool>>();
        let (mut tx, rx) = futures::channel::mpsc::channel(IN_FLIGHT);
        let storage = Arc::clone(&self.storage);
        let key = path.clone();
        async move {
            let task = tokio::task::spawn_blocking(move || {
                let mut reader = match storage.file_reader(&key) {
                    Ok(Some(reader)) => {
                        let _ = opened_tx.send(Ok(true));
                        reader
                    }
                    Ok(None) => {
                        let _ = opened_tx.send(Ok(false));
                        return;
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let mut buf = vec![0; CHUNK];
                    let item = match read_full(&mut reader, &mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            Ok(Bytes::from(buf))
                        }
                        Err(e) => Err(e),
                    };
                    let last = item.as_ref().map_or(true, |b| b.len() < CHUNK);
                    if futures::executor::block_on(tx.send(item)).is_err() || last {
                        return;
                    }
                }
            });
            match opened_rx.await {
                Ok(Ok(true)) => Ok(Some(rx.boxed())),
                Ok(Ok(false)) => Ok(None),
                Ok(Err(e)) => Err(e),
                Err(_) => match task.await {
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    _ => Err(StorageError::backend(
                        "blocking pool",
                        Some(path.as_str()),
                        "the reader's task ended before it opened the value",
                    )),
                },
            }
        }
        .boxed()
    }
    fn file_range<'a>(
        &'a self,
        path: &'a SafePath,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<Option<Bytes>>> {
        let path = path.clone();
        self.run(move |s| Ok(s.file_range(&path, offset, len)?.map(Bytes::from)))
    }
    fn file_size<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<u64>>> {
        let path = path.clone();
        self.run(move |s| s.file_size(&path))
    }
}

/// A batch with its values owned, to travel to another thread.
struct OwnedBatch {
    checks: Vec<(SafePath, Expect)>,
    writes: Vec<OwnedWrite>,
}

enum OwnedWrite {
    Put(SafePath, Bytes),
    Delete(SafePath),
    Copy(SafePath, SafePath),
}

impl OwnedBatch {
    fn of(batch: &Batch<'_>) -> Self {
        Self {
            checks: batch.checks().to_vec(),
            writes: batch
                .writes()
                .iter()
                .map(|w| match w {
                    Write::Put { path, data } => {
                        OwnedWrite::Put(path.clone(), Bytes::copy_from_slice(data))
                    }
                    Write::Delete { path } => OwnedWrite::Delete(path.clone()),
                    Write::Copy { from, to } => OwnedWrite::Copy(from.clone(), to.clone()),
                })
                .collect(),
        }
    }

    fn batch(&self) -> Batch<'_> {
        let mut batch = Batch::new();
        for (path, expect) in &self.checks {
            batch = batch.check(path.clone(), expect.clone());
        }
        for write in &self.writes {
            batch = match write {
                OwnedWrite::Put(path, data) => batch.put(path.clone(), data),
                OwnedWrite::Delete(path) => batch.delete(path.clone()),
                OwnedWrite::Copy(from, to) => batch.copy(from.clone(), to.clone()),
            };
        }
        batch
    }
}

/// An [`AsyncStorage`] as a blocking [`Storage`]: each call drives the provider's
/// future to its end on a runtime this adapter owns. Callable from plain threads
/// (the future runs on the calling thread), from a multi-threaded runtime's worker
/// (which is first told it blocks, `block_in_place`), and from a current-thread
/// runtime (the future runs on a scoped thread, as that runtime's only thread cannot
/// be given up).
pub struct BlockOn<A> {
    storage: A,
    /// Always `Some` until dropped; taken in `Drop` to shut down without blocking.
    runtime: Option<Runtime>,
}

impl<A: std::fmt::Debug> std::fmt::Debug for BlockOn<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockOn")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

impl<A> Drop for BlockOn<A> {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its workers stop, which panics inside an
        // async context; shutting down in the background never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl<A: AsyncStorage> BlockOn<A> {
    /// `storage` as a blocking store, with a runtime of its own.
    ///
    /// # Errors
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when the runtime cannot start.
    pub fn new(storage: A) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("memory-fs-block-on")
            .enable_all()
            .build()
            .map_err(|e| StorageError::backend("tokio", None, e))?;
        Ok(Self {
            storage,
            runtime: Some(runtime),
        })
    }

    /// The storage `make` gives, made on this adapter's runtime (a provider whose
    /// client belongs to the runtime that made it, or that asks its server when made).
    ///
    /// # Errors
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when the runtime cannot start;
    /// `make`'s error.
    pub fn connect<E: Into<StorageError>>(
        make: impl std::future::Future<Output = std::result::Result<A, E>>,
    ) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("memory-fs-block-on")
            .enable_all()
            .build()
            .map_err(|e| StorageError::backend("tokio", None, e))?;
        let made = blocking(|| runtime.block_on(make));
        match made {
            Ok(storage) => Ok(Self {
                storage,
                runtime: Some(runtime),
            }),
            Err(e) => {
                runtime.shutdown_background();
                Err(e.into())
            }
        }
    }

    /// The async storage underneath.
    pub fn get_ref(&self) -> &A {
        &self.storage
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// Drives `fut` to its end, wherever the caller is (see [`BlockOn`]).
    fn run<T: Send>(&self, fut: BoxFuture<'_, T>) -> T {
        let runtime = self.runtime();
        match Handle::try_current() {
            Err(_) => runtime.block_on(fut),
            Ok(caller) if caller.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| runtime.block_on(fut))
            }
            Ok(_) => {
                std::thread::scope(|scope| match scope.spawn(|| runtime.block_on(fut)).join() {
                    Ok(out) => out,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
            }
        }
    }
}

/// Runs `f`, which blocks, telling a multi-threaded runtime whose worker calls it
/// first, so it moves its other tasks elsewhere.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(caller) if caller.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl<A: AsyncStorage> Storage for BlockOn<A> {
    fn capabilities(&self) -> Capabilities {
        self.storage.capabilities()
    }
    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.run(self.storage.file_save(path, Bytes::copy_from_slice(data)))
    }
    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        Ok(self.run(self.storage.file_bytes(path))?.map(Vec::from))
    }
    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        self.run(self.storage.file_exists(path))
    }
    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        self.run(self.storage.file_delete(path))
    }
    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        self.run(self.storage.files_paths(prefix))
    }
    fn clear(&self) -> Result<()> {
        self.run(self.storage.clear())
    }
    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        self.run(self.storage.file_create(path, Bytes::copy_from_slice(data)))
    }
    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        Ok(self
            .run(self.storage.file_get(path))?
            .map(|(b, v)| (Vec::from(b), v)))
    }
    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        self.run(
            self.storage
                .file_save_if(path, Bytes::copy_from_slice(data), expect),
        )
    }
    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        self.run(self.storage.apply(batch))
    }
    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        self.run(self.storage.file_copy(from, to))
    }
    fn files_versions(&self, prefix: Option<&SafePath>) -> Result<Vec<(SafePath, Version)>> {
        self.run(self.storage.files_versions(prefix))
    }
    fn files_remove(&self, paths: &[SafePath]) -> Result<()> {
        self.run(self.storage.files_remove(paths))
    }
    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        let items: Vec<(SafePath, Bytes)> = items
            .iter()
            .map(|(k, d)| (k.clone(), Bytes::copy_from_slice(d)))
            .collect();
        self.run(self.storage.files_save(&items))
    }
    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        self.run(self.storage.files_delete(paths))
    }
    /// Reads `reader` on the calling thread and hands its chunks to the provider's
    /// streamed save (running on this adapter's runtime) through a channel of
    /// `IN_FLIGHT` chunks.
    fn file_save_from(&self, path: &SafePath, reader: &mut dyn Read) -> Result<u64> {
        let (mut tx, rx) = futures::channel::mpsc::channel::<io::Result<Bytes>>(IN_FLIGHT);
        let save = self.storage.file_save_stream(path, rx.boxed());
        blocking(|| {
            std::thread::scope(|scope| {
                let saving = scope.spawn(|| self.run_detached(save));
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
                match saving.join() {
                    Ok(out) => out,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        })
    }
    fn file_reader(&self, path: &SafePath) -> Result<Option<ValueReader<'_>>> {
        Ok(self.run(self.storage.file_stream(path))?.map(|mut stream| {
            // The async provider's stream, driven a chunk at a time.
            Box::new(crate::ChunkReader::new(move || {
                self.run(stream.next().boxed())
            })) as ValueReader<'_>
        }))
    }
    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .run(self.storage.file_range(path, offset, len))?
            .map(Vec::from))
    }
    fn file_size(&self, path: &SafePath) -> Result<Option<u64>> {
        self.run(self.storage.file_size(path))
    }
}

impl<A: AsyncStorage> BlockOn<A> {
    /// Drives `fut` on this adapter's runtime from a thread of its own (no caller
    /// runtime there).
    fn run_detached<T: Send>(&self, fut: BoxFuture<'_, T>) -> T {
        self.runtime().block_on(fut)
    }
}

impl<A: AsyncStorage + ?Sized> AsyncStorage for Arc<A> {
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn file_save<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        (**self).file_save(path, data)
    }
    fn file_bytes<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<Bytes>>> {
        (**self).file_bytes(path)
    }
    fn file_exists<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        (**self).file_exists(path)
    }
    fn file_delete<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<bool>> {
        (**self).file_delete(path)
    }
    fn files_paths<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<SafePath>>> {
        (**self).files_paths(prefix)
    }
    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        (**self).clear()
    }
    fn file_create<'a>(&'a self, path: &'a SafePath, data: Bytes) -> BoxFuture<'a, Result<()>> {
        (**self).file_create(path, data)
    }
    fn file_get<'a>(
        &'a self,
        path: &'a SafePath,
    ) -> BoxFuture<'a, Result<Option<(Bytes, Version)>>> {
        (**self).file_get(path)
    }
    fn file_save_if<'a>(
        &'a self,
        path: &'a SafePath,
        data: Bytes,
        expect: &'a Expect,
    ) -> BoxFuture<'a, Result<Version>> {
        (**self).file_save_if(path, data, expect)
    }
    fn apply<'a>(&'a self, batch: &'a Batch<'a>) -> BoxFuture<'a, Result<()>> {
        (**self).apply(batch)
    }
    fn file_copy<'a>(
        &'a self,
        from: &'a SafePath,
        to: &'a SafePath,
    ) -> BoxFuture<'a, Result<bool>> {
        (**self).file_copy(from, to)
    }
    fn files_versions<'a>(
        &'a self,
        prefix: Option<&'a SafePath>,
    ) -> BoxFuture<'a, Result<Vec<(SafePath, Version)>>> {
        (**self).files_versions(prefix)
    }
    fn files_remove<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<()>> {
        (**self).files_remove(paths)
    }
    fn files_save<'a>(&'a self, items: &'a [(SafePath, Bytes)]) -> BoxFuture<'a, Result<()>> {
        (**self).files_save(items)
    }
    fn files_delete<'a>(&'a self, paths: &'a [SafePath]) -> BoxFuture<'a, Result<usize>> {
        (**self).files_delete(paths)
    }
    fn file_save_stream<'a>(
        &'a self,
        path: &'a SafePath,
        stream: ByteStream<'a>,
    ) -> BoxFuture<'a, Result<u64>> {
        (**self).file_save_stream(path, stream)
    }
    fn file_stream<'s: 'p, 'p>(
        &'s self,
        path: &'p SafePath,
    ) -> BoxFuture<'p, Result<Option<ByteStream<'s>>>> {
        (**self).file_stream(path)
    }
    fn file_range<'a>(
        &'a self,
        path: &'a SafePath,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, Result<Option<Bytes>>> {
        (**self).file_range(path, offset, len)
    }
    fn file_size<'a>(&'a self, path: &'a SafePath) -> BoxFuture<'a, Result<Option<u64>>> {
        (**self).file_size(path)
    }
}

//! `AsyncMemoryFs`: the facade for tokio services (feature `async`).
//!
//! Every call runs the same logic as [`MemoryFs`] on tokio's blocking pool, so no
//! executor thread ever waits on a disk, a database or the network: the commit
//! protocol (read the record, claim it, write the keys, release it) is a sequence of
//! requests each depending on the last, written once and shared by both facades.
//! Many calls run at once, each on a pool thread. Streamed values cross between the
//! caller's task and the pool thread through a bounded channel of chunks, so a value
//! never sits in memory whole on either side.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;

use crate::{
    ChainReport, Content, DeleteReport, Diff, Error, File, FileInfo, FileSpec, Listing, MemoryFs,
    Query, Result, Transaction, VerifyReport,
};

/// How many chunks of a streamed value wait between the caller's task and the pool
/// thread (each up to [`CHUNK`](crate::layers::storage::CHUNK)): the bound on what a
/// stream holds in memory.
const IN_FLIGHT: usize = 4;

/// A stream of a value's bytes, in chunks, as [`AsyncMemoryFs::load_stream`] gives it.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// The facade for async callers: the operations of [`MemoryFs`], each an `async fn`
/// that never blocks the executor, and values streamed as `Stream<Bytes>` or through
/// `AsyncRead`/`AsyncWrite`.
///
/// Cheap to clone (it shares its store), so each task may hold its own.
///
/// ```
/// use memory_fs::{AsyncMemoryFs, FileId, FileSpec, FileType};
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let fs = AsyncMemoryFs::in_memory();
/// let spec = FileSpec::new(FileId::new("greeting")?, FileType::text());
/// fs.save_text(spec, "hello").await?;
/// assert_eq!(fs.load_text("greeting").await?.as_deref(), Some("hello"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AsyncMemoryFs {
    fs: Arc<MemoryFs>,
}

impl From<MemoryFs> for AsyncMemoryFs {
    fn from(fs: MemoryFs) -> Self {
        Self { fs: Arc::new(fs) }
    }
}

impl AsyncMemoryFs {
    /// The async facade over `fs`.
    pub fn new(fs: MemoryFs) -> Self {
        fs.into()
    }

    /// A store in memory (feature `memory`).
    #[cfg(feature = "memory")]
    pub fn in_memory() -> Self {
        MemoryFs::in_memory().into()
    }

    /// Opens the store a URL names, as [`MemoryFs::open`] does, off the executor.
    ///
    /// # Errors
    /// As [`MemoryFs::open`].
    pub async fn open(url: &str) -> Result<Self> {
        let url = url.to_owned();
        spawn(move || MemoryFs::open(&url)).await.map(Self::from)
    }

    /// The blocking facade underneath, for code that runs on its own threads.
    pub fn blocking(&self) -> &MemoryFs {
        &self.fs
    }

    /// Runs `call` with the blocking facade on tokio's blocking pool: any operation of
    /// [`MemoryFs`] this type has no method for, without blocking the executor.
    ///
    /// ```
    /// # use memory_fs::AsyncMemoryFs;
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let fs = AsyncMemoryFs::in_memory();
    /// let keys = fs.run(|fs| fs.keys(None, true)).await?;
    /// assert!(keys.is_empty());
    /// # Ok::<(), memory_fs::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// What `call` returns. A panic in `call` resumes in the caller.
    pub async fn run<T, F>(&self, call: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&MemoryFs) -> Result<T> + Send + 'static,
    {
        let fs = Arc::clone(&self.fs);
        spawn(move || call(&fs)).await
    }

    // ----- saving ----------------------------------------------------------------------

    /// Saves a JSON value; see [`Save::json`](crate::Save::json).
    ///
    /// # Errors
    /// As [`Save::json`](crate::Save::json).
    pub async fn save_json(&self, file: impl Into<FileSpec>, value: Value) -> Result<File> {
        let spec = file.into();
        self.run(move |fs| fs.save().json(spec, &value)).await
    }

    /// Saves a value of any type that serializes; see [`Save::typed`](crate::Save::typed).
    ///
    /// # Errors
    /// As [`Save::typed`](crate::Save::typed).
    pub async fn save_typed<T: Serialize + Send + 'static>(
        &self,
        file: impl Into<FileSpec>,
        value: T,
    ) -> Result<File> {
        let spec = file.into();
        self.run(move |fs| fs.save().typed(spec, &value)).await
    }

    /// Saves text; see [`Save::text`](crate::Save::text).
    ///
    /// # Errors
    /// As [`Save::text`](crate::Save::text).
    pub async fn save_text(
        &self,
        file: impl Into<FileSpec>,
        text: impl Into<String>,
    ) -> Result<File> {
        let (spec, text) = (file.into(), text.into());
        self.run(move |fs| fs.save().text(spec, &text)).await
    }

    /// Saves bytes; see [`Save::bytes`](crate::Save::bytes).
    ///
    /// # Errors
    /// As [`Save::bytes`](crate::Save::bytes).
    pub async fn save_bytes(
        &self,
        file: impl Into<FileSpec>,
        bytes: impl Into<Bytes>,
    ) -> Result<File> {
        let (spec, bytes) = (file.into(), bytes.into());
        self.run(move |fs| fs.save().content(spec, Content::Bytes(&bytes)))
            .await
    }

    /// Saves the bytes `stream` yields, streamed: never held in memory whole (a
    /// `binary` or `base64` type; see [`File::save_from`]). A stream that fails
    /// part-way leaves the file as it was.
    ///
    /// # Errors
    /// As [`File::save_from`]: an error of `stream` arrives as a storage error of kind
    /// [`StorageErrorKind::Input`](crate::StorageErrorKind::Input).
    pub async fn save_stream<S>(&self, file: impl Into<FileSpec>, stream: S) -> Result<File>
    where
        S: Stream<Item = io::Result<Bytes>> + Send,
    {
        let spec = file.into();
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let saved = self.run(move |fs| {
            // The pool thread's side: the chunks the caller's task sends.
            let mut rx = rx;
            let mut reader = crate::layers::storage::ChunkReader::new(move || rx.blocking_recv());
            fs.save().from_reader(spec, &mut reader)
        });
        let pump = async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                // The pool thread stopped reading: its answer says why.
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        };
        let ((), saved) = tokio::join!(pump, saved);
        saved
    }

    /// Saves what `reader` yields, streamed; see [`save_stream`](Self::save_stream).
    ///
    /// # Errors
    /// As [`save_stream`](Self::save_stream).
    pub async fn save_reader<R>(&self, file: impl Into<FileSpec>, reader: R) -> Result<File>
    where
        R: AsyncRead + Send + Unpin,
    {
        let chunks = futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            let mut buf = vec![0; crate::layers::storage::CHUNK];
            let mut filled = 0;
            while filled < buf.len() {
                match reader.read(&mut buf[filled..]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return Some((Err(e), None)),
                }
            }
            if filled == 0 {
                return None;
            }
            buf.truncate(filled);
            Some((Ok(Bytes::from(buf)), Some(reader)))
        });
        self.save_stream(file, chunks).await
    }

    /// Runs `build` on a transaction and commits it, all or nothing; see
    /// [`MemoryFs::transaction`].
    ///
    /// # Errors
    /// What `build` returns, or the commit's error; then nothing is changed.
    pub async fn transaction<T, F>(&self, build: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction) -> Result<T> + Send + 'static,
    {
        self.run(move |fs| fs.transaction(build)).await
    }

    // ----- loading ---------------------------------------------------------------------

    /// The file `id` (its record, config and last metadata).
    ///
    /// # Errors
    /// As [`MemoryFs::file`].
    pub async fn file(&self, id: &str) -> Result<File> {
        let id = id.to_owned();
        self.run(move |fs| fs.file(&id)).await
    }

    /// The content of file `id` as JSON.
    ///
    /// # Errors
    /// As [`MemoryFs::file`] and [`File::load_json`].
    pub async fn load_json(&self, id: &str) -> Result<Option<Value>> {
        self.with_file(id, |f| Ok(f.load_json()?)).await
    }

    /// The content of file `id` deserialized as `T`.
    ///
    /// # Errors
    /// As [`MemoryFs::file`] and [`File::load_typed`].
    pub async fn load_typed<T: DeserializeOwned + Send + 'static>(
        &self,
        id: &str,
    ) -> Result<Option<T>> {
        self.with_file(id, |f| Ok(f.load_typed()?)).await
    }

    /// The content of file `id` as text.
    ///
    /// # Errors
    /// As [`MemoryFs::file`] and [`File::load_text`].
    pub async fn load_text(&self, id: &str) -> Result<Option<String>> {
        self.with_file(id, |f| Ok(f.load_text()?)).await
    }

    /// The bytes saved in file `id`.
    ///
    /// # Errors
    /// As [`MemoryFs::file`] and [`File::load_bytes`].
    pub async fn load_bytes(&self, id: &str) -> Result<Option<Bytes>> {
        self.with_file(id, |f| Ok(f.load_bytes()?.map(Bytes::from)))
            .await
    }

    /// The bytes `offset..offset + len` of what file `id` holds, read as a range where
    /// the store can; see [`File::load_range`].
    ///
    /// # Errors
    /// As [`File::load_range`].
    pub async fn load_range(&self, id: &str, offset: u64, len: u64) -> Result<Option<Bytes>> {
        self.with_file(id, move |f| Ok(f.load_range(offset, len)?.map(Bytes::from)))
            .await
    }

    /// The bytes saved in file `id` as a stream of chunks, never held in memory whole.
    ///
    /// The content is checked against its metadata once it has passed: a mismatch is
    /// the stream's last item, an error, and the bytes before it are not to be
    /// trusted. A file without content yields one [`io::ErrorKind::NotFound`] error.
    ///
    /// # Errors
    /// As [`MemoryFs::file`], before the stream starts.
    pub async fn load_stream(&self, id: &str) -> Result<ByteStream> {
        let file = self.file(id).await?;
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter { tx: tx.clone() };
            let end = match file.load_to(&mut out) {
                Ok(Some(_)) => return,
                Ok(None) => io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the content of {id} is missing"),
                ),
                // The receiver went away: nobody is left to tell.
                Err(crate::FileError::Output { .. }) => return,
                Err(e) => io::Error::other(Error::from(e)),
            };
            let _ = tx.blocking_send(Err(end));
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed())
    }

    /// Writes the bytes saved in file `id` to `out` as a stream, and returns how many;
    /// see [`load_stream`](Self::load_stream).
    ///
    /// # Errors
    /// As [`load_stream`](Self::load_stream); [`Error::File`] with
    /// [`FileError::Output`](crate::FileError::Output) when `out` fails.
    pub async fn load_to<W>(&self, id: &str, mut out: W) -> Result<Option<u64>>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let mut stream = self.load_stream(id).await?;
        let mut written = 0u64;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    out.write_all(&chunk).await.map_err(|e| output(id, e))?;
                    written += chunk.len() as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && written == 0 => return Ok(None),
                Err(e) => {
                    return Err(match e.downcast::<Error>() {
                        Ok(error) => error,
                        Err(e) => output(id, e),
                    });
                }
            }
        }
        out.flush().await.map_err(|e| output(id, e))?;
        Ok(Some(written))
    }

    /// What the store knows of file `id`; see [`File::info`].
    ///
    /// # Errors
    /// As [`MemoryFs::file`].
    pub async fn info(&self, id: &str) -> Result<FileInfo> {
        self.with_file(id, |f| Ok(f.info())).await
    }

    /// The versions file `id` holds, ascending.
    ///
    /// # Errors
    /// As [`MemoryFs::file`].
    pub async fn versions(&self, id: &str) -> Result<Vec<u32>> {
        self.with_file(id, |f| Ok(f.versions())).await
    }

    /// Every logical file; see [`MemoryFs::list`].
    ///
    /// # Errors
    /// As [`MemoryFs::list`].
    pub async fn list(&self) -> Result<Listing> {
        self.run(MemoryFs::list).await
    }

    /// The logical files `query` selects, from the index; see [`MemoryFs::query`].
    ///
    /// # Errors
    /// As [`MemoryFs::query`].
    pub async fn query(&self, query: Query) -> Result<Listing> {
        self.run(move |fs| fs.query(&query)).await
    }

    // ----- changing --------------------------------------------------------------------

    /// Adds tags to the last save of file `id`.
    ///
    /// # Errors
    /// As [`File::add_tags`].
    pub async fn add_tags<I, S>(&self, id: &str, tags: I) -> Result<File>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.with_file(id, move |f| Ok(f.add_tags(tags)?)).await
    }

    /// Removes tags from the last save of file `id`.
    ///
    /// # Errors
    /// As [`File::remove_tags`].
    pub async fn remove_tags<I, S>(&self, id: &str, tags: I) -> Result<File>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.with_file(id, move |f| Ok(f.remove_tags(tags)?)).await
    }

    /// Replaces the user data of the last save of file `id`.
    ///
    /// # Errors
    /// As [`File::update_data`].
    pub async fn update_data(&self, id: &str, data: Map<String, Value>) -> Result<File> {
        self.with_file(id, move |f| Ok(f.update_data(data)?)).await
    }

    /// Saves version `n` of file `id` again as its newest; see [`File::restore`].
    ///
    /// # Errors
    /// As [`File::restore`].
    pub async fn restore(&self, id: &str, n: u32) -> Result<File> {
        self.with_file(id, move |f| Ok(f.restore(n)?)).await
    }

    /// What changed from version `a` to version `b` of file `id` (`None`: the last
    /// save); see [`File::diff`].
    ///
    /// # Errors
    /// As [`File::diff`].
    pub async fn diff(&self, id: &str, a: u32, b: Option<u32>) -> Result<Diff> {
        self.with_file(id, move |f| Ok(f.diff(a, b)?)).await
    }

    /// Deletes file `id`, every folder and version of it.
    ///
    /// # Errors
    /// As [`Delete::id`](crate::Delete::id).
    pub async fn delete(&self, id: &str) -> Result<DeleteReport> {
        let id = id.to_owned();
        self.run(move |fs| fs.delete().id(&id)).await
    }

    /// The changes committed to the logical files from now on (of file `only`, or of
    /// all), by this process or any other, as a stream; see [`crate::Watch`]. The
    /// watch runs on a pool thread, which ends within a second of the stream being
    /// dropped.
    ///
    /// # Errors
    /// As [`MemoryFs::watch`], before the stream starts.
    pub async fn watch(
        &self,
        only: Option<&str>,
    ) -> Result<BoxStream<'static, Result<crate::Change>>> {
        let only = only.map(str::to_owned);
        let mut watch = self.run(move |fs| fs.watch(only.as_deref())).await?;
        let (tx, rx) = mpsc::channel(64);
        tokio::task::spawn_blocking(move || {
            while !tx.is_closed() {
                match watch.wait(std::time::Duration::from_millis(500)) {
                    Ok(changes) => {
                        for change in changes {
                            if tx.blocking_send(Ok(change)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e.into()));
                        return;
                    }
                }
            }
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed())
    }

    // ----- checking --------------------------------------------------------------------

    /// Checks every file under `prefix` (all for `None`); see [`MemoryFs::verify`].
    ///
    /// # Errors
    /// As [`MemoryFs::verify`].
    pub async fn verify(&self, prefix: Option<&str>) -> Result<VerifyReport> {
        let prefix = prefix.map(str::to_owned);
        self.run(move |fs| fs.verify(prefix.as_deref())).await
    }

    /// Walks every versioned file's chain; see [`MemoryFs::verify_chains`].
    ///
    /// # Errors
    /// As [`MemoryFs::verify_chains`].
    pub async fn verify_chains(&self) -> Result<ChainReport> {
        self.run(MemoryFs::verify_chains).await
    }

    async fn with_file<T, F>(&self, id: &str, call: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(File) -> Result<T> + Send + 'static,
    {
        let id = id.to_owned();
        self.run(move |fs| call(fs.file(&id)?)).await
    }
}

/// Runs `call` on tokio's blocking pool and waits for it without blocking the
/// executor; a panic in it resumes here.
async fn spawn<T, F>(call: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(call).await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn output(id: &str, e: io::Error) -> Error {
    crate::FileError::Output {
        path: id.to_owned(),
        source: e,
    }
    .into()
}

/// The pool thread's side of a streamed load: chunks sent to the caller's task.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the stream was dropped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

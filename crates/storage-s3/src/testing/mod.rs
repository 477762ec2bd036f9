//! An in-process S3 server for tests: `s3s-fs` over a temporary directory on 127.0.0.1,
//! with conditional writes made atomic and every request counted.

mod conditional;
mod counter;

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::{S3Config, S3Error};
use conditional::Conditional;
use counter::Counter;
pub use counter::RequestCounts;

/// A real S3-compatible server (`s3s-fs`) serving a fresh temporary directory on
/// `127.0.0.1`, with one empty bucket and enforced credentials. It stops, and its
/// directory is removed, when dropped.
///
/// `s3s-fs` stores objects as files, so it cannot hold a key and a key below it
/// together; [`TestServer::config`] says so through [`S3Config::nested_keys`].
///
/// **Conditional writes.** `s3s-fs` 0.14.1 checks `If-None-Match` and `If-Match` but
/// lets other requests run between its check and its write, so two racing conditional
/// writers can both succeed. [`TestServer::start`] puts a layer of this crate in front
/// that evaluates those headers on `PutObject` and `CompleteMultipartUpload` itself and
/// checks and writes as one step, so conditional writes behave as on S3;
/// [`TestServer::start_plain`] serves `s3s-fs` as it is (its
/// [`config`](TestServer::config) then declares no conditional writes).
///
/// **Request counts.** Every request the server serves is counted by S3 operation
/// and HTTP method: [`requests`](TestServer::requests) reads the counts and
/// [`reset_requests`](TestServer::reset_requests) zeroes them, for tests that bound
/// how many requests an operation takes.
///
/// # Examples
///
/// ```
/// use memory_fs_storage::{SafePath, Storage};
/// use memory_fs_storage_s3::{S3Storage, testing::TestServer};
///
/// let server = TestServer::start()?;
/// let store = S3Storage::new(server.config())?;
/// store.file_save(&SafePath::new("k")?, b"v")?;
/// assert!(store.file_exists(&SafePath::new("k")?)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TestServer {
    /// The server URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key the server accepts.
    pub access_key: String,
    /// The secret key the server accepts.
    pub secret_key: String,
    /// The bucket created for the test.
    pub bucket: String,
    /// The region to sign requests for.
    pub region: String,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<Runtime>,
    dir: tempfile::TempDir,
    counter: Counter,
    conditional: bool,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("dir", &self.dir.path())
            .field("conditional", &self.conditional)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server on a free port over a fresh temporary directory, with atomic
    /// conditional writes.
    ///
    /// # Errors
    /// [`S3Error::Runtime`] when the directory, the socket or the runtime cannot be made.
    pub fn start() -> Result<Self, S3Error> {
        Self::start_with(true, std::time::Duration::ZERO)
    }

    /// Starts a server as [`start`](Self::start) does whose every response waits
    /// `latency` first, as a server across a network does (to measure what overlapping
    /// requests buy when the server's own work is not the bound).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_latency(latency: std::time::Duration) -> Result<Self, S3Error> {
        Self::start_with(true, latency)
    }

    /// Starts a server that serves `s3s-fs` as it is, whose conditional writes are
    /// not atomic.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_plain() -> Result<Self, S3Error> {
        Self::start_with(false, std::time::Duration::ZERO)
    }

    fn start_with(conditional: bool, latency: std::time::Duration) -> Result<Self, S3Error> {
        let dir = tempfile::tempdir().map_err(S3Error::Runtime)?;
        let bucket = "memory-fs-test".to_owned();
        std::fs::create_dir(dir.path().join(&bucket)).map_err(S3Error::Runtime)?;
        let access_key = "memory-fs-access".to_owned();
        let secret_key = "memory-fs-secret-key-for-tests".to_owned();

        let fs = s3s_fs::FileSystem::new(dir.path())
            .map_err(|e| S3Error::Runtime(std::io::Error::other(format!("s3s-fs: {e:?}"))))?;
        let mut builder = if conditional {
            S3ServiceBuilder::new(Conditional::new(fs))
        } else {
            S3ServiceBuilder::new(fs)
        };
        builder.set_auth(SimpleAuth::from_single(
            access_key.clone(),
            secret_key.clone(),
        ));
        let counter = Counter::default();
        builder.set_access(counter.clone());
        let service = Delayed {
            inner: builder.build(),
            latency,
        };

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("memory-fs-s3-test-server")
            .enable_all()
            .build()
            .map_err(S3Error::Runtime)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(S3Error::Runtime)?;
        listener.set_nonblocking(true).map_err(S3Error::Runtime)?;
        let addr: SocketAddr = listener.local_addr().map_err(S3Error::Runtime)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(S3Error::Runtime)?
        };
        let (shutdown, mut stop) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        // Without TCP_NODELAY a small response waits out the client's
                        // delayed ACK (about 40 ms a request).
                        Ok((socket, _)) => {
                            let _ = socket.set_nodelay(true);
                            socket
                        }
                        Err(_) => continue,
                    },
                    _ = &mut stop => break,
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    // A client hanging up mid-request is not the server's failure.
                    let _ = conn.await;
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://{addr}"),
            access_key,
            secret_key,
            bucket,
            region: "us-east-1".to_owned(),
            shutdown: Some(shutdown),
            runtime: Some(runtime),
            dir,
            counter,
            conditional,
        })
    }

    /// A provider configuration for this server: its endpoint, bucket and credentials,
    /// plain HTTP, path-style, and what the server can do: no nested keys (`s3s-fs`
    /// keeps objects as files), and conditional create and write exactly when they are
    /// atomic here (a server from [`start`](Self::start)).
    pub fn config(&self) -> S3Config {
        S3Config::new(self.bucket.clone())
            .with_endpoint(self.endpoint.clone())
            .with_region(self.region.clone())
            .with_allow_http(true)
            .with_credentials(self.access_key.clone(), self.secret_key.clone())
            .with_nested_keys(false)
            .with_conditional_create(self.conditional)
            .with_conditional_write(self.conditional)
    }

    /// How many requests the server has served since it started or since
    /// [`reset_requests`](Self::reset_requests).
    pub fn requests(&self) -> RequestCounts {
        self.counter.snapshot()
    }

    /// Zeroes the request counts.
    pub fn reset_requests(&self) {
        self.counter.reset();
    }

    /// The directory the server stores its buckets in.
    pub fn root(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            // The accept loop may be gone already; then there is nothing to stop.
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A service whose responses wait a fixed latency before the request is served.
#[derive(Clone)]
struct Delayed<S> {
    inner: S,
    latency: std::time::Duration,
}

impl<S, B> hyper::service::Service<http::Request<B>> for Delayed<S>
where
    S: hyper::service::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: http::Request<B>) -> Self::Future {
        let served = self.inner.call(req);
        let latency = self.latency;
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            served.await
        })
    }
}

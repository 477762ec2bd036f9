//! `cargo xtask s3-moto`: the S3 provider's tests against moto, a second, independent
//! S3 implementation.
//!
//! Conditional writes: moto (5.2) evaluates `If-Match` and `If-None-Match: *` on
//! `PutObject` (and `If-None-Match` on `CompleteMultipartUpload`) before it stores the
//! object, and its threaded server lost no update when sixteen threads raced
//! conditional writes on one key, so the run declares both conditional create and
//! conditional write, and the suite's race cases run against it.
//!
//! Installs PyPI `moto[s3] flask flask-cors` into a virtual environment under the
//! cache directory (once), starts `moto_server` on a free port of 127.0.0.1, creates a
//! bucket, runs `cargo test -p memory-fs-storage-s3 --tests` with the
//! `MEMORY_FS_S3_*` variables pointing at it, and stops the server, even on failure.
//! Extra arguments are passed to `cargo test` after `--`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

const BUCKET: &str = "memory-fs-moto";
const PACKAGES: &[&str] = &["moto[s3]", "flask", "flask-cors"];

/// Runs the command.
pub(crate) fn run(args: &[String]) -> util::Result {
    let venv = util::cache_dir().join("moto-venv");
    let server_bin = venv.join("bin").join("moto_server");
    if !server_bin.exists() {
        install(&venv)?;
    }
    let port = free_port()?;
    let log_path = util::cache_dir().join("moto-server.log");
    let mut server = Server::start(&server_bin, port, &log_path)?;
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_for_port(port, &mut server, &log_path)?;
    create_bucket(&venv, &endpoint)?;

    let mut test = util::cargo();
    test.args(["test", "-p", "memory-fs-storage-s3", "--tests"])
        .env("MEMORY_FS_S3_ENDPOINT", &endpoint)
        .env("MEMORY_FS_S3_BUCKET", BUCKET)
        .env("MEMORY_FS_S3_ACCESS_KEY", "testing")
        .env("MEMORY_FS_S3_SECRET_KEY", "testing")
        .env("MEMORY_FS_S3_REGION", "us-east-1")
        .env("MEMORY_FS_S3_CONDITIONAL_CREATE", "true")
        .env("MEMORY_FS_S3_CONDITIONAL_WRITE", "true");
    if !args.is_empty() {
        test.arg("--").args(args);
    }
    let result = util::run(&mut test);
    drop(server);
    result.map_err(|e| format!("{e} (moto server log: {})", log_path.display()))
}

/// Creates the virtual environment and installs moto into it.
fn install(venv: &Path) -> util::Result {
    let python = ["python3.11", "python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .ok_or("no python3 found; moto needs Python 3")?;
    util::run(Command::new(python).arg("-m").arg("venv").arg(venv))?;
    util::run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES),
    )
}

/// A port nothing listens on right now.
fn free_port() -> util::Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// The running moto server; killed when dropped, so every exit path stops it.
struct Server {
    child: Child,
}

impl Server {
    fn start(bin: &Path, port: u16, log_path: &Path) -> util::Result<Self> {
        let log = std::fs::File::create(log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", log_path.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(log)
            .stderr(log_err);
        eprintln!("$ {} &", util::describe(&cmd));
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Ok(Self { child })
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        eprintln!("stopping moto_server (pid {})", self.child.id());
        // Already gone is fine: then there is nothing to stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server accepts connections (or has died, or a minute has passed).
fn wait_for_port(port: u16, server: &mut Server, log_path: &Path) -> util::Result {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            eprintln!("moto_server is listening on {addr}");
            return Ok(());
        }
        if server.exited() {
            return Err(format!(
                "moto_server exited before listening; see {}",
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "moto_server did not listen on {addr} within 60 s; see {}",
        log_path.display()
    ))
}

/// Creates the test bucket with a plain PUT (moto does not check signatures).
fn create_bucket(venv: &Path, endpoint: &str) -> util::Result {
    let script = format!(
        "import urllib.request as r; r.urlopen(r.Request('{endpoint}/{BUCKET}', method='PUT'), timeout=30).read()"
    );
    util::run(
        Command::new(venv.join("bin").join("python"))
            .arg("-c")
            .arg(script),
    )
}

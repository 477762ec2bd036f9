//! Shared by the test files: a store on the in-process server, or on the server named
//! by `MEMORY_FS_S3_ENDPOINT` when that is set.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use memory_fs_storage::testkit::Guarded;
use memory_fs_storage_s3::testing::TestServer;
use memory_fs_storage_s3::{S3Config, S3Storage};

/// What keeps a test's server (if it is ours) alive.
pub type Server = Option<TestServer>;

/// A configuration for a test: the external server's (under a fresh prefix, so tests
/// running at once do not see each other) or a fresh in-process server's.
pub fn config() -> (S3Config, Server) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    match S3Config::from_env().expect("MEMORY_FS_S3_* variables") {
        Some(config) => {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let run = std::process::id();
            let base = config
                .prefix
                .clone()
                .unwrap_or_else(|| "memory-fs-tests".into());
            (config.with_prefix(format!("{base}/{run}-{n}")), None)
        }
        None => {
            let server = TestServer::start().expect("start the in-process S3 server");
            (server.config(), Some(server))
        }
    }
}

/// A fresh, empty store for a test.
pub fn store() -> Guarded<S3Storage, Server> {
    let (config, server) = config();
    let store = S3Storage::new(config).expect("connect to the S3 server");
    Guarded::new(store, server)
}

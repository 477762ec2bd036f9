//! The providers every cross-crate test runs on, each store fresh: memory, disk,
//! SQLite on a file, and S3 on the in-process server (one server, a prefix per store).

#![allow(dead_code, reason = "each test file uses part of this")]

use std::any::Any;
use std::sync::{Arc, OnceLock};

use memory_fs::Storage;
use memory_fs_storage_disk::DiskStorage;
use memory_fs_storage_memory::MemoryStorage;
use memory_fs_storage_s3::S3Storage;
use memory_fs_storage_s3::testing::TestServer;
use memory_fs_storage_sqlite::SqliteStorage;

/// A fresh store, and what keeps it alive.
pub struct Store {
    pub name: &'static str,
    pub storage: Arc<dyn Storage>,
    _keep: Box<dyn Any + Send>,
}

/// The one in-process S3 server of this test binary.
pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| TestServer::start().expect("start the S3 test server"))
}

fn next() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A fresh store of provider `name` (`memory`, `disk`, `sqlite`, `s3`).
pub fn store(name: &'static str) -> Store {
    match name {
        "memory" => Store {
            name,
            storage: Arc::new(MemoryStorage::new()),
            _keep: Box::new(()),
        },
        "disk" => {
            let dir = tempfile::tempdir().expect("tempdir");
            let storage = DiskStorage::open(dir.path()).expect("disk store");
            Store {
                name,
                storage: Arc::new(storage),
                _keep: Box::new(dir),
            }
        }
        "sqlite" => {
            let dir = tempfile::tempdir().expect("tempdir");
            let storage = SqliteStorage::open(dir.path().join("store.db")).expect("sqlite store");
            Store {
                name,
                storage: Arc::new(storage),
                _keep: Box::new(dir),
            }
        }
        "s3" => {
            let config = server().config().with_prefix(format!("store-{}", next()));
            Store {
                name,
                storage: Arc::new(S3Storage::new(config).expect("s3 store")),
                _keep: Box::new(()),
            }
        }
        other => panic!("no provider {other}"),
    }
}

/// Every provider's name.
pub const PROVIDERS: [&str; 4] = ["memory", "disk", "sqlite", "s3"];

//! The storage conformance suite through the storage layers: the three layers stacked
//! (audit over compression over encryption, as store URLs stack them) on every
//! provider — memory, disk, SQLite, and S3 on the in-process server — and each layer
//! alone on memory and SQLite (the one provider with atomic batches that is not the
//! memory core).
//!
//! A layer must be invisible to the contract: keys, listings, versions, conditional
//! writes, batches and their atomicity are those of the provider underneath.
//!
//! On S3 the stack runs every case but two: `longest_keys`, which the in-process
//! server cannot hold (see the S3 provider's tests), and `many_keys` (10,000 keys,
//! about 100 s on the in-process server whether layered or not: the provider's own
//! suite runs it, and the stack runs it on the three other providers).

use memory_fs_storage::Storage;
use memory_fs_storage::layers::audit::Audited;
use memory_fs_storage::layers::compress::Compressed;
use memory_fs_storage::layers::encrypt::{Encrypted, EncryptionKey};
use memory_fs_storage::testkit::{self, Guarded};
use memory_fs_storage_disk::{DiskConfig, DiskStorage};
use memory_fs_storage_memory::MemoryStorage;
use memory_fs_storage_s3::S3Storage;
use memory_fs_storage_s3::testing::TestServer;
use memory_fs_storage_sqlite::SqliteStorage;

fn key() -> EncryptionKey {
    EncryptionKey::from_bytes([7; 32])
}

fn memory() -> MemoryStorage {
    MemoryStorage::new()
}

fn disk() -> Guarded<DiskStorage, tempfile::TempDir> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = DiskConfig {
        fsync: false,
        ..DiskConfig::new(dir.path())
    };
    Guarded::new(DiskStorage::with_config(config).expect("open store"), dir)
}

fn sqlite() -> SqliteStorage {
    SqliteStorage::in_memory().expect("open")
}

fn s3() -> Guarded<S3Storage, TestServer> {
    let server = TestServer::start().expect("start the in-process S3 server");
    let store = S3Storage::new(server.config()).expect("connect");
    Guarded::new(store, server)
}

fn encrypt<S: Storage>(inner: S) -> Encrypted<S> {
    Encrypted::new(inner, key())
}

fn compress<S: Storage>(inner: S) -> Compressed<S> {
    Compressed::new(inner)
}

fn audit<S: Storage>(inner: S) -> Audited<S> {
    Audited::new(inner, "conformance")
}

fn stack<S: Storage>(inner: S) -> Audited<Compressed<Encrypted<S>>> {
    audit(compress(encrypt(inner)))
}

/// One `#[test]` per listed case, each on a fresh `$layer($provider())`.
macro_rules! suite {
    ($module:ident, $layer:ident, $provider:ident, [$($case:ident)*]) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    let storage = super::$layer(super::$provider());
                    memory_fs_storage::testkit::$case(&storage);
                }
            )*
        }
    };
    // The whole suite.
    ($module:ident, $layer:ident, $provider:ident) => {
        suite!($module, $layer, $provider, [
            save_load_delete empty_value binary_every_byte large_value unusual_keys
            longest_keys many_keys prefix_listing nested_keys batches create_if_absent
            concurrent_writers clear text_and_json invalid_keys conditional_writes
            conditional_write_race apply_batches copies batch_copies streams stream_faults listed_versions
        ]);
    };
    // The whole suite but `longest_keys` and `many_keys` (see the top of this file).
    (s3: $module:ident, $layer:ident) => {
        suite!($module, $layer, s3, [
            save_load_delete empty_value binary_every_byte large_value unusual_keys
            prefix_listing nested_keys batches create_if_absent
            concurrent_writers clear text_and_json invalid_keys conditional_writes
            conditional_write_race apply_batches copies batch_copies streams stream_faults listed_versions
        ]);
    };
}

suite!(stack_memory, stack, memory);
suite!(stack_disk, stack, disk);
suite!(stack_sqlite, stack, sqlite);
suite!(s3: stack_s3, stack);

suite!(encrypt_memory, encrypt, memory);
suite!(encrypt_sqlite, encrypt, sqlite);
suite!(compress_memory, compress, memory);
suite!(compress_sqlite, compress, sqlite);
suite!(audit_memory, audit, memory);
suite!(audit_sqlite, audit, sqlite);

/// The suite's case list here is the suite's own: a case added there and not here
/// fails this test (the S3 list leaves out the two cases said above).
#[test]
fn every_suite_case_is_run() {
    let here = [
        "save_load_delete",
        "empty_value",
        "binary_every_byte",
        "large_value",
        "unusual_keys",
        "longest_keys",
        "many_keys",
        "prefix_listing",
        "nested_keys",
        "batches",
        "create_if_absent",
        "concurrent_writers",
        "clear",
        "text_and_json",
        "invalid_keys",
        "conditional_writes",
        "conditional_write_race",
        "apply_batches",
        "copies",
        "batch_copies",
        "streams",
        "stream_faults",
        "listed_versions",
    ];
    let mut suite: Vec<&str> = testkit::CASES.iter().map(|(name, _)| *name).collect();
    let mut here = here.to_vec();
    suite.sort_unstable();
    here.sort_unstable();
    assert_eq!(here, suite);
}

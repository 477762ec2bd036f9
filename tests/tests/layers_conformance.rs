//! The storage conformance suite through the storage layers: each layer alone
//! (encryption, compression, audit) and the three stacked (audit over compression over
//! encryption, as store URLs stack them), each on every provider — memory, disk, SQLite,
//! and S3 on the in-process server.
//!
//! A layer must be invisible to the contract: keys, listings, versions, conditional
//! writes, batches and their atomicity are those of the provider underneath.
//!
//! Two cases are skipped on S3, each loudly (the test prints why) rather than silently:
//! - `longest_keys` everywhere on S3: the in-process `s3s-fs` server keeps a metadata
//!   file named after the whole key, so keys over about 200 bytes exceed `NAME_MAX`
//!   there (the S3 provider's own suite runs the case against external servers);
//! - `many_keys` (10,000 keys: about a minute on the in-process server on a quiet
//!   machine, and twice that through the audit layer, which writes a record ahead of
//!   every change there) for each layer alone and for the stack on S3: it runs once on
//!   S3 through the two value layers (`value_layers_s3::many_keys`: every value
//!   encrypted and compressed, the listings and the bulk delete of 10,000 keys through
//!   both), and through each layer alone and the stack on memory, disk and SQLite —
//!   the audit layer's write-ahead mode, the one it uses on S3, on disk.

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

/// Says, loudly, that `case` is not run in `module`, and why.
fn skipped(module: &str, case: &str, reason: &str) {
    eprintln!(
        "\n========================================================================\n\
         SKIPPED {module}::{case}: {reason}\n\
         ========================================================================\n"
    );
}

const LONGEST_KEYS_ON_S3: &str = "the in-process s3s-fs server stores a metadata file named \
     after the whole key, so keys over ~200 bytes exceed NAME_MAX (the S3 provider's suite \
     runs it against external servers: `cargo xtask s3-moto`)";

const MANY_KEYS_ON_S3: &str = "10,000 keys take a minute or more on the in-process S3 \
     server; the case runs on S3 once, through the two value layers \
     (value_layers_s3::many_keys), and through each layer alone and the stack on memory, \
     disk and SQLite (the audit layer's write-ahead mode, as on S3, on disk)";

/// One `#[test]` per case, each on a fresh `$layer($provider())`; the skipped cases
/// are `#[test]`s too, which say why they do not run. `CASES` lists both, to check
/// against the suite's own list.
macro_rules! suite {
    ($module:ident, $layer:ident, $provider:ident,
     run [$($case:ident)*], skip [$($skip:ident: $reason:ident)*]) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    let storage = super::$layer(super::$provider());
                    memory_fs_storage::testkit::$case(&storage);
                }
            )*
            $(
                #[test]
                fn $skip() {
                    super::skipped(stringify!($module), stringify!($skip), super::$reason);
                }
            )*
            pub(super) const CASES: &[&str] = &[$(stringify!($case),)* $(stringify!($skip),)*];
        }
    };
    // The whole suite.
    ($module:ident, $layer:ident, $provider:ident) => {
        suite!($module, $layer, $provider, run [
            save_load_delete empty_value binary_every_byte large_value unusual_keys
            longest_keys many_keys prefix_listing nested_keys batches create_if_absent
            concurrent_writers clear text_and_json invalid_keys conditional_writes
            conditional_write_race apply_batches copies batch_copies streams stream_faults listed_versions
        ], skip []);
    };
    // On S3: the whole suite but the cases named at the top of this file.
    (s3: $module:ident, $layer:ident, also [$($also:ident)*],
     skip [$($skip:ident: $reason:ident)*]) => {
        suite!($module, $layer, s3, run [$($also)*
            save_load_delete empty_value binary_every_byte large_value unusual_keys
            prefix_listing nested_keys batches create_if_absent
            concurrent_writers clear text_and_json invalid_keys conditional_writes
            conditional_write_race apply_batches copies batch_copies streams stream_faults listed_versions
        ], skip [$($skip: $reason)*]);
    };
}

suite!(stack_memory, stack, memory);
suite!(stack_disk, stack, disk);
suite!(stack_sqlite, stack, sqlite);

suite!(s3: stack_s3, stack, also [], skip [
    longest_keys: LONGEST_KEYS_ON_S3 many_keys: MANY_KEYS_ON_S3
]);

mod value_layers_s3 {
    //! `many_keys` on S3, once, through compression over encryption (see the top of
    //! this file).
    #[test]
    fn many_keys() {
        let storage = super::compress(super::encrypt(super::s3()));
        memory_fs_storage::testkit::many_keys(&storage);
    }
}

suite!(encrypt_memory, encrypt, memory);
suite!(encrypt_disk, encrypt, disk);
suite!(encrypt_sqlite, encrypt, sqlite);
suite!(s3: encrypt_s3, encrypt, also [], skip [
    longest_keys: LONGEST_KEYS_ON_S3 many_keys: MANY_KEYS_ON_S3
]);

suite!(compress_memory, compress, memory);
suite!(compress_disk, compress, disk);
suite!(compress_sqlite, compress, sqlite);
suite!(s3: compress_s3, compress, also [], skip [
    longest_keys: LONGEST_KEYS_ON_S3 many_keys: MANY_KEYS_ON_S3
]);

suite!(audit_memory, audit, memory);
suite!(audit_disk, audit, disk);
suite!(audit_sqlite, audit, sqlite);
suite!(s3: audit_s3, audit, also [], skip [
    longest_keys: LONGEST_KEYS_ON_S3 many_keys: MANY_KEYS_ON_S3
]);

/// Every module runs or loudly skips each case of the suite's own list: a case added
/// there and not here fails this test.
#[test]
fn every_suite_case_is_run() {
    let mut suite: Vec<&str> = testkit::CASES.iter().map(|(name, _)| *name).collect();
    suite.sort_unstable();
    let modules = [
        ("stack_memory", stack_memory::CASES),
        ("stack_disk", stack_disk::CASES),
        ("stack_sqlite", stack_sqlite::CASES),
        ("stack_s3", stack_s3::CASES),
        ("encrypt_memory", encrypt_memory::CASES),
        ("encrypt_disk", encrypt_disk::CASES),
        ("encrypt_sqlite", encrypt_sqlite::CASES),
        ("encrypt_s3", encrypt_s3::CASES),
        ("compress_memory", compress_memory::CASES),
        ("compress_disk", compress_disk::CASES),
        ("compress_sqlite", compress_sqlite::CASES),
        ("compress_s3", compress_s3::CASES),
        ("audit_memory", audit_memory::CASES),
        ("audit_disk", audit_disk::CASES),
        ("audit_sqlite", audit_sqlite::CASES),
        ("audit_s3", audit_s3::CASES),
    ];
    for (module, cases) in modules {
        let mut here = cases.to_vec();
        here.sort_unstable();
        assert_eq!(here, suite, "the cases of {module}");
    }
}

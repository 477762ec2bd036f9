//! The storage conformance suite on the async side of the S3 provider, natively
//! (`S3AsyncStorage`, driven by `BlockOn`): the in-process `s3s-fs`, or the server named
//! by `MEMORY_FS_S3_ENDPOINT`. `longest_keys` runs only against external servers, for
//! the reason `conformance.rs` gives.

mod common;

use memory_fs_storage::BlockOn;
use memory_fs_storage::testkit::{self, Guarded};
use memory_fs_storage_s3::S3AsyncStorage;

fn store() -> Guarded<BlockOn<S3AsyncStorage>, common::Server> {
    let (config, server) = common::config();
    let store = BlockOn::connect(S3AsyncStorage::connect(config)).expect("connect");
    Guarded::new(store, server)
}

/// Cases run against every server.
macro_rules! cases {
    ($($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                testkit::$case(&store());
            }
        )*
        /// The names this file runs, to check against the suite's own list.
        const RUN: &[&str] = &[$(stringify!($case),)* "longest_keys"];
    };
}

cases!(
    save_load_delete empty_value binary_every_byte large_value unusual_keys
    many_keys prefix_listing nested_keys batches create_if_absent
    concurrent_writers clear text_and_json invalid_keys conditional_writes
    conditional_write_race apply_batches copies batch_copies streams stream_faults
    listed_versions
);

#[test]
fn longest_keys() {
    let (config, server) = common::config();
    if server.is_some() {
        eprintln!("SKIPPED longest_keys on the in-process s3s-fs server (see conformance.rs)");
        return;
    }
    let store = BlockOn::connect(S3AsyncStorage::connect(config)).expect("connect");
    testkit::longest_keys(&store);
}

/// A case added to the suite must be added here too, or this fails.
#[test]
fn every_suite_case_is_run() {
    let mut suite: Vec<&str> = testkit::CASES.iter().map(|(name, _)| *name).collect();
    let mut run = RUN.to_vec();
    suite.sort_unstable();
    run.sort_unstable();
    assert_eq!(run, suite);
}

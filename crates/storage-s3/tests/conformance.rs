//! The storage conformance suite against a real S3 server: the in-process `s3s-fs`, or
//! the server named by `MEMORY_FS_S3_ENDPOINT` (see `cargo xtask s3-moto`).
//!
//! One case needs care: `s3s-fs` keeps per-object metadata in a file whose *name*
//! contains the whole encoded key, so keys longer than about 200 bytes fail there with
//! a server error. That is a limit of the test server, not of S3 (which allows 1024
//! bytes), so `longest_keys` runs against external servers and is skipped, loudly,
//! only on the in-process one.

mod common;

use memory_fs_storage::testkit;

/// Cases run against every server.
macro_rules! cases {
    ($($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                let store = common::store();
                testkit::$case(&store);
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
    conditional_write_race apply_batches copies batch_copies streams stream_faults listed_versions
);

#[test]
fn longest_keys() {
    let (config, server) = common::config();
    if server.is_some() {
        eprintln!(
            "\n========================================================================\n\
             SKIPPED longest_keys on the in-process s3s-fs server: it stores a metadata\n\
             file named after the whole key, so keys over ~200 bytes exceed NAME_MAX.\n\
             Run `cargo xtask s3-moto` (or set MEMORY_FS_S3_ENDPOINT) to run this case.\n\
             ========================================================================\n"
        );
        return;
    }
    let store = memory_fs_storage_s3::S3Storage::new(config).expect("connect");
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

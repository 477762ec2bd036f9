//! A 1 GiB value streamed into a SQLite file and read back holds a bounded amount of
//! memory, never the value, and is saved at all (one BLOB of it would pass SQLite's
//! length limit). Its own process, so no other test's memory counts.

use memory_fs_storage::testkit::rss;
use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};

/// The most the peak resident size may rise above the baseline.
const BOUND: u64 = 64 << 20;

#[test]
fn a_streamed_value_is_never_held_whole() {
    // The disk under the build directory, not a RAM-backed `/tmp`, holds the value.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let config = SqliteConfig::file(dir.path().join("store.db")).synchronous_normal();
    let store = SqliteStorage::with_config(config).expect("open");
    let (save, read) = rss::save_and_read(&store, "big/value", rss::value_len(1 << 30));
    assert!(save <= BOUND, "the save rose {save} bytes");
    assert!(read <= BOUND, "the read rose {read} bytes");
}

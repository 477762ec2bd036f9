//! A large streamed save and read on disk hold a bounded amount of memory, never the
//! value (its own process, so no other test's memory counts).

use memory_fs_storage::testkit::rss;
use memory_fs_storage_disk::DiskStorage;

/// The most the peak resident size may rise above the baseline.
const BOUND: u64 = 64 << 20;

#[test]
fn a_streamed_value_is_never_held_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = DiskStorage::open(dir.path()).expect("open");
    let (save, read) = rss::save_and_read(&store, "big/value", rss::value_len(1 << 30));
    assert!(save <= BOUND, "the save rose {save} bytes");
    assert!(read <= BOUND, "the read rose {read} bytes");
}

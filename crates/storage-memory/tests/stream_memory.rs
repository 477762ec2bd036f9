//! A large streamed save into the memory store holds the value once (in the tree) and
//! a bounded amount besides; a streamed read holds a bounded amount (its own process,
//! so no other test's memory counts).

use memory_fs_storage::testkit::rss;
use memory_fs_storage_memory::MemoryStorage;

/// The most the peak resident size may rise above the baseline besides the value.
const BOUND: u64 = 64 << 20;

#[test]
fn a_streamed_value_is_held_once() {
    let store = MemoryStorage::new();
    let len = rss::value_len(1 << 30);
    let (save, read) = rss::save_and_read(&store, "big/value", len);
    assert!(
        save <= len + BOUND,
        "the save of {len} bytes rose {save} bytes"
    );
    assert!(read <= BOUND, "the read rose {read} bytes");
}

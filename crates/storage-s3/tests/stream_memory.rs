//! A large value streamed to the in-process S3 server (a multipart upload) and read
//! back (one streamed GET) holds a bounded amount of memory, never the value. The
//! server runs in this process, so its own buffers count too. 256 MiB by default, as
//! the value travels through the server's HTTP stack and files twice;
//! `MEMORY_FS_STREAM_BYTES=1073741824` runs the gigabyte.

mod common;

use memory_fs_storage::BlockOn;
use memory_fs_storage::testkit::rss;
use memory_fs_storage_s3::{S3AsyncStorage, S3Storage};

/// The most the peak resident size may rise above the baseline.
const BOUND: u64 = 64 << 20;

#[test]
fn a_streamed_value_is_never_held_whole() {
    let (config, _server) = common::config();
    let len = rss::value_len(256 << 20);
    let store = S3Storage::new(config.clone()).expect("connect");
    let (save, read) = rss::save_and_read(&store, "big/blocking", len);
    assert!(save <= BOUND, "the blocking save rose {save} bytes");
    assert!(read <= BOUND, "the blocking read rose {read} bytes");
    let store = BlockOn::connect(S3AsyncStorage::connect(config)).expect("connect");
    let (save, read) = rss::save_and_read(&store, "big/async", len);
    assert!(save <= BOUND, "the async save rose {save} bytes");
    assert!(read <= BOUND, "the async read rose {read} bytes");
}

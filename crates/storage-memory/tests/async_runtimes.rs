//! The async adapters from every kind of caller: `BlockOn` from plain threads and from
//! inside current-thread and multi-threaded runtimes (streamed calls included), and
//! `Inline` and `Pooled` awaited directly.

use std::io::Read;

use bytes::Bytes;
use futures::StreamExt;
use memory_fs_storage::{AsyncStorage, BlockOn, Inline, Pooled, SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("key")
}

/// Saves and reads back, whole and streamed, through a blocking store.
fn round_trip(store: &dyn Storage) {
    let value: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    store.file_save(&key("a/small"), b"small").expect("save");
    assert_eq!(
        store.file_bytes(&key("a/small")).expect("load"),
        Some(b"small".to_vec())
    );
    assert_eq!(
        store
            .file_save_from(&key("a/large"), &mut &value[..])
            .expect("streamed save"),
        value.len() as u64
    );
    let mut read = Vec::new();
    store
        .file_reader(&key("a/large"))
        .expect("reader")
        .expect("exists")
        .read_to_end(&mut read)
        .expect("read");
    assert!(read == value);
}

fn block_on() -> BlockOn<Pooled<MemoryStorage>> {
    BlockOn::new(Pooled::new(MemoryStorage::new())).expect("runtime")
}

#[test]
fn block_on_from_a_plain_thread() {
    round_trip(&block_on());
    round_trip(&BlockOn::new(Inline(MemoryStorage::new())).expect("runtime"));
}

#[tokio::test(flavor = "current_thread")]
async fn block_on_inside_a_current_thread_runtime() {
    round_trip(&block_on());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_on_inside_a_multi_threaded_runtime() {
    round_trip(&block_on());
}

/// Awaited directly, as a tokio service calls them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_and_pooled_awaited() {
    let inline = Inline(MemoryStorage::new());
    let pooled = Pooled::new(MemoryStorage::new());
    for store in [&inline as &dyn AsyncStorage, &pooled] {
        let k = key("b/value");
        store
            .file_save(&k, Bytes::from_static(b"hello"))
            .await
            .expect("save");
        assert_eq!(
            store.file_bytes(&k).await.expect("load").as_deref(),
            Some(&b"hello"[..])
        );
        let chunks =
            futures::stream::iter((0..5u8).map(|i| Ok(Bytes::from(vec![i; 700_000])))).boxed();
        assert_eq!(
            store.file_save_stream(&k, chunks).await.expect("stream"),
            3_500_000
        );
        let mut got = Vec::new();
        let mut stream = store.file_stream(&k).await.expect("open").expect("exists");
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.expect("chunk"));
        }
        assert_eq!(got.len(), 3_500_000);
        assert!(
            got.chunks(700_000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8))
        );
        assert_eq!(store.file_size(&k).await.expect("size"), Some(3_500_000));
        assert_eq!(
            store
                .file_range(&k, 699_999, 2)
                .await
                .expect("range")
                .as_deref(),
            Some(&[0u8, 1][..])
        );
    }
}

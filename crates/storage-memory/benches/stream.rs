//! A streamed save into the memory store against MD5 alone over the same bytes, in one
//! run: the floor a file layer that hashes while it streams cannot go below.
//!
//! Run: `cargo bench -p memory-fs-storage-memory --bench stream`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use md5::{Digest, Md5};
use memory_fs_storage::{CHUNK, SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;

const LEN: usize = 64 * 1024 * 1024;

fn benches(c: &mut Criterion) {
    let data: Vec<u8> = (0..LEN)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
        .collect();
    let store = MemoryStorage::new();
    let key = SafePath::new("stream/value").expect("key");
    let mut g = c.benchmark_group("memory/stream_64MiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(10);
    g.bench_function("file_save_from", |b| {
        b.iter(|| store.file_save_from(&key, &mut &data[..]).expect("save"));
    });
    g.bench_function("md5_alone", |b| {
        b.iter(|| {
            let mut md5 = Md5::new();
            for chunk in data.chunks(CHUNK) {
                md5.update(chunk);
            }
            black_box(md5.finalize())
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
}

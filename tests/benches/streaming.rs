//! Large values through the file layer beside the format's floor: a save of a binary
//! file must hash its content with MD5 (`content__hash`), so MD5 alone over the same
//! bytes, in the same run, is the yardstick. The whole-value save (`File::save`) and
//! the streamed save (`File::save_from`, which also writes the value once more: to its
//! staging key, then into place) on the memory provider, at 16 MiB and 64 MiB.
//!
//! `cargo bench -p memory-fs-tests --bench streaming`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use md5::{Digest as _, Md5};
use memory_fs::{Content, File, FileId, FileSpec, FileType, PathHandler, Storage, SystemClock};
use memory_fs_storage_memory::MemoryStorage;

fn value(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2])
        .collect()
}

fn spec() -> FileSpec {
    FileSpec::new(FileId::new("big").expect("id"), FileType::binary())
        .handlers([PathHandler::latest()])
}

fn bench(c: &mut Criterion) {
    for mib in [16usize, 64] {
        let data = value(mib << 20);
        let mut group = c.benchmark_group(format!("{mib} MiB"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(8))
            .throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(BenchmarkId::new("md5 alone (the floor)", mib), |b| {
            b.iter(|| Md5::digest(&data));
        });
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        group.bench_function(BenchmarkId::new("File::save (whole value)", mib), |b| {
            b.iter(|| File::save(storage.clone(), &spec(), Content::Bytes(&data)).expect("save"));
        });
        group.bench_function(BenchmarkId::new("File::save_from (streamed)", mib), |b| {
            b.iter(|| {
                File::save_from(
                    storage.clone(),
                    Arc::new(SystemClock),
                    &spec(),
                    &mut &data[..],
                )
                .expect("save")
            });
        });
        let file = File::open(storage.clone(), &FileId::new("big").expect("id"))
            .expect("open")
            .expect("saved");
        group.bench_function(BenchmarkId::new("File::load_to (streamed)", mib), |b| {
            b.iter(|| file.load_to(&mut std::io::sink()).expect("load"));
        });
        group.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

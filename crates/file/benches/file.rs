//! The file layer on the memory provider, for comparison with the Python package's own
//! in-memory figures (median per operation, measured by its authors): save of a
//! ~210-byte JSON file 4,452 µs, load 1,070 µs, exists 879 µs, delete 2,462 µs, and a
//! 16 MiB binary save 27 ms. Hashing (MD5 and SHA-256) is included in every save.
//!
//! Run: `cargo bench -p memory-fs-file --bench file`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use memory_fs_file::{Content, File, FileId, FileSpec, FileType, PathHandler};
use memory_fs_storage_memory::MemoryStorage;
use serde_json::json;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let storage = Arc::new(MemoryStorage::new());
    let doc = json!({
        "user": "alice", "id": 12345, "active": true, "score": 98.5,
        "roles": ["admin", "editor", "viewer"],
        "address": {"city": "Lisboa", "zip": "1000-001", "country": "PT"},
        "note": "a small JSON document of about two hundred bytes"
    });
    let json_spec = FileSpec::new(FileId::new("bench-doc").expect("id"), FileType::json())
        .handlers([PathHandler::latest()]);
    let json_file = File::save(storage.clone(), &json_spec, Content::Json(&doc)).expect("save");
    let size = json_file.bytes().expect("bytes").map_or(0, |b| b.len());
    eprintln!("JSON content size: {size} bytes");

    let mut g = c.benchmark_group("file_layer");
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("save_json_210B", |b| {
        b.iter(|| {
            File::save(storage.clone(), &json_spec, Content::Json(black_box(&doc))).expect("save")
        })
    });
    g.bench_function("load_json_210B", |b| {
        b.iter(|| {
            File::open(storage.clone(), json_spec.id())
                .expect("open")
                .expect("saved")
                .load_json()
                .expect("load")
        })
    });
    g.bench_function("exists", |b| b.iter(|| json_file.exists().expect("exists")));
    g.bench_function("delete", |b| {
        b.iter_batched(
            || File::save(storage.clone(), &json_spec, Content::Json(&doc)).expect("save"),
            |f| f.delete().expect("delete"),
            criterion::BatchSize::SmallInput,
        )
    });
    let big = vec![0x5au8; 16 << 20];
    let bin = FileSpec::new(FileId::new("bench-bin").expect("id"), FileType::binary())
        .handlers([PathHandler::latest()]);
    g.sample_size(10);
    g.bench_function("save_binary_16MiB", |b| {
        b.iter(|| File::save(storage.clone(), &bin, Content::Bytes(black_box(&big))).expect("save"))
    });
    g.finish();
    c.final_summary();
}

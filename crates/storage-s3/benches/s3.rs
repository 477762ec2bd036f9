//! The S3 provider against raw `object_store` calls on the same in-process server, in
//! one run: 1 KiB save/load/delete, listing 10,000 keys, and one 64 MiB value.
//!
//! Run: `cargo bench -p memory-fs-storage-s3 --features test-server --bench s3`.
//! Each group has a `provider` and a `raw` line; the ratio of their times is the cost
//! of the synchronous `Storage` API (owned runtime, spawn and wait, key mapping).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion};
use futures::{StreamExt, TryStreamExt, stream};
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_s3::S3Storage;
use memory_fs_storage_s3::testing::TestServer;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use tokio::runtime::Runtime;

const KEYS: usize = 10_000;
const SMALL: usize = 1024;
const LARGE: usize = 64 * 1024 * 1024;
const PART: usize = 8 * 1024 * 1024;

fn raw_store(server: &TestServer) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(&server.bucket)
        .with_region(&server.region)
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_access_key_id(&server.access_key)
        .with_secret_access_key(&server.secret_key)
        .build()
        .expect("raw client")
}

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("key")
}

/// Writes `KEYS` small objects under `prefix/` with raw concurrent puts.
fn populate(rt: &Runtime, raw: &Arc<AmazonS3>, prefix: &str) {
    let data = vec![7u8; SMALL];
    rt.block_on(async {
        stream::iter(0..KEYS)
            .map(|i| {
                let raw = Arc::clone(raw);
                let data = PutPayload::from(data.clone());
                async move { raw.put(&Path::from(format!("{prefix}/{i:05}")), data).await }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await
            .expect("populate");
    });
}

fn benches(c: &mut Criterion) {
    let server = TestServer::start().expect("server");
    let provider = S3Storage::new(
        server
            .config()
            .with_part_size(PART)
            .with_multipart_threshold(PART),
    )
    .expect("provider");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let raw = Arc::new(raw_store(&server));
    populate(&rt, &raw, "p");
    populate(&rt, &raw, "r");
    let small = vec![1u8; SMALL];

    let mut g = c.benchmark_group("s3/save_1KiB");
    let mut i = 0usize;
    g.bench_function("provider", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            provider
                .file_save(&key(&format!("p/{i:05}")), &small)
                .expect("save");
        });
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let payload = PutPayload::from(small.clone());
            rt.block_on(raw.put(&Path::from(format!("r/{i:05}")), payload))
                .expect("put");
        });
    });
    g.finish();

    let mut g = c.benchmark_group("s3/load_1KiB");
    g.bench_function("provider", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(
                provider
                    .file_bytes(&key(&format!("p/{i:05}")))
                    .expect("load"),
            );
        });
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let location = Path::from(format!("r/{i:05}"));
            black_box(
                rt.block_on(async { raw.get(&location).await?.bytes().await })
                    .expect("get")
                    .to_vec(),
            );
        });
    });
    g.finish();

    let mut g = c.benchmark_group("s3/list_10000");
    g.bench_function("provider", |b| {
        b.iter(|| {
            let keys = provider.files_paths(Some(&key("p"))).expect("list");
            assert_eq!(keys.len(), KEYS);
        });
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            let prefix = Path::from("r");
            let listed: Vec<_> = rt
                .block_on(raw.list(Some(&prefix)).try_collect())
                .expect("list");
            assert_eq!(listed.len(), KEYS);
        });
    });
    g.finish();

    let mut g = c.benchmark_group("s3/delete_1KiB");
    g.bench_function("provider", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % KEYS;
                let k = key(&format!("p/{i:05}"));
                provider.file_save(&k, &small).expect("save");
                k
            },
            |k| assert!(provider.file_delete(&k).expect("delete")),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("raw", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % KEYS;
                let location = Path::from(format!("r/{i:05}"));
                rt.block_on(raw.put(&location, PutPayload::from(small.clone())))
                    .expect("put");
                location
            },
            |location| rt.block_on(raw.delete(&location)).expect("delete"),
            BatchSize::PerIteration,
        );
    });
    g.finish();

    let large: Vec<u8> = (0..LARGE).map(|i| (i % 251) as u8).collect();
    let mut g = c.benchmark_group("s3/save_64MiB");
    g.sample_size(10);
    g.bench_function("provider", |b| {
        b.iter(|| provider.file_save(&key("big/p"), &large).expect("save"));
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            rt.block_on(async {
                let upload = raw.put_multipart(&Path::from("big/r")).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
                writer.put(bytes::Bytes::copy_from_slice(&large));
                writer.finish().await
            })
            .expect("multipart");
        });
    });
    g.finish();

    let mut g = c.benchmark_group("s3/load_64MiB");
    g.sample_size(10);
    g.bench_function("provider", |b| {
        b.iter(|| black_box(provider.file_bytes(&key("big/p")).expect("load")));
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(async { raw.get(&Path::from("big/r")).await?.bytes().await })
                    .expect("get")
                    .to_vec(),
            )
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
}

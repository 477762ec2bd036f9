//! The async S3 provider against raw `object_store` async calls on the same in-process
//! server and the same runtime, in one run (1 KiB and 16 MiB save and load), and 1,000
//! small loads awaited together on one runtime against 1,000 sequential blocking loads.
//!
//! Run: `cargo bench -p memory-fs-storage-s3 --features test-server --bench async_s3`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;
use futures::StreamExt;
use memory_fs_storage::{AsyncStorage, SafePath, Storage};
use memory_fs_storage_s3::testing::TestServer;
use memory_fs_storage_s3::{S3AsyncStorage, S3Storage};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

const SMALL: usize = 1024;
const LARGE: usize = 16 * 1024 * 1024;
const PART: usize = 8 * 1024 * 1024;
const MANY: usize = 1_000;

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

fn benches(c: &mut Criterion) {
    let server = TestServer::start().expect("server");
    let config = server
        .config()
        .with_part_size(PART)
        .with_multipart_threshold(LARGE);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt
        .block_on(S3AsyncStorage::connect(config.clone()))
        .expect("async provider");
    let blocking = S3Storage::new(config).expect("blocking provider");
    let raw = raw_store(&server);

    for (name, len) in [("1KiB", SMALL), ("16MiB", LARGE)] {
        let data = Bytes::from(vec![3u8; len]);
        let mut g = c.benchmark_group(format!("async_s3/save_{name}"));
        if len > SMALL {
            g.sample_size(10);
        }
        let k = key(&format!("a/{name}"));
        g.bench_function("provider", |b| {
            b.iter(|| {
                rt.block_on(store.file_save(&k, data.clone()))
                    .expect("save")
            });
        });
        let location = Path::from(format!("r/{name}"));
        g.bench_function("raw", |b| {
            b.iter(|| {
                rt.block_on(async {
                    // The provider's own rule: one PUT below the threshold, parts above.
                    if len >= LARGE {
                        let upload = raw.put_multipart(&location).await?;
                        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
                        writer.put(data.clone());
                        writer.finish().await.map(drop)
                    } else {
                        raw.put(&location, PutPayload::from(data.clone()))
                            .await
                            .map(drop)
                    }
                })
                .expect("put")
            });
        });
        g.finish();

        let mut g = c.benchmark_group(format!("async_s3/load_{name}"));
        if len > SMALL {
            g.sample_size(10);
        }
        g.bench_function("provider", |b| {
            b.iter(|| black_box(rt.block_on(store.file_bytes(&k)).expect("load")));
        });
        g.bench_function("raw", |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(async { raw.get(&location).await?.bytes().await })
                        .expect("get"),
                )
            });
        });
        g.finish();
    }

    many_loads(c, &rt, "async_s3/loads_1000x1KiB", &store, &blocking);

    // The same, on a server whose every response waits 2 ms, as across a network.
    let slow = TestServer::start_with_latency(Duration::from_millis(2)).expect("server");
    let config = slow.config();
    let store = rt
        .block_on(S3AsyncStorage::connect(config.clone()))
        .expect("async provider");
    let blocking = S3Storage::new(config).expect("blocking provider");
    many_loads(
        c,
        &rt,
        "async_s3/loads_1000x1KiB_2ms_latency",
        &store,
        &blocking,
    );
}

/// 1,000 small loads awaited together on one runtime against 1,000 sequential blocking
/// loads.
fn many_loads(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    group: &str,
    store: &S3AsyncStorage,
    blocking: &S3Storage,
) {
    let keys: Vec<SafePath> = (0..MANY).map(|i| key(&format!("many/{i:04}"))).collect();
    blocking
        .files_save(
            &keys
                .iter()
                .map(|k| (k.clone(), &[7u8; SMALL][..]))
                .collect::<Vec<_>>(),
        )
        .expect("populate");
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.bench_function("async_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let loads = futures::stream::iter(&keys)
                    .map(|k| store.file_bytes(k))
                    .buffer_unordered(MANY)
                    .collect::<Vec<_>>()
                    .await;
                for load in loads {
                    black_box(load.expect("load").expect("exists"));
                }
            });
        });
    });
    g.bench_function("blocking_sequential", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(blocking.file_bytes(k).expect("load").expect("exists"));
            }
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

//! `AsyncMemoryFs` on every provider: each operation of the blocking facade through
//! the async one, streamed values in and out (and cut part-way), many tasks at once on
//! one file, and proof that a call never blocks the executor (a store that waits for a
//! signal only another task of the same single-threaded runtime can send).

#![cfg(all(feature = "async", feature = "full"))]

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use memory_fs::{
    AsyncMemoryFs, Bytes, Capabilities, Content, FileId, FileSpec, FileType, MemoryFs, PathHandler,
    Query, SafePath, Storage, StorageError, StorageErrorKind,
};
use serde_json::json;

fn id(s: &str) -> FileId {
    FileId::new(s).expect("id")
}

/// A fresh store of each provider, with what keeps it alive.
fn stores() -> Vec<(&'static str, AsyncMemoryFs, Box<dyn std::any::Any + Send>)> {
    let server = memory_fs::s3::testing::TestServer::start().expect("S3 test server");
    let disk = tempfile::tempdir().expect("tempdir");
    let sqlite = tempfile::tempdir().expect("tempdir");
    let fs = |s: Arc<dyn Storage>| AsyncMemoryFs::new(MemoryFs::new(s));
    vec![
        ("memory", AsyncMemoryFs::in_memory(), Box::new(())),
        (
            "disk",
            fs(Arc::new(
                memory_fs::disk::DiskStorage::open(disk.path()).expect("disk"),
            )),
            Box::new(disk),
        ),
        (
            "sqlite",
            fs(Arc::new(
                memory_fs::sqlite::SqliteStorage::open(sqlite.path().join("s.db")).expect("sqlite"),
            )),
            Box::new(sqlite),
        ),
        (
            "s3",
            fs(Arc::new(
                memory_fs::s3::S3Storage::new(server.config()).expect("s3"),
            )),
            Box::new(server),
        ),
    ]
}

fn versioned(name: &str, ty: FileType) -> FileSpec {
    FileSpec::new(id(name), ty).handlers([PathHandler::latest(), PathHandler::versioned()])
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn every_operation(name: &str, fs: &AsyncMemoryFs) {
    let doc = versioned("doc", FileType::json());
    fs.save_json(doc.clone(), json!({"v": 1}))
        .await
        .expect("save");
    fs.save_typed(doc.clone(), json!({"v": 2}))
        .await
        .expect("save typed");
    assert_eq!(
        fs.load_json("doc").await.expect("load"),
        Some(json!({"v": 2}))
    );
    let typed: Option<serde_json::Value> = fs.load_typed("doc").await.expect("typed");
    assert_eq!(typed, Some(json!({"v": 2})));
    assert_eq!(
        fs.versions("doc").await.expect("versions"),
        [1, 2],
        "{name}"
    );
    let diff = fs.diff("doc", 1, None).await.expect("diff");
    assert!(
        matches!(&diff, memory_fs::Diff::Json { paths, .. } if paths == &["/v"]),
        "{name}: {diff:?}"
    );
    fs.restore("doc", 1).await.expect("restore");
    assert_eq!(
        fs.load_json("doc").await.expect("load"),
        Some(json!({"v": 1}))
    );
    assert_eq!(fs.versions("doc").await.expect("versions"), [1, 2, 3]);

    fs.add_tags("doc", ["a", "b"]).await.expect("tags");
    fs.remove_tags("doc", ["b"]).await.expect("untag");
    let data = json!({"owner": "ops"})
        .as_object()
        .cloned()
        .expect("object");
    fs.update_data("doc", data.clone()).await.expect("data");
    let info = fs.info("doc").await.expect("info");
    let meta = info.metadata.expect("metadata");
    assert_eq!(meta.tags, ["a"], "{name}");
    assert_eq!(meta.data, data);

    let note = FileSpec::new(id("note"), FileType::text()).folders(["notes"]);
    fs.save_text(note, "hello").await.expect("text");
    assert_eq!(
        fs.load_text("note").await.expect("text").as_deref(),
        Some("hello")
    );
    let blob = FileSpec::new(id("blob"), FileType::binary());
    fs.save_bytes(blob, Bytes::from_static(b"\x00\x01\x02\x03"))
        .await
        .expect("bytes");
    assert_eq!(
        fs.load_bytes("blob").await.expect("bytes").as_deref(),
        Some(&b"\x00\x01\x02\x03"[..])
    );
    assert_eq!(
        fs.load_range("blob", 1, 2).await.expect("range").as_deref(),
        Some(&b"\x01\x02"[..])
    );

    let tagged = fs.query(Query::new().tag("a")).await.expect("query");
    assert_eq!(tagged.files.len(), 1, "{name}");
    assert_eq!(fs.list().await.expect("list").files.len(), 3);

    let moved = fs
        .transaction(|tx| {
            tx.save(
                &FileSpec::new(FileId::new("pair")?, FileType::text()),
                Content::Text("one"),
            )?;
            tx.delete(&FileId::new("note")?);
            Ok(7)
        })
        .await
        .expect("transaction");
    assert_eq!(moved, 7);
    assert_eq!(
        fs.load_text("pair").await.expect("pair").as_deref(),
        Some("one")
    );
    assert!(
        fs.file("note").await.is_err(),
        "{name}: deleted in the transaction"
    );

    let report = fs.delete("blob").await.expect("delete");
    assert!(!report.deleted.is_empty());
    assert!(
        fs.verify(None).await.expect("verify").problems.is_empty(),
        "{name}"
    );
    assert!(
        fs.verify_chains()
            .await
            .expect("chains")
            .problems
            .is_empty(),
        "{name}"
    );
    let keys = fs.run(|fs| fs.keys(None, false)).await.expect("run");
    assert!(!keys.is_empty());
}

async fn streams(name: &str, fs: &AsyncMemoryFs) {
    let spec = versioned("big", FileType::binary());
    let data = pattern(3 * (1 << 20) + 17, 5);
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(100_003)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let file = fs
        .save_stream(spec.clone(), futures::stream::iter(chunks))
        .await
        .expect("save stream");
    assert_eq!(
        file.metadata().map(|m| m.content_size),
        Some(data.len() as u64)
    );

    let mut back = Vec::new();
    let mut stream = fs.load_stream("big").await.expect("load stream");
    while let Some(chunk) = stream.next().await {
        back.extend_from_slice(&chunk.expect("chunk"));
    }
    assert!(back == data, "{name}: the stream came back changed");

    let mut out = Vec::new();
    let n = fs.load_to("big", &mut out).await.expect("load to");
    assert_eq!(n, Some(data.len() as u64));
    assert!(out == data);

    // From an AsyncRead.
    let newer = pattern(1 << 20, 9);
    fs.save_reader(spec.clone(), &newer[..])
        .await
        .expect("save reader");
    assert_eq!(
        fs.load_bytes("big").await.expect("load").as_deref(),
        Some(&newer[..])
    );

    // A stream cut part-way saves nothing.
    let cut = futures::stream::iter(vec![
        Ok(Bytes::from(pattern(1 << 20, 1))),
        Err(std::io::Error::other("the client went away")),
    ]);
    let err = fs.save_stream(spec, cut).await.expect_err("cut");
    assert_eq!(err.kind(), memory_fs::ErrorKind::Storage, "{name}: {err}");
    assert!(
        matches!(&err, memory_fs::Error::File(memory_fs::FileError::Storage(e)) if e.kind() == StorageErrorKind::Input),
        "{name}: {err}"
    );
    assert_eq!(
        fs.versions("big").await.expect("versions"),
        [1, 2],
        "{name}"
    );
    assert_eq!(
        fs.load_bytes("big").await.expect("load").as_deref(),
        Some(&newer[..])
    );

    // A reader that stops early lets the pool thread go.
    let mut stream = fs.load_stream("big").await.expect("load stream");
    let first = stream.next().await.expect("a chunk").expect("bytes");
    assert!(!first.is_empty());
    drop(stream);
    assert!(fs.verify(None).await.expect("verify").problems.is_empty());
}

async fn many_tasks(name: &str, fs: &AsyncMemoryFs) {
    let spec = versioned("shared", FileType::json());
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let (fs, spec) = (fs.clone(), spec.clone());
        tasks.spawn(async move { fs.save_json(spec, json!({ "writer": n })).await });
    }
    for n in 0..32 {
        let fs = fs.clone();
        tasks.spawn(async move {
            let spec = FileSpec::new(FileId::new(format!("own-{n}"))?, FileType::json());
            fs.save_json(spec, json!(n)).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("save");
    }
    let versions = fs.versions("shared").await.expect("versions");
    assert_eq!(
        versions,
        (1..=16).collect::<Vec<_>>(),
        "{name}: one version per save"
    );
    assert!(
        fs.verify_chains()
            .await
            .expect("chains")
            .problems
            .is_empty(),
        "{name}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_every_provider() {
    for (name, fs, _keep) in stores() {
        every_operation(name, &fs).await;
        streams(name, &fs).await;
        many_tasks(name, &fs).await;
    }
}

#[test]
fn on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let fs = AsyncMemoryFs::in_memory();
        streams("memory, current thread", &fs).await;
    });
}

/// A store whose saves wait until a signal arrives: only another task can send it.
#[derive(Debug)]
struct Gated {
    inner: memory_fs::memory::MemoryStorage,
    gate: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Storage for Gated {
    fn capabilities(&self) -> Capabilities {
        // Nothing promised: every write goes through `file_save`, and so the gate.
        Capabilities::new("gated")
    }
    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<(), StorageError> {
        self.gate
            .lock()
            .expect("gate")
            .recv()
            .expect("the signal comes");
        self.inner.file_save(path, data)
    }
    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.file_bytes(path)
    }
    fn file_exists(&self, path: &SafePath) -> Result<bool, StorageError> {
        self.inner.file_exists(path)
    }
    fn file_delete(&self, path: &SafePath) -> Result<bool, StorageError> {
        self.inner.file_delete(path)
    }
    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>, StorageError> {
        self.inner.files_paths(prefix)
    }
    fn clear(&self) -> Result<(), StorageError> {
        self.inner.clear()
    }
}

/// On a runtime with a single thread, a save that waits for a signal sent by another
/// task finishes: the executor went on running tasks while the save was waiting. (Were
/// the save run on the executor, the sending task could never run, and it would hang.)
#[test]
fn a_call_never_blocks_the_executor() {
    let (signal, gate) = std::sync::mpsc::channel();
    let storage = Gated {
        inner: memory_fs::memory::MemoryStorage::new(),
        gate: Mutex::new(gate),
    };
    let fs = AsyncMemoryFs::new(MemoryFs::new(Arc::new(storage)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let sender = tokio::spawn(async move {
                // Enough signals for every key the save writes.
                for _ in 0..64 {
                    tokio::task::yield_now().await;
                    if signal.send(()).is_err() {
                        break;
                    }
                }
            });
            let spec = FileSpec::new(FileId::new("gated").expect("id"), FileType::text());
            let saved = fs.save_text(spec, "through the gate").await;
            sender.abort();
            done.send(saved.map(|_| ())).expect("report");
        });
    });
    let outcome = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the save finished: the executor was not blocked");
    outcome.expect("the save");
}

//! Each storage provider beside its raw peer, on the same workload in one run:
//! 10,000 values of 1 KiB saved, loaded, checked, listed and deleted, and one 64 MiB
//! value saved and loaded.
//!
//! - memory provider vs object_store `InMemory` and the `vfs` crate's `MemoryFS`;
//! - disk provider (fsync off) vs raw `std::fs` writes and object_store
//!   `LocalFileSystem`, on the same disk;
//! - SQLite provider vs raw rusqlite with a prepared statement, same pragmas (WAL,
//!   synchronous NORMAL).
//!
//! Run: `cargo bench -p memory-fs-tests --bench storage`.

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use futures::TryStreamExt;
use futures::executor::block_on;
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_disk::{DiskConfig, DiskStorage};
use memory_fs_storage_memory::MemoryStorage;
use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};
use object_store::{ObjectStore, PutPayload, path::Path as OsPath};
use vfs::FileSystem;

const N: usize = 10_000;
const SMALL: usize = 1024;
const BIG: usize = 64 << 20;

/// The operations every contender implements.
trait Kv {
    fn save(&self, i: usize, data: &[u8]);
    fn load(&self, i: usize) -> usize;
    fn exists(&self, i: usize) -> bool;
    fn list(&self) -> usize;
    fn delete(&self, i: usize);
    fn save_big(&self, data: &[u8]);
    fn load_big(&self) -> usize;
}

fn key(i: usize) -> String {
    format!("bench/{:02}/{i:05}.json", i % 100)
}

struct Provider<S>(S, Vec<SafePath>, SafePath);

impl<S: Storage> Provider<S> {
    fn new(s: S) -> Self {
        Self(
            s,
            (0..N)
                .map(|i| SafePath::new(key(i)).expect("key"))
                .collect(),
            SafePath::new("big/value").expect("key"),
        )
    }
}

impl<S: Storage> Kv for Provider<S> {
    fn save(&self, i: usize, data: &[u8]) {
        self.0.file_save(&self.1[i], data).expect("save");
    }
    fn load(&self, i: usize) -> usize {
        self.0
            .file_bytes(&self.1[i])
            .expect("load")
            .map_or(0, |v| v.len())
    }
    fn exists(&self, i: usize) -> bool {
        self.0.file_exists(&self.1[i]).expect("exists")
    }
    fn list(&self) -> usize {
        self.0.files_paths(None).expect("list").len()
    }
    fn delete(&self, i: usize) {
        self.0.file_delete(&self.1[i]).expect("delete");
    }
    fn save_big(&self, data: &[u8]) {
        self.0.file_save(&self.2, data).expect("save");
    }
    fn load_big(&self) -> usize {
        self.0
            .file_bytes(&self.2)
            .expect("load")
            .map_or(0, |v| v.len())
    }
}

struct ObjStore<O>(O, Vec<OsPath>);

impl<O: ObjectStore> ObjStore<O> {
    fn new(o: O) -> Self {
        Self(o, (0..N).map(|i| OsPath::from(key(i))).collect())
    }
}

impl<O: ObjectStore> Kv for ObjStore<O> {
    fn save(&self, i: usize, data: &[u8]) {
        block_on(self.0.put(&self.1[i], PutPayload::from(data.to_vec()))).expect("put");
    }
    fn load(&self, i: usize) -> usize {
        block_on(async { self.0.get(&self.1[i]).await?.bytes().await })
            .expect("get")
            .len()
    }
    fn exists(&self, i: usize) -> bool {
        block_on(self.0.head(&self.1[i])).is_ok()
    }
    fn list(&self) -> usize {
        block_on(self.0.list(None).try_collect::<Vec<_>>())
            .expect("list")
            .len()
    }
    fn delete(&self, i: usize) {
        block_on(self.0.delete(&self.1[i])).expect("delete");
    }
    fn save_big(&self, data: &[u8]) {
        block_on(
            self.0
                .put(&OsPath::from("big/value"), PutPayload::from(data.to_vec())),
        )
        .expect("put");
    }
    fn load_big(&self) -> usize {
        block_on(async { self.0.get(&OsPath::from("big/value")).await?.bytes().await })
            .expect("get")
            .len()
    }
}

struct Vfs(vfs::MemoryFS);

impl Vfs {
    fn path(i: usize) -> String {
        format!("/{}", key(i))
    }
    fn put(&self, path: &str, data: &[u8]) {
        if let Some((dir, _)) = path.rsplit_once('/') {
            let mut at = String::new();
            for seg in dir.split('/').filter(|s| !s.is_empty()) {
                at.push('/');
                at.push_str(seg);
                if !self.0.exists(&at).expect("exists") {
                    self.0.create_dir(&at).expect("mkdir");
                }
            }
        }
        self.0
            .create_file(path)
            .expect("create")
            .write_all(data)
            .expect("write");
    }
    fn get(&self, path: &str) -> usize {
        let mut out = Vec::new();
        self.0
            .open_file(path)
            .expect("open")
            .read_to_end(&mut out)
            .expect("read");
        out.len()
    }
    fn walk(&self, dir: &str) -> usize {
        self.0
            .read_dir(dir)
            .expect("read_dir")
            .map(|name| {
                let p = format!("{dir}/{name}");
                if self.0.metadata(&p).expect("stat").file_type == vfs::VfsFileType::Directory {
                    self.walk(&p)
                } else {
                    1
                }
            })
            .sum()
    }
}

impl Kv for Vfs {
    fn save(&self, i: usize, data: &[u8]) {
        self.put(&Self::path(i), data);
    }
    fn load(&self, i: usize) -> usize {
        self.get(&Self::path(i))
    }
    fn exists(&self, i: usize) -> bool {
        self.0.exists(&Self::path(i)).expect("exists")
    }
    fn list(&self) -> usize {
        self.walk("")
    }
    fn delete(&self, i: usize) {
        self.0.remove_file(&Self::path(i)).expect("remove");
    }
    fn save_big(&self, data: &[u8]) {
        self.put("/big/value", data);
    }
    fn load_big(&self) -> usize {
        self.get("/big/value")
    }
}

/// Raw `std::fs`: create directories once, then `fs::write` / `fs::read`.
struct RawFs(PathBuf);

impl Kv for RawFs {
    fn save(&self, i: usize, data: &[u8]) {
        let p = self.0.join(key(i));
        if let Err(e) = std::fs::write(&p, data) {
            if e.kind() != std::io::ErrorKind::NotFound {
                panic!("{e}");
            }
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, data).expect("write");
        }
    }
    fn load(&self, i: usize) -> usize {
        std::fs::read(self.0.join(key(i))).expect("read").len()
    }
    fn exists(&self, i: usize) -> bool {
        std::fs::symlink_metadata(self.0.join(key(i))).is_ok_and(|m| m.is_file())
    }
    fn list(&self) -> usize {
        fn walk(p: &std::path::Path) -> usize {
            std::fs::read_dir(p)
                .expect("read_dir")
                .map(|e| {
                    let e = e.expect("entry");
                    if e.file_type().expect("type").is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        }
        walk(&self.0)
    }
    fn delete(&self, i: usize) {
        std::fs::remove_file(self.0.join(key(i))).expect("remove");
    }
    fn save_big(&self, data: &[u8]) {
        std::fs::create_dir_all(self.0.join("big")).expect("mkdir");
        std::fs::write(self.0.join("big/value"), data).expect("write");
    }
    fn load_big(&self) -> usize {
        std::fs::read(self.0.join("big/value")).expect("read").len()
    }
}

/// Raw rusqlite: the same table and pragmas, prepared statements, autocommit, keys
/// built before timing (as the provider's are).
struct RawSqlite(rusqlite::Connection, Vec<String>);

impl RawSqlite {
    fn new(path: &std::path::Path) -> Self {
        let c = rusqlite::Connection::open(path).expect("open");
        c.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE files (path TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;",
        )
        .expect("schema");
        Self(c, (0..N).map(key).collect())
    }
    fn put(&self, k: &str, data: &[u8]) {
        self.0
            .prepare_cached("INSERT INTO files (path, data) VALUES (?1, ?2) ON CONFLICT (path) DO UPDATE SET data = excluded.data")
            .expect("prepare")
            .execute(rusqlite::params![k, data])
            .expect("insert");
    }
    fn get(&self, k: &str) -> usize {
        self.0
            .prepare_cached("SELECT data FROM files WHERE path = ?1")
            .expect("prepare")
            .query_row([k], |r| r.get::<_, Vec<u8>>(0))
            .expect("select")
            .len()
    }
}

impl Kv for RawSqlite {
    fn save(&self, i: usize, data: &[u8]) {
        self.put(&self.1[i], data);
    }
    fn load(&self, i: usize) -> usize {
        self.get(&self.1[i])
    }
    fn exists(&self, i: usize) -> bool {
        self.0
            .prepare_cached("SELECT 1 FROM files WHERE path = ?1")
            .expect("prepare")
            .exists([&self.1[i]])
            .expect("exists")
    }
    fn list(&self) -> usize {
        let mut stmt = self
            .0
            .prepare_cached("SELECT path FROM files ORDER BY path")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query");
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .expect("rows")
            .len()
    }
    fn delete(&self, i: usize) {
        self.0
            .prepare_cached("DELETE FROM files WHERE path = ?1")
            .expect("prepare")
            .execute([&self.1[i]])
            .expect("delete");
    }
    fn save_big(&self, data: &[u8]) {
        self.put("big/value", data);
    }
    fn load_big(&self) -> usize {
        self.get("big/value")
    }
}

type Make = Box<dyn Fn() -> (Box<dyn Kv>, Option<tempfile::TempDir>)>;

fn contenders() -> Vec<(&'static str, &'static str, Make)> {
    let disk = || {
        tempfile::tempdir_in(
            std::env::var_os("MEMORY_FS_BENCH_DIR")
                .unwrap_or_else(|| env!("CARGO_TARGET_TMPDIR").into()),
        )
        .expect("temp dir")
    };
    vec![
        (
            "memory",
            "memory-fs-storage-memory",
            Box::new(|| {
                (
                    Box::new(Provider::new(MemoryStorage::new())) as Box<dyn Kv>,
                    None,
                )
            }),
        ),
        (
            "memory",
            "object_store-InMemory",
            Box::new(|| {
                (
                    Box::new(ObjStore::new(object_store::memory::InMemory::new())) as Box<dyn Kv>,
                    None,
                )
            }),
        ),
        (
            "memory",
            "vfs-MemoryFS",
            Box::new(|| (Box::new(Vfs(vfs::MemoryFS::new())) as Box<dyn Kv>, None)),
        ),
        (
            "disk",
            "memory-fs-storage-disk",
            Box::new(move || {
                let d = disk();
                let s = DiskStorage::with_config(DiskConfig {
                    fsync: false,
                    ..DiskConfig::new(d.path())
                })
                .expect("open");
                (Box::new(Provider::new(s)) as Box<dyn Kv>, Some(d))
            }),
        ),
        (
            "disk",
            "std-fs",
            Box::new(move || {
                let d = disk();
                (
                    Box::new(RawFs(d.path().to_path_buf())) as Box<dyn Kv>,
                    Some(d),
                )
            }),
        ),
        (
            "disk",
            "object_store-LocalFileSystem",
            Box::new(move || {
                let d = disk();
                let s =
                    object_store::local::LocalFileSystem::new_with_prefix(d.path()).expect("local");
                (Box::new(ObjStore::new(s)) as Box<dyn Kv>, Some(d))
            }),
        ),
        (
            "sqlite",
            "memory-fs-storage-sqlite",
            Box::new(move || {
                let d = disk();
                let s = SqliteStorage::with_config(
                    SqliteConfig::file(d.path().join("s.db")).synchronous_normal(),
                )
                .expect("open");
                (Box::new(Provider::new(s)) as Box<dyn Kv>, Some(d))
            }),
        ),
        (
            "sqlite",
            "rusqlite-raw",
            Box::new(move || {
                let d = disk();
                (
                    Box::new(RawSqlite::new(&d.path().join("s.db"))) as Box<dyn Kv>,
                    Some(d),
                )
            }),
        ),
    ]
}

fn filled(make: &Make) -> (Box<dyn Kv>, Option<tempfile::TempDir>) {
    let (kv, guard) = make();
    let data = vec![7u8; SMALL];
    for i in 0..N {
        kv.save(i, &data);
    }
    (kv, guard)
}

fn small(c: &mut Criterion) {
    let data = vec![7u8; SMALL];
    for (family, name, make) in contenders() {
        let mut g = c.benchmark_group(format!("storage_{family}"));
        g.throughput(Throughput::Elements(N as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        g.bench_function(format!("save_1KiB/{name}"), |b| {
            b.iter_batched(
                &make,
                |(kv, guard)| {
                    for i in 0..N {
                        kv.save(i, &data);
                    }
                    (kv, guard)
                },
                BatchSize::PerIteration,
            );
        });
        let (kv, _guard) = filled(&make);
        g.bench_function(format!("load/{name}"), |b| {
            b.iter(|| (0..N).map(|i| kv.load(i)).sum::<usize>())
        });
        g.bench_function(format!("exists/{name}"), |b| {
            b.iter(|| (0..N).filter(|i| kv.exists(*i)).count())
        });
        g.bench_function(format!("list/{name}"), |b| b.iter(|| black_box(kv.list())));
        drop((kv, _guard));
        g.bench_function(format!("delete/{name}"), |b| {
            b.iter_batched(
                || filled(&make),
                |(kv, guard)| {
                    for i in 0..N {
                        kv.delete(i);
                    }
                    (kv, guard)
                },
                BatchSize::PerIteration,
            );
        });
        g.finish();
    }
}

fn big(c: &mut Criterion) {
    let data: Vec<u8> = (0..BIG).map(|i| i as u8).collect();
    for (family, name, make) in contenders() {
        let mut g = c.benchmark_group(format!("storage_{family}_64MiB"));
        g.throughput(Throughput::Bytes(BIG as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        let (kv, _guard) = make();
        g.bench_function(format!("save/{name}"), |b| b.iter(|| kv.save_big(&data)));
        g.bench_function(format!("load/{name}"), |b| {
            b.iter(|| black_box(kv.load_big()))
        });
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    small(&mut c);
    big(&mut c);
    c.final_summary();
}

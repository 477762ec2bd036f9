//! The POSIX core side by side with the `vfs` crate's `MemoryFS` and `std::fs` on tmpfs.
//!
//! Workloads: 10,000 files of 1 KiB under 100 directories (create+write+close, read,
//! stat, readdir of every directory, unlink) and one 64 MiB file written and read back
//! in 1 MiB chunks. Before the timings, a counting allocator measures the heap each
//! backend spends per small file beyond its content.
//!
//! Run: `cargo bench -p memory-fs-posix --bench posix`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use memory_fs_posix::{MemoryFileSystem, OpenFlags};
use vfs::FileSystem;

/// Counts live heap bytes so the memory cost per file can be reported.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const DIRS: usize = 100;
const FILES: usize = 10_000;
const SMALL: usize = 1024;
const BIG_CHUNK: usize = 1 << 20;
const BIG_CHUNKS: usize = 64;

/// One filesystem under test.
trait Backend {
    fn mkdir(&self, path: &str);
    fn create_write(&self, path: &str, data: &[u8]);
    fn read(&self, path: &str, buf: &mut [u8]) -> usize;
    fn stat(&self, path: &str) -> u64;
    fn readdir(&self, path: &str) -> usize;
    fn unlink(&self, path: &str);
    fn write_big(&self, path: &str, chunk: &[u8], chunks: usize);
    fn read_big(&self, path: &str, buf: &mut [u8]) -> usize;
}

struct Core(MemoryFileSystem);

impl Backend for Core {
    fn mkdir(&self, path: &str) {
        self.0.mkdir(path, 0o755).expect("mkdir");
    }
    fn create_write(&self, path: &str, data: &[u8]) {
        let fd = self
            .0
            .open(
                path,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNC,
                0o644,
            )
            .expect("open");
        self.0.write(fd, data).expect("write");
        self.0.close(fd).expect("close");
    }
    fn read(&self, path: &str, buf: &mut [u8]) -> usize {
        let fd = self.0.open(path, OpenFlags::READ, 0).expect("open");
        let n = self.0.read(fd, buf).expect("read");
        self.0.close(fd).expect("close");
        n
    }
    fn stat(&self, path: &str) -> u64 {
        self.0.stat(path).expect("stat").size
    }
    fn readdir(&self, path: &str) -> usize {
        self.0.readdir(path).expect("readdir").len()
    }
    fn unlink(&self, path: &str) {
        self.0.unlink(path).expect("unlink");
    }
    fn write_big(&self, path: &str, chunk: &[u8], chunks: usize) {
        let mut f = self
            .0
            .open_file(
                path,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNC,
                0o644,
            )
            .expect("open");
        for _ in 0..chunks {
            f.write_all(chunk).expect("write");
        }
    }
    fn read_big(&self, path: &str, buf: &mut [u8]) -> usize {
        let mut f = self.0.open_file(path, OpenFlags::READ, 0).expect("open");
        let mut total = 0;
        loop {
            match f.read(buf).expect("read") {
                0 => return total,
                n => total += n,
            }
        }
    }
}

struct Vfs(vfs::MemoryFS);

impl Backend for Vfs {
    fn mkdir(&self, path: &str) {
        self.0.create_dir(path).expect("mkdir");
    }
    fn create_write(&self, path: &str, data: &[u8]) {
        let mut f = self.0.create_file(path).expect("create");
        f.write_all(data).expect("write");
    }
    fn read(&self, path: &str, buf: &mut [u8]) -> usize {
        let mut f = self.0.open_file(path).expect("open");
        f.read(buf).expect("read")
    }
    fn stat(&self, path: &str) -> u64 {
        self.0.metadata(path).expect("stat").len
    }
    fn readdir(&self, path: &str) -> usize {
        self.0.read_dir(path).expect("readdir").count()
    }
    fn unlink(&self, path: &str) {
        self.0.remove_file(path).expect("unlink");
    }
    fn write_big(&self, path: &str, chunk: &[u8], chunks: usize) {
        let mut f = self.0.create_file(path).expect("create");
        for _ in 0..chunks {
            f.write_all(chunk).expect("write");
        }
    }
    fn read_big(&self, path: &str, buf: &mut [u8]) -> usize {
        let mut f = self.0.open_file(path).expect("open");
        let mut total = 0;
        loop {
            match f.read(buf).expect("read") {
                0 => return total,
                n => total += n,
            }
        }
    }
}

/// `std::fs` under a fresh directory on tmpfs.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new() -> Option<Self> {
        let shm = std::path::Path::new("/dev/shm");
        if !shm.is_dir() {
            return None;
        }
        static N: AtomicIsize = AtomicIsize::new(0);
        let dir = shm.join(format!(
            "memory-fs-bench-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).ok()?;
        Some(Self(dir))
    }
    fn p(&self, path: &str) -> PathBuf {
        self.0.join(path.trim_start_matches('/'))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Backend for Tmpfs {
    fn mkdir(&self, path: &str) {
        std::fs::create_dir(self.p(path)).expect("mkdir");
    }
    fn create_write(&self, path: &str, data: &[u8]) {
        let mut f = std::fs::File::create(self.p(path)).expect("create");
        f.write_all(data).expect("write");
    }
    fn read(&self, path: &str, buf: &mut [u8]) -> usize {
        let mut f = std::fs::File::open(self.p(path)).expect("open");
        f.read(buf).expect("read")
    }
    fn stat(&self, path: &str) -> u64 {
        std::fs::metadata(self.p(path)).expect("stat").len()
    }
    fn readdir(&self, path: &str) -> usize {
        std::fs::read_dir(self.p(path)).expect("readdir").count()
    }
    fn unlink(&self, path: &str) {
        std::fs::remove_file(self.p(path)).expect("unlink");
    }
    fn write_big(&self, path: &str, chunk: &[u8], chunks: usize) {
        let mut f = std::fs::File::create(self.p(path)).expect("create");
        for _ in 0..chunks {
            f.write_all(chunk).expect("write");
        }
    }
    fn read_big(&self, path: &str, buf: &mut [u8]) -> usize {
        let mut f = std::fs::File::open(self.p(path)).expect("open");
        let mut total = 0;
        loop {
            match f.read(buf).expect("read") {
                0 => return total,
                n => total += n,
            }
        }
    }
}

fn dir(i: usize) -> String {
    format!("/d{i}")
}

fn file(i: usize) -> String {
    format!("/d{}/f{}", i % DIRS, i)
}

/// Every file path, built once so the timed loops measure the filesystem, not `format!`.
fn file_paths() -> Vec<String> {
    (0..FILES).map(file).collect()
}

fn dir_paths() -> Vec<String> {
    (0..DIRS).map(dir).collect()
}

fn with_dirs(b: Box<dyn Backend>) -> Box<dyn Backend> {
    for d in 0..DIRS {
        b.mkdir(&dir(d));
    }
    b
}

fn populated(b: Box<dyn Backend>) -> Box<dyn Backend> {
    let b = with_dirs(b);
    let data = vec![7u8; SMALL];
    for i in 0..FILES {
        b.create_write(&file(i), &data);
    }
    b
}

type Maker = (&'static str, fn() -> Option<Box<dyn Backend>>);

fn makers() -> Vec<Maker> {
    vec![
        ("memory-fs-posix", || {
            Some(Box::new(Core(MemoryFileSystem::new())))
        }),
        ("vfs-MemoryFS", || Some(Box::new(Vfs(vfs::MemoryFS::new())))),
        ("std-fs-tmpfs", || {
            Tmpfs::new().map(|t| Box::new(t) as Box<dyn Backend>)
        }),
    ]
}

/// Heap bytes per 1 KiB file beyond its content, for the in-memory backends.
fn memory_report() {
    for (name, make) in makers().into_iter().take(2) {
        let Some(b) = make() else { continue };
        let b = with_dirs(b);
        let before = LIVE.load(Ordering::Relaxed);
        let data = vec![7u8; SMALL];
        for i in 0..FILES {
            b.create_write(&file(i), &data);
        }
        let after = LIVE.load(Ordering::Relaxed);
        let per_file = (after - before) as f64 / FILES as f64 - SMALL as f64;
        println!("memory per file beyond content: {name}: {per_file:.0} bytes");
        drop(b);
    }
}

fn small_files(c: &mut Criterion) {
    let mut g = c.benchmark_group("small_files");
    g.throughput(Throughput::Elements(FILES as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    let data = vec![7u8; SMALL];
    let files = file_paths();
    let dirs = dir_paths();
    for (name, make) in makers() {
        if make().is_none() {
            eprintln!("!! skipped {name}: /dev/shm (tmpfs) is not available");
            continue;
        }
        let fresh = move || with_dirs(make().expect("backend"));
        g.bench_function(format!("create_write_close/{name}"), |bench| {
            bench.iter_batched(
                fresh,
                |b| {
                    for f in &files {
                        b.create_write(f, &data);
                    }
                    b
                },
                BatchSize::PerIteration,
            );
        });
        let full = populated(make().expect("backend"));
        let mut buf = vec![0u8; SMALL];
        g.bench_function(format!("read/{name}"), |bench| {
            bench.iter(|| {
                for f in &files {
                    black_box(full.read(f, &mut buf));
                }
            });
        });
        g.bench_function(format!("stat/{name}"), |bench| {
            bench.iter(|| {
                for f in &files {
                    black_box(full.stat(f));
                }
            });
        });
        g.bench_function(format!("readdir_all/{name}"), |bench| {
            bench.iter(|| {
                for d in &dirs {
                    black_box(full.readdir(d));
                }
            });
        });
        drop(full);
        g.bench_function(format!("unlink/{name}"), |bench| {
            bench.iter_batched(
                || populated(make().expect("backend")),
                |b| {
                    for f in &files {
                        b.unlink(f);
                    }
                    b
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn big_file(c: &mut Criterion) {
    let mut g = c.benchmark_group("big_file_64MiB");
    g.throughput(Throughput::Bytes((BIG_CHUNK * BIG_CHUNKS) as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    let chunk = vec![3u8; BIG_CHUNK];
    for (name, make) in makers() {
        let Some(b) = make() else { continue };
        g.bench_function(format!("write_1MiB_chunks/{name}"), |bench| {
            bench.iter(|| b.write_big("/big", &chunk, BIG_CHUNKS));
        });
        let mut buf = vec![0u8; BIG_CHUNK];
        g.bench_function(format!("read_1MiB_chunks/{name}"), |bench| {
            bench.iter(|| black_box(b.read_big("/big", &mut buf)));
        });
    }
    g.finish();
}

fn main() {
    memory_report();
    let mut c = Criterion::default().configure_from_args();
    small_files(&mut c);
    big_file(&mut c);
    c.final_summary();
}

//! 1 GiB streamed in 64 KiB chunks: through the core's `File`, through the FUSE mount
//! of the core with `std::fs` (in both permission modes), and through `std::fs` on
//! tmpfs (`/dev/shm`), side by side in one run so the ratios compare like with like.
//!
//! Before the timings, one untimed pass per mount prints the requests it cost the
//! kernel (`Mount::requests`), so the ratios can be read beside the round trips.
//!
//! Run: `cargo bench -p memory-fs-fuse --bench stream` (as root for the FUSE side;
//! without FUSE that side is skipped with a notice).

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use memory_fs_fuse::{
    Mount, MountOptions, PermissionChecks, RequestCounts, fuse_usable, spawn_mount,
};
use memory_fs_posix::{MemoryFileSystem, OpenFlags};

const CHUNK: usize = 64 * 1024;
const TOTAL: usize = 1 << 30;

fn chunk() -> Vec<u8> {
    (0..CHUNK).map(|i| (i % 251) as u8).collect()
}

fn write_std(path: &Path, data: &[u8]) {
    let mut f = std::fs::File::create(path).expect("create");
    for _ in 0..TOTAL / CHUNK {
        f.write_all(data).expect("write");
    }
}

fn read_std(path: &Path, buf: &mut [u8]) -> usize {
    let mut f = std::fs::File::open(path).expect("open");
    let mut total = 0;
    loop {
        let n = f.read(buf).expect("read");
        if n == 0 {
            return total;
        }
        total += n;
    }
}

fn write_core(fs: &MemoryFileSystem, path: &str, data: &[u8]) {
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNC;
    let mut f = fs.open_file(path, flags, 0o644).expect("open");
    for _ in 0..TOTAL / CHUNK {
        f.write_all(data).expect("write");
    }
}

fn read_core(fs: &MemoryFileSystem, path: &str, buf: &mut [u8]) -> usize {
    let mut f = fs.open_file(path, OpenFlags::READ, 0).expect("open");
    let mut total = 0;
    loop {
        let n = f.read(buf).expect("read");
        if n == 0 {
            return total;
        }
        total += n;
    }
}

/// FUSE mounts of fresh cores in temporary directories, one per permission mode, if
/// FUSE is usable here.
fn fuse_sides() -> Vec<(&'static str, Mount, tempfile::TempDir)> {
    if let Err(why) = fuse_usable() {
        eprintln!("\n!!! SKIPPED the FUSE side of the stream benchmark: {why}\n");
        return Vec::new();
    }
    [
        ("fuse-kernel-checks", PermissionChecks::Kernel),
        ("fuse-core-checks", PermissionChecks::Core),
    ]
    .into_iter()
    .map(|(name, permissions)| {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = MountOptions {
            permissions,
            ..MountOptions::default()
        };
        let mount = spawn_mount(MemoryFileSystem::new(), dir.path(), &options).expect("mount");
        (name, mount, dir)
    })
    .collect()
}

/// Request counts as one line (`kind count, …`, or `none`).
fn describe(counts: &RequestCounts) -> String {
    if counts.total() == 0 {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One untimed write and one read through each mount, with the requests each cost.
fn report_requests(fuse: &[(&str, Mount, tempfile::TempDir)], data: &[u8], buf: &mut [u8]) {
    for (name, mount, _) in fuse {
        let path = mount.mountpoint().join("big");
        let before = mount.requests();
        write_std(&path, data);
        let written = mount.requests();
        assert_eq!(read_std(&path, buf), TOTAL);
        let read = mount.requests();
        println!(
            "requests for one pass, {name}: write 1 GiB: {}; read it back: {}",
            describe(&written.since(&before)),
            describe(&read.since(&written))
        );
        let _ = std::fs::remove_file(&path);
    }
}

fn bench(c: &mut Criterion) {
    let data = chunk();
    let mut buf = vec![0u8; CHUNK];
    let core = MemoryFileSystem::new();
    let fuse = fuse_sides();
    report_requests(&fuse, &data, &mut buf);
    let shm = Path::new("/dev/shm");
    let tmpfs: Option<PathBuf> = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).expect("tempdir").keep());

    let mut group = c.benchmark_group("stream_1GiB_64KiB");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(TOTAL as u64));

    group.bench_function("write/core-File", |b| {
        b.iter(|| write_core(&core, "/big", &data));
    });
    group.bench_function("read/core-File", |b| {
        b.iter(|| black_box(read_core(&core, "/big", &mut buf)));
    });
    for (name, mount, _) in &fuse {
        let path = mount.mountpoint().join("big");
        group.bench_function(format!("write/{name}"), |b| {
            b.iter(|| write_std(&path, &data))
        });
        group.bench_function(format!("read/{name}"), |b| {
            b.iter(|| black_box(read_std(&path, &mut buf)));
        });
        // The next mount's file should not compete with this one for memory.
        let _ = std::fs::remove_file(&path);
    }
    if let Some(dir) = &tmpfs {
        let path = dir.join("big");
        group.bench_function("write/tmpfs-std-fs", |b| b.iter(|| write_std(&path, &data)));
        group.bench_function("read/tmpfs-std-fs", |b| {
            b.iter(|| black_box(read_std(&path, &mut buf)));
        });
        let _ = std::fs::remove_dir_all(dir);
    }
    group.finish();
    for (_, mount, _dir) in fuse {
        let _ = mount.unmount();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

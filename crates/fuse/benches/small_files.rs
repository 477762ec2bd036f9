//! 10,000 files of 1 KiB under 100 directories, created, written and closed, then
//! each one stat'ed: through the FUSE mount of the core in both permission modes, and
//! through `std::fs` on tmpfs (`/dev/shm`), side by side in one run.
//!
//! Before the timings, one untimed pass per mount prints the requests it cost the
//! kernel (`Mount::requests`): the creation, a first stat of every file and a second.
//!
//! Run: `cargo bench -p memory-fs-fuse --bench small_files` (as root for the FUSE
//! side; without FUSE that side is skipped with a notice).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use memory_fs_fuse::{
    Mount, MountOptions, PermissionChecks, RequestCounts, fuse_usable, spawn_mount,
};
use memory_fs_posix::MemoryFileSystem;

const DIRS: usize = 100;
const FILES: usize = 10_000;
const SMALL: usize = 1024;

/// A directory of `DIRS` empty directories, removed when dropped (outside the timing:
/// criterion drops what a batched routine returns after measuring).
struct Tree(PathBuf);

impl Tree {
    fn new(base: &Path) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = base.join(format!("run-{}", N.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir(&root).expect("mkdir");
        for d in 0..DIRS {
            std::fs::create_dir(root.join(format!("d{d}"))).expect("mkdir");
        }
        Self(root)
    }

    fn files(&self) -> Vec<PathBuf> {
        (0..FILES)
            .map(|i| self.0.join(format!("d{}/f{i}", i % DIRS)))
            .collect()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn create_all(files: &[PathBuf], data: &[u8]) {
    for f in files {
        std::fs::write(f, data).expect("create, write, close");
    }
}

/// The FUSE mounts, one per permission mode, if FUSE is usable here.
fn mounts() -> Vec<(&'static str, Mount, tempfile::TempDir)> {
    if let Err(why) = fuse_usable() {
        eprintln!("\n!!! SKIPPED the FUSE side of the small-files benchmark: {why}\n");
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

fn stat_all(files: &[PathBuf]) {
    for f in files {
        black_box(std::fs::metadata(f).expect("stat").len());
    }
}

/// One untimed pass through each mount, with the requests each step cost.
fn report_requests(mounts: &[(&str, Mount, tempfile::TempDir)], data: &[u8]) {
    for (name, mount, _) in mounts {
        let tree = Tree::new(mount.mountpoint());
        let files = tree.files();
        let start = mount.requests();
        create_all(&files, data);
        let created = mount.requests();
        stat_all(&files);
        let first = mount.requests();
        stat_all(&files);
        let second = mount.requests();
        println!(
            "requests for {FILES} files, {name}: create+write+close: {}; stat: {}; stat again: {}",
            describe(&created.since(&start)),
            describe(&first.since(&created)),
            describe(&second.since(&first))
        );
    }
}

fn bench(c: &mut Criterion) {
    let data = vec![7u8; SMALL];
    let mounts = mounts();
    report_requests(&mounts, &data);
    let shm = tempfile::tempdir_in("/dev/shm").ok();
    let mut sides: Vec<(&str, PathBuf)> = mounts
        .iter()
        .map(|(name, mount, _)| (*name, mount.mountpoint().to_path_buf()))
        .collect();
    if let Some(dir) = &shm {
        sides.push(("tmpfs-std-fs", dir.path().to_path_buf()));
    }

    let mut group = c.benchmark_group("small_files_10000x1KiB");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(FILES as u64));
    for (name, base) in &sides {
        group.bench_function(format!("create_write_close/{name}"), |b| {
            b.iter_batched(
                || {
                    let tree = Tree::new(base);
                    let files = tree.files();
                    (tree, files)
                },
                |(tree, files)| {
                    create_all(&files, &data);
                    tree
                },
                BatchSize::PerIteration,
            );
        });
        let tree = Tree::new(base);
        let files = tree.files();
        create_all(&files, &data);
        group.bench_function(format!("stat/{name}"), |b| b.iter(|| stat_all(&files)));
        drop(tree);
    }
    group.finish();
    for (_, mount, _dir) in mounts {
        let _ = mount.unmount();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

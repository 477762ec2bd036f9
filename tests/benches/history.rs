//! Version history: the text diff of two 1 MiB versions with 1% of their lines
//! changed (`File::diff`, which reads and checks both versions, and the diff alone)
//! beside `diff -u` run as a process on the same two files; and `File::verify_chain`
//! over 10,000 versions of one file on SQLite.
//!
//! `cargo bench -p memory-fs-tests --bench history`. The SQLite store is built once
//! (10,000 saves, a few minutes) and kept in `target/bench-data/history-10k.db` for
//! later runs and for timing `memory-fs verify --chain` on it as a whole process (see
//! `docs/benchmarks.md`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use memory_fs::{Content, File, FileId, FileSpec, FileType, FixedClock, MemoryFs, PathHandler};

const MIB: usize = 1 << 20;
const VERSIONS: u32 = 10_000;

/// A text of about 1 MiB: numbered lines of about 64 bytes.
fn lines() -> Vec<String> {
    let mut out = Vec::new();
    let mut size = 0;
    let mut i = 0u32;
    while size < MIB {
        let line = format!("{i:06} the quick brown fox jumps over the lazy dog, line {i:06}.\n");
        size += line.len();
        out.push(line);
        i += 1;
    }
    out
}

/// The two versions: every hundredth line changed in the second.
fn versions() -> (String, String) {
    let old = lines();
    let new: Vec<String> = old
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i % 100 == 50 {
                format!("{i:06} CHANGED: the lazy dog jumps over the quick brown fox.\n")
            } else {
                l.clone()
            }
        })
        .collect();
    (old.concat(), new.concat())
}

fn text_diff(c: &mut Criterion) {
    let (old, new) = versions();
    let changed = old.lines().zip(new.lines()).filter(|(a, b)| a != b).count();
    eprintln!(
        "text diff: {} and {} bytes, {} lines, {changed} changed",
        old.len(),
        new.len(),
        old.lines().count()
    );
    let fs = MemoryFs::in_memory();
    let spec = FileSpec::new(FileId::new("big").expect("id"), FileType::text())
        .handlers([PathHandler::versioned()]);
    fs.save().text(spec.clone(), &old).expect("save");
    fs.save().text(spec, &new).expect("save");
    let file = fs.file("big").expect("file");

    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("v1.txt"), dir.path().join("v2.txt"));
    std::fs::write(&a, &old).expect("write");
    std::fs::write(&b, &new).expect("write");

    // The same diff both ways: hunks of `diff -u` and of ours agree line for line.
    let memory_fs::Diff::Text { unified, .. } = file.diff(1, Some(2)).expect("diff") else {
        panic!("a text file diffs as text");
    };
    let theirs = Command::new("diff")
        .arg("-u")
        .arg(&a)
        .arg(&b)
        .output()
        .expect("diff -u");
    let hunks = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        hunks(&unified),
        hunks(&String::from_utf8_lossy(&theirs.stdout)),
        "the same hunks as diff -u"
    );

    let mut group = c.benchmark_group("history/text-diff-1MiB-1pct");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("File::diff (read, check, decode, diff)", |bench| {
        bench.iter(|| file.diff(1, Some(2)).expect("diff"));
    });
    group.bench_function("similar unified diff alone", |bench| {
        bench.iter(|| {
            similar::TextDiff::configure()
                .algorithm(similar::Algorithm::Myers)
                .diff_lines(&old, &new)
                .unified_diff()
                .context_radius(3)
                .header("v1", "v2")
                .to_string()
        });
    });
    group.bench_function("diff -u (process)", |bench| {
        bench.iter(|| {
            let out = Command::new("diff")
                .arg("-u")
                .arg(&a)
                .arg(&b)
                .output()
                .expect("diff -u");
            assert_eq!(out.status.code(), Some(1), "the files differ");
            out.stdout.len()
        });
    });
    group.finish();
}

/// The SQLite store with one file of 10,000 versions, built on first use (into a
/// temporary name, renamed when complete).
fn chain_store() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let path = dir.join("history-10k.db");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("bench-data directory");
    let building = dir.join("history-10k.db.building");
    for stale in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", building.display()));
    }
    eprintln!("saving {VERSIONS} versions in {} …", path.display());
    {
        let fs = MemoryFs::open(&format!("sqlite://{}", building.display())).expect("open");
        let spec = FileSpec::new(FileId::new("journal").expect("id"), FileType::json())
            .handlers([PathHandler::versioned()]);
        let mut file: Option<File> = None;
        for v in 1..=VERSIONS {
            let doc = serde_json::json!({"version": v, "entry": format!("entry number {v}")});
            let clock = Arc::new(FixedClock(1_795_543_200_000 + i64::from(v)));
            file = Some(match file {
                // Each save planned on the record the last one left (no re-read).
                Some(f) => f
                    .with_clock(clock)
                    .resave(Content::Json(&doc))
                    .expect("save"),
                None => {
                    File::save_with_clock(fs.storage().clone(), clock, &spec, Content::Json(&doc))
                        .expect("save")
                }
            });
        }
    }
    for (from, to) in [("", ""), ("-wal", "-wal"), ("-shm", "-shm")] {
        let from = format!("{}{from}", building.display());
        if Path::new(&from).exists() {
            std::fs::rename(&from, format!("{}{to}", path.display())).expect("rename");
        }
    }
    path
}

fn verify_chain(c: &mut Criterion) {
    let path = chain_store();
    let fs = MemoryFs::open(&format!("sqlite://{}", path.display())).expect("open");
    let report = fs.verify_chains().expect("verify");
    assert_eq!(
        (report.versions, report.problems.len()),
        (VERSIONS as usize, 0),
        "a sound chain of {VERSIONS} versions"
    );
    let mut group = c.benchmark_group("history/verify-chain-10k-sqlite");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("MemoryFs::verify_chains", |bench| {
        bench.iter(|| fs.verify_chains().expect("verify"));
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    text_diff(&mut c);
    verify_chain(&mut c);
    c.final_summary();
}

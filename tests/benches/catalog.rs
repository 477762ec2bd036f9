//! The store as a whole at 100,000 logical files on SQLite: a file found by id and
//! loaded, and queries by tag answered from the index postings, beside raw SQL on the
//! same database file as the yardstick (the least any lookup there can cost).
//!
//! `cargo bench -p memory-fs-tests --bench catalog`. The library is built once (about
//! a minute) and kept in `target/bench-data/catalog-100k.db` for later runs and for
//! timing the CLI on it as a whole process (see `docs/benchmarks.md`). Each file is a
//! one-folder JSON file `f-NNNNNN` tagged `t<N mod 100>` (1,000 files a tag), and every
//! ten-thousandth also `rare` (10 files).

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;
use memory_fs::{Content, FileId, FileSpec, FileType, MemoryFs, PathHandler, Query};

const FILES: usize = 100_000;
const BATCH: usize = 1_000;

fn spec(i: usize) -> FileSpec {
    FileSpec::new(
        FileId::new(format!("f-{i:06}")).expect("id"),
        FileType::json(),
    )
    .handlers([PathHandler::latest()])
}

/// The database, built on first use (into a temporary name, renamed when complete, so
/// an interrupted build is never reused).
fn library() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let path = dir.join("catalog-100k.db");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("bench-data directory");
    let building = dir.join("catalog-100k.db.building");
    for stale in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", building.display()));
    }
    eprintln!("building {FILES} files in {} …", path.display());
    {
        let fs = MemoryFs::open(&format!("sqlite://{}", building.display())).expect("open");
        for start in (0..FILES).step_by(BATCH) {
            fs.transaction(|tx| {
                for i in start..start + BATCH {
                    let doc = serde_json::json!({"n": i, "title": format!("document {i}")});
                    let spec = spec(i);
                    tx.save(&spec, Content::Json(&doc))?;
                    let mut tags = vec![format!("t{}", i % 100)];
                    if i % 10_000 == 7 {
                        tags.push("rare".to_owned());
                    }
                    tx.add_tags(spec.id(), tags);
                }
                Ok(())
            })
            .expect("save a batch");
        }
    }
    // Checkpointed into the main file when the last connection closed.
    std::fs::rename(&building, &path).expect("rename the finished library");
    path
}

fn catalog(c: &mut Criterion) {
    let path = library();
    let fs = MemoryFs::open(&format!("sqlite://{}", path.display())).expect("open");
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    // The provider reads through a memory map; so does the yardstick.
    raw.execute_batch("PRAGMA mmap_size = 268435456;")
        .expect("mmap");
    let mut g = c.benchmark_group("catalog_sqlite_100k");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mut i = 0usize;
    g.bench_function("memory-fs/load by id", |b| {
        b.iter(|| {
            i = (i + 7919) % FILES;
            let file = fs.file(&format!("f-{i:06}")).expect("file");
            file.load_json().expect("load").expect("content")
        });
    });
    let mut stmt = raw
        .prepare_cached("SELECT data FROM files WHERE path = ?1")
        .expect("prepare");
    let mut j = 0usize;
    g.bench_function("raw SQL/one row by key", |b| {
        b.iter(|| {
            j = (j + 7919) % FILES;
            let key = format!("latest/f-{j:06}.json");
            let data: Vec<u8> = stmt.query_row([&key], |r| r.get(0)).expect("row");
            data
        });
    });

    for (name, tag, expected) in [("rare", "rare", 10), ("t42", "t42", 1_000)] {
        let query = Query::new().tag(tag);
        g.bench_function(
            format!("memory-fs/query tag {name} ({expected} files)"),
            |b| {
                b.iter(|| {
                    let listing = fs.query(&query).expect("query");
                    assert_eq!(listing.files.len(), expected);
                    listing
                });
            },
        );
    }
    let mut postings = raw
        .prepare_cached("SELECT path FROM files WHERE path >= ?1 AND path < ?2")
        .expect("prepare");
    g.bench_function("raw SQL/key range of 1,000 postings", |b| {
        b.iter(|| {
            let rows: Vec<String> = postings
                .query_map(
                    [".memory-fs/index/tag/=t42/", ".memory-fs/index/tag/=t420"],
                    |r| r.get(0),
                )
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert_eq!(rows.len(), 1_000);
            rows
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    catalog(&mut c);
    c.final_summary();
}

//! What an operation on one logical file costs, counted, not timed: requests to a real
//! S3 server (the in-process one counts every HTTP request it serves) and calls into
//! every other provider. The counts are the same in a store of 10 files and in a store
//! of hundreds or thousands: an operation on one file does not read the store.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use memory_fs::{Content, FileId, FileSpec, FileType, MemoryFs, PathHandler, Query, Storage};
use memory_fs_storage::testkit::{Counting, Counts};
use memory_fs_storage_s3::S3Storage;
use memory_fs_storage_s3::testing::TestServer;

fn spec(id: &str) -> FileSpec {
    FileSpec::new(FileId::new(id).expect("id"), FileType::text()).handlers([PathHandler::latest()])
}

/// `n` one-folder files, made in memory and written into `fs` in one batch of keys
/// (the keys, records and postings are exactly what saves write there; postings only
/// where the store keeps them).
fn fill(fs: &MemoryFs, n: usize) {
    let source = MemoryFs::in_memory();
    source
        .transaction(|tx| {
            for i in 0..n {
                let text = format!("file {i}\n");
                tx.save(&spec(&format!("f-{i:05}")), Content::Text(&text))?;
            }
            Ok(())
        })
        .expect("fill");
    let postings = fs.storage().capabilities().atomic_batch;
    let values: Vec<(memory_fs::SafePath, Vec<u8>)> = source
        .keys(None, true)
        .expect("keys")
        .into_iter()
        .filter(|k| postings || !k.as_str().starts_with(memory_fs_file::index::POSTINGS))
        .map(|k| {
            let v = source
                .storage()
                .file_bytes(&k)
                .expect("read")
                .expect("there");
            (k, v)
        })
        .collect();
    let items: Vec<(memory_fs::SafePath, &[u8])> = values
        .iter()
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect();
    fs.storage().files_save(&items).expect("fill the store");
}

/// The operations measured, each on its own file of the store.
const OPS: [(&str, &str); 8] = [
    ("load", "f-00001"),
    ("resave", "f-00009"),
    ("info", "f-00002"),
    ("versions", "f-00003"),
    ("save-existing", "f-00004"),
    ("save-new", "brand-new"),
    ("tag", "f-00005"),
    ("rm", "f-00006"),
];

fn op(fs: &MemoryFs, name: &str, target: &str) {
    match name {
        "load" => {
            fs.file(target)
                .expect("file")
                .load_text()
                .expect("load")
                .expect("content");
        }
        "info" => {
            fs.file(target).expect("file").info();
        }
        "versions" => {
            fs.file(target).expect("file").versions();
        }
        "resave" => {
            // Opening the file (as `info` does), then a save through it: its record is
            // not read again.
            let file = fs.file(target).expect("file");
            file.resave(Content::Text("again\n")).expect("resave");
        }
        "save-existing" => {
            fs.save().text(spec(target), "changed\n").expect("save");
        }
        "save-new" => {
            fs.save().text(spec(target), "new\n").expect("save");
        }
        "tag" => {
            fs.file(target).expect("file").add_tags(["t"]).expect("tag");
        }
        "rm" => {
            fs.delete().id(target).expect("rm");
        }
        other => panic!("no op {other}"),
    }
}

/// The cost of each op on a store of `n` files, measured by `count` around it.
fn costs<'a, C: PartialEq + std::fmt::Debug>(
    make: &dyn Fn(usize) -> (MemoryFs, Box<dyn Fn() -> C + 'a>),
    n: usize,
) -> BTreeMap<&'static str, C> {
    let mut out = BTreeMap::new();
    let (fs, take) = make(n);
    for (name, target) in OPS {
        take();
        op(&fs, name, target);
        out.insert(name, take());
    }
    out
}

fn calls(c: &Counts) -> usize {
    c.total()
}

#[test]
fn calls_per_operation_do_not_grow_with_the_store() {
    for provider in ["memory", "disk", "sqlite"] {
        let make = |n: usize| -> (MemoryFs, Box<dyn Fn() -> usize>) {
            let store = common::store(provider);
            let counting = Arc::new(Counting::new(store.storage.clone()));
            let fs = MemoryFs::new(counting.clone());
            fill(&fs, n);
            (
                fs,
                Box::new(move || {
                    // The store (its directory) lives as long as its counter.
                    let _ = &store;
                    calls(&counting.take())
                }),
            )
        };
        let small = costs(&make, 10);
        // Every key of a disk store is a file made with fsync: a few hundred will do.
        let large = costs(&make, if provider == "disk" { 300 } else { 2000 });
        assert_eq!(small, large, "{provider}: the cost grew with the store");
        eprintln!("{provider}: storage calls per operation {small:?}");
        // By id: the record, then the content.
        assert_eq!(small["load"], 2, "{provider}");
        assert_eq!(small["info"], 1, "{provider}");
    }
}

#[test]
fn s3_requests_per_operation_do_not_grow_with_the_store() {
    let server = TestServer::start().expect("server");
    let prefix = std::sync::atomic::AtomicUsize::new(0);
    let make = |n: usize| -> (MemoryFs, Box<dyn Fn() -> u64 + '_>) {
        let p = prefix.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let storage: Arc<dyn Storage> = Arc::new(
            S3Storage::new(server.config().with_prefix(format!("costs-{p}"))).expect("s3"),
        );
        let fs = MemoryFs::new(storage);
        fill(&fs, n);
        let server = &server;
        (
            fs,
            Box::new(move || {
                let n = server.requests().total();
                server.reset_requests();
                n
            }),
        )
    };
    let small = costs(&make, 10);
    let large = costs(&make, 300);
    assert_eq!(small, large, "S3: the cost grew with the store");
    eprintln!("S3 requests per operation: {small:?}");
    assert_eq!(small["load"], 2, "GET record, GET content");
    assert_eq!(small["info"], 1, "GET record");
    assert_eq!(
        small["rm"], 4,
        "GET record, PUT intent, one bulk delete of the keys, of the record"
    );
    // A save: read the record, write the intent, the keys, the record again.
    assert_eq!(
        small["save-existing"], 5,
        "GET record, PUT intent, metadata, content, record"
    );
    assert_eq!(small["save-new"], 6, "and the new folder's config");
    assert_eq!(
        small["resave"] - small["info"],
        4,
        "through a file in hand: PUT intent, content, metadata, record"
    );
}

/// Listing an S3 store costs its listing pages and one read of the listing snapshot,
/// plus one read for each record changed since the snapshot was saved (and one write
/// to save it again) — not one read per file. `MEMORY_FS_COSTS_LS_FILES` sets the size
/// of the store (1,200 by default: two listing pages).
#[test]
fn s3_listing_reads_the_snapshot_and_only_what_changed() {
    let n: usize = std::env::var("MEMORY_FS_COSTS_LS_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1200);
    let pages = n.div_ceil(1000) as u64;
    let server = TestServer::start().expect("server");
    let storage: Arc<dyn Storage> =
        Arc::new(S3Storage::new(server.config().with_prefix("listing")).expect("s3"));
    let fs = MemoryFs::new(storage);
    fill(&fs, n);
    let take = || {
        let n = server.requests().total();
        server.reset_requests();
        n
    };
    let summary = |fs: &MemoryFs| -> Vec<(String, Option<String>)> {
        let listing = fs.query(&Query::new()).expect("list");
        assert!(listing.unreadable.is_empty());
        listing
            .files
            .iter()
            .map(|f| {
                (
                    f.id().to_string(),
                    f.metadata().map(|m| m.content_hash.clone()),
                )
            })
            .collect()
    };

    take();
    let first = summary(&fs);
    assert_eq!(first.len(), n);
    assert_eq!(
        take(),
        pages + 1 + n as u64 + 1,
        "no snapshot yet: the listing, a read of the snapshot, every record, the snapshot saved"
    );
    assert_eq!(summary(&fs), first);
    let settled = take();
    eprintln!("S3 requests to list {n} files: {settled}");
    assert_eq!(settled, pages + 1, "the listing and the snapshot");

    // A file saved by another handle since: its record is read again, and only it.
    let other = MemoryFs::new(fs.storage().clone());
    other
        .save()
        .text(spec("f-00007"), "changed\n")
        .expect("save");
    take();
    let after = summary(&fs);
    assert_eq!(
        take(),
        pages + 1 + 1 + 1,
        "the listing, the snapshot, one record, the snapshot saved"
    );
    let changed: Vec<_> = first.iter().zip(&after).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "exactly the saved file shows a change");
    assert_eq!(changed[0].0.0, "f-00007");

    // A removed file is gone from the listing, which reads no record for it.
    other.delete().id("f-00008").expect("rm");
    take();
    let after = summary(&fs);
    assert_eq!(after.len(), n - 1);
    assert!(after.iter().all(|(id, _)| id != "f-00008"));
    assert_eq!(
        take(),
        pages + 1 + 1,
        "the listing, the snapshot, the snapshot saved"
    );

    // A damaged snapshot costs reads, never a wrong answer.
    let key = memory_fs::SafePath::new(".memory-fs/catalog").expect("key");
    fs.storage()
        .file_save(&key, b"{ not a snapshot")
        .expect("damage");
    take();
    assert_eq!(summary(&fs), after);
    assert_eq!(take(), pages + 1 + (n as u64 - 1) + 1);
    assert!(fs.verify(None).expect("verify").problems.is_empty());
}

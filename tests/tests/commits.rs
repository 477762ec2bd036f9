//! Commits under fault injection: a save, an edit, a delete and a transaction of a file
//! kept in three folders (latest + temporal + versioned), with the storage failing its
//! k-th write — once (the commit sees the error) or for good (the process died there) —
//! for every k, on every provider. After each run every file reads as it was before or
//! as it is after, never a mix; after recovery the store verifies clean.

mod common;

use std::sync::Arc;

use memory_fs::{
    Catalog, Clock, Content, File, FileId, FileSpec, FileType, FixedClock, PathHandler, Storage,
};
use memory_fs_storage::testkit::{Fault, Faulty};
use serde_json::{Value, json};

/// 2026-11-24 18:00:00 UTC.
const NOW: i64 = 1_795_543_200_000;

fn clock(ms: i64) -> Arc<dyn Clock> {
    Arc::new(FixedClock(ms))
}

fn id(s: &str) -> FileId {
    FileId::new(s).expect("id")
}

fn doc() -> FileSpec {
    FileSpec::new(id("doc"), FileType::json()).handlers([
        PathHandler::latest(),
        PathHandler::temporal(),
        PathHandler::versioned(),
    ])
}

fn note(name: &str) -> FileSpec {
    FileSpec::new(id(name), FileType::text()).handlers([PathHandler::custom("notes")])
}

/// What a reader sees of one file: its content, tags, user data and versions.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    content: Vec<u8>,
    tags: Vec<String>,
    data: Value,
    versions: Vec<u32>,
    folders: Vec<String>,
}

/// Every file of interest, as a fresh reader sees it. A file that exists must load:
/// anything else (a hash mismatch, a missing content) is a torn file.
fn observe(storage: &Arc<dyn Storage>) -> Vec<(String, Option<Seen>)> {
    ["doc", "a", "b"]
        .into_iter()
        .map(|name| {
            let seen = File::open(storage.clone(), &id(name))
                .unwrap_or_else(|e| panic!("{name}: the record cannot be read: {e}"))
                .map(|f| {
                    let content = f
                        .bytes()
                        .unwrap_or_else(|e| panic!("{name} is torn: {e}"))
                        .unwrap_or_else(|| panic!("{name} is listed but has no content"));
                    let meta = f.metadata().cloned();
                    Seen {
                        content,
                        tags: meta.as_ref().map(|m| m.tags.clone()).unwrap_or_default(),
                        data: meta.map_or(Value::Null, |m| Value::Object(m.data)),
                        versions: f.versions(),
                        folders: f.info().folders,
                    }
                });
            (name.to_owned(), seen)
        })
        .collect()
}

/// The store every run starts from: `doc` saved twice, notes `a` and `b`.
fn setup(storage: &Arc<dyn Storage>) {
    for v in 1..=2 {
        File::save_with_clock(
            storage.clone(),
            clock(NOW + v),
            &doc(),
            Content::Json(&json!({ "v": v })),
        )
        .expect("setup doc");
    }
    File::open(storage.clone(), &id("doc"))
        .expect("open")
        .expect("doc")
        .add_tags(["start"])
        .expect("tag");
    for name in ["a", "b"] {
        File::save_with_clock(
            storage.clone(),
            clock(NOW),
            &note(name),
            Content::Text(name),
        )
        .expect("setup note");
    }
}

type Op = fn(&Arc<dyn Storage>) -> memory_fs::Result<()>;

fn save(storage: &Arc<dyn Storage>) -> memory_fs::Result<()> {
    File::save_with_clock(
        storage.clone(),
        clock(NOW + 10),
        &doc(),
        Content::Json(&json!({"v": 3, "padding": "x".repeat(300)})),
    )?;
    Ok(())
}

fn edit(storage: &Arc<dyn Storage>) -> memory_fs::Result<()> {
    let file = File::open(storage.clone(), &id("doc"))?.expect("doc");
    let data = json!({"owner": "ops"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    file.with_clock(clock(NOW + 10)).update_data(data)?;
    Ok(())
}

fn delete(storage: &Arc<dyn Storage>) -> memory_fs::Result<()> {
    File::open(storage.clone(), &id("doc"))?
        .expect("doc")
        .delete()?;
    Ok(())
}

fn transaction(storage: &Arc<dyn Storage>) -> memory_fs::Result<()> {
    let catalog = Catalog::new(storage.clone(), clock(NOW + 10));
    let mut tx = catalog.transaction();
    tx.save(&doc(), Content::Json(&json!({"v": "tx"})))?;
    tx.add_tags(&id("doc"), ["tx"]);
    tx.save(&note("a"), Content::Text("a, rewritten in the transaction"))?;
    tx.delete(&id("b"));
    tx.commit()?;
    Ok(())
}

const OPS: [(&str, Op); 4] = [
    ("save", save),
    ("edit", edit),
    ("delete", delete),
    ("transaction", transaction),
];

/// Runs `op` with the `k`-th write failing, then checks the store: old or new
/// everywhere, and clean after recovery. Returns whether the fault happened (false
/// once k is past the op's last write).
fn run(
    provider: &'static str,
    (op_name, op): (&str, Op),
    fault: Fault,
    k: usize,
    before: &[(String, Option<Seen>)],
    after: &[(String, Option<Seen>)],
) -> bool {
    let store = common::store(provider);
    setup(&store.storage);
    let faulty = Arc::new(Faulty::new(store.storage.clone(), k, fault));
    let through: Arc<dyn Storage> = faulty.clone();
    let outcome = op(&through);
    let tripped = faulty.tripped();
    let case = format!("{provider} {op_name} {fault:?} k={k}");
    if !tripped {
        assert!(
            outcome.is_ok(),
            "{case}: failed without a fault: {outcome:?}"
        );
    }
    let check = |when: &str, seen: Vec<(String, Option<Seen>)>| {
        for ((name, now), ((_, old), (_, new))) in seen.iter().zip(before.iter().zip(after)) {
            if outcome.is_ok() {
                assert_eq!(now, new, "{case} {when}: {name} must be as after a success");
            } else {
                assert!(
                    now == old || now == new,
                    "{case} {when}: {name} is neither before nor after:\n{now:?}\nbefore {old:?}\nafter {new:?}"
                );
            }
        }
    };
    // What a reader sees right away, with nothing recovered yet.
    check("read", observe(&store.storage));
    // Recovery (what the next writer does first), then the same question.
    let catalog = Catalog::new(store.storage.clone(), clock(NOW + 20));
    catalog
        .recover()
        .unwrap_or_else(|e| panic!("{case}: recovery failed: {e}"));
    check("recovered", observe(&store.storage));
    let report = catalog.verify(None).expect("verify");
    assert!(
        report.problems.is_empty(),
        "{case}: verify after recovery: {:?}",
        report.problems
    );
    if catalog.has_postings() {
        let stored: std::collections::BTreeSet<memory_fs::SafePath> = store
            .storage
            .files_paths(Some(
                &memory_fs::SafePath::new(memory_fs_file::index::POSTINGS).expect("key"),
            ))
            .expect("list")
            .into_iter()
            .collect();
        assert_eq!(
            catalog.expected_postings().expect("postings"),
            stored,
            "{case}: index postings agree with the records"
        );
    }
    // The store goes on: one more save commits and verifies.
    save(&store.storage).unwrap_or_else(|e| panic!("{case}: a save after recovery failed: {e}"));
    assert!(
        catalog.verify(None).expect("verify").problems.is_empty(),
        "{case}"
    );
    tripped
}

fn every_k(provider: &'static str) {
    for (op_name, op) in OPS {
        // The op once without a fault: what it leaves, and how many writes it makes.
        let reference = common::store(provider);
        setup(&reference.storage);
        let before = observe(&reference.storage);
        let counting = Arc::new(Faulty::new(reference.storage.clone(), 0, Fault::Error));
        let through: Arc<dyn Storage> = counting.clone();
        op(&through).unwrap_or_else(|e| panic!("{provider} {op_name}: {e}"));
        let writes = counting.writes();
        let after = observe(&reference.storage);
        assert_ne!(before, after, "{provider} {op_name} changes something");
        for fault in [Fault::Error, Fault::Crash] {
            // Every k is its own store: run them side by side (the providers wait on
            // fsync and the network more than on the two cores).
            let ks: Vec<usize> = (1..=writes).collect();
            std::thread::scope(|s| {
                for chunk in ks.chunks(ks.len().div_ceil(6).max(1)) {
                    let (before, after) = (&before, &after);
                    s.spawn(move || {
                        for &k in chunk {
                            assert!(
                                run(provider, (op_name, op), fault, k, before, after),
                                "{provider} {op_name} {fault:?}: write {k} of {writes} never came"
                            );
                        }
                    });
                }
            });
            assert!(
                !run(provider, (op_name, op), fault, writes + 1, &before, &after),
                "{provider} {op_name}: more than {writes} writes"
            );
            eprintln!("{provider} {op_name} {fault:?}: checked k = 1..={writes}");
        }
    }
}

#[test]
fn every_k_on_memory() {
    every_k("memory");
}

#[test]
fn every_k_on_disk() {
    every_k("disk");
}

#[test]
fn every_k_on_sqlite() {
    every_k("sqlite");
}

#[test]
fn every_k_on_s3() {
    every_k("s3");
}

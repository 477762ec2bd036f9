//! Version history on every provider (memory, disk, SQLite, S3 on the in-process
//! server): diff, restore, retention on save and by prune, chain verification, and
//! tampering with a middle version reported; then pruning under fault injection — the
//! storage failing its k-th write, once or for good (a crash), for every k — leaves
//! the old set of versions or the new one, and a chain that verifies.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;

use memory_fs::{
    Catalog, ChainFault, Clock, Content, Diff, File, FileId, FileSpec, FileType, FixedClock,
    PathHandler, Retention, SafePath, Storage,
};
use memory_fs_storage::testkit::{Fault, Faulty};

/// 2026-11-24 18:00:00 UTC.
const NOW: i64 = 1_795_543_200_000;

fn clock(ms: i64) -> Arc<dyn Clock> {
    Arc::new(FixedClock(ms))
}

fn id() -> FileId {
    FileId::new("notes").expect("id")
}

fn key(k: &str) -> SafePath {
    SafePath::new(k).expect("key")
}

fn last(n: u32) -> Retention {
    Retention::keep_last(NonZeroU32::new(n).expect("n > 0"))
}

/// A text file kept in `latest/` and in `hist/v<N>/`.
fn spec() -> FileSpec {
    FileSpec::new(id(), FileType::text()).handlers([
        PathHandler::latest(),
        PathHandler::versioned().with_prefix("hist"),
    ])
}

fn text(i: u32) -> String {
    format!("line one\nsave {i}\nline three\n")
}

fn save(storage: &Arc<dyn Storage>, spec: &FileSpec, i: u32) -> memory_fs::Result<File> {
    Ok(File::save_with_clock(
        storage.clone(),
        clock(NOW + i64::from(i)),
        spec,
        Content::Text(&text(i)),
    )?)
}

fn open(storage: &Arc<dyn Storage>) -> File {
    File::open(storage.clone(), &id())
        .expect("open")
        .expect("notes")
        .with_clock(clock(NOW + 100))
}

fn faults(storage: &Arc<dyn Storage>) -> Vec<(u32, ChainFault)> {
    open(storage)
        .verify_chain()
        .expect("verify")
        .into_iter()
        .map(|p| (p.version, p.fault))
        .collect()
}

fn matrix(provider: &'static str) {
    let store = common::store(provider);
    let s = &store.storage;
    for i in 1..=3 {
        save(s, &spec(), i).expect("save");
    }
    // Diff between two versions, and against the last save.
    let Diff::Text { unified, .. } = open(s).diff(1, Some(2)).expect("diff") else {
        panic!("{provider}: a text file diffs as text");
    };
    assert!(
        unified.contains("-save 1\n+save 2\n"),
        "{provider}: {unified}"
    );
    // Restore saves v1 again as v4.
    let file = open(s).restore(1).expect("restore");
    assert_eq!(file.versions(), [1, 2, 3, 4], "{provider}");
    assert_eq!(
        file.load_text().expect("load").as_deref(),
        Some(text(1).as_str())
    );
    assert_eq!(faults(s), [], "{provider}: after restore");
    // Prune with a default policy: keep the last two.
    let plan = open(s).would_prune(Some(&last(2))).expect("plan");
    assert_eq!(plan.removed, [1, 2], "{provider}");
    assert!(
        open(s).versions().len() == 4,
        "{provider}: a dry run writes nothing"
    );
    let pruned = open(s).prune(Some(&last(2))).expect("prune");
    assert_eq!(
        (pruned.removed, pruned.kept),
        (vec![1, 2], vec![3, 4]),
        "{provider}"
    );
    for k in &pruned.keys {
        assert!(
            !s.file_exists(k).expect("exists"),
            "{provider}: {k} is gone"
        );
    }
    assert_eq!(faults(s), [], "{provider}: a pruned chain verifies");
    let Diff::Text { unified, .. } = open(s).diff(3, None).expect("diff") else {
        panic!("{provider}: text");
    };
    assert!(
        unified.contains("-save 3\n+save 1\n"),
        "{provider}: {unified}"
    );
    // A policy of the file's own, applied by the save that goes beyond it.
    let file = save(s, &spec().with_retention(last(3)), 5).expect("save");
    assert_eq!(file.versions(), [3, 4, 5], "{provider}");
    let file = save(s, &spec(), 6).expect("save");
    assert_eq!(
        file.versions(),
        [4, 5, 6],
        "{provider}: the policy stays with the file"
    );
    assert_eq!(faults(s), [], "{provider}");
    assert!(
        Catalog::new(s.clone(), clock(NOW + 100))
            .verify(None)
            .expect("verify")
            .problems
            .is_empty(),
        "{provider}: no orphans after pruning"
    );
    // A middle version altered, then removed.
    s.file_save(&key("hist/v5/notes.txt"), b"rewritten\n")
        .expect("tamper");
    assert_eq!(faults(s), [(5, ChainFault::Altered)], "{provider}");
    assert!(
        open(s).restore(5).is_err(),
        "{provider}: a damaged version is not restored"
    );
    for k in ["notes.txt", "notes.txt.metadata"] {
        s.file_delete(&key(&format!("hist/v5/{k}")))
            .expect("delete");
    }
    assert_eq!(faults(s), [(5, ChainFault::Missing)], "{provider}");
}

#[test]
fn history_on_memory() {
    matrix("memory");
}

#[test]
fn history_on_disk() {
    matrix("disk");
}

#[test]
fn history_on_sqlite() {
    matrix("sqlite");
}

#[test]
fn history_on_s3() {
    matrix("s3");
}

// ----- pruning under fault injection -----------------------------------------------------

/// What a reader sees: the versions held and the last save's text; the chain and the
/// file must verify whichever it is.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    versions: Vec<u32>,
    text: Option<String>,
}

fn observe(storage: &Arc<dyn Storage>, case: &str) -> Seen {
    let file = File::open(storage.clone(), &id())
        .unwrap_or_else(|e| panic!("{case}: the record cannot be read: {e}"))
        .unwrap_or_else(|| panic!("{case}: the file is gone"));
    // A commit still in flight (its writer crashed after the first content landed) is
    // seen as after, but its other copies are written by recovery: the chain is
    // checked once nothing is in flight.
    if file.record().pending.is_none() {
        let problems = file.verify_chain().expect("verify chain");
        assert!(problems.is_empty(), "{case}: the chain: {problems:?}");
    }
    for n in file.versions() {
        let v = file.version(n).expect("version").expect("held");
        if file.record().pending.is_none() {
            v.load_text()
                .unwrap_or_else(|e| panic!("{case}: v{n} is torn: {e}"))
                .unwrap_or_else(|| panic!("{case}: v{n} is listed but gone"));
        }
    }
    Seen {
        versions: file.versions(),
        text: file
            .load_text()
            .unwrap_or_else(|e| panic!("{case}: torn: {e}")),
    }
}

/// Four versions, no policy.
fn setup(storage: &Arc<dyn Storage>) {
    for i in 1..=4 {
        save(storage, &spec(), i).expect("setup");
    }
}

type Op = fn(&Arc<dyn Storage>) -> memory_fs::Result<()>;

/// A prune keeping the last two: v1 and v2 go.
fn prune(storage: &Arc<dyn Storage>) -> memory_fs::Result<()> {
    open(storage).prune(Some(&last(2)))?;
    Ok(())
}

/// A save with a policy of three: v5 comes, v1 and v2 go, in one commit.
fn save_pruning(storage: &Arc<dyn Storage>) -> memory_fs::Result<()> {
    save(storage, &spec().with_retention(last(3)), 5)?;
    Ok(())
}

const OPS: [(&str, Op); 2] = [("prune", prune), ("save", save_pruning)];

fn run(
    provider: &'static str,
    (name, op): (&str, Op),
    fault: Fault,
    k: usize,
    before: &Seen,
    after: &Seen,
) -> bool {
    let store = common::store(provider);
    setup(&store.storage);
    let faulty = Arc::new(Faulty::new(store.storage.clone(), k, fault));
    let through: Arc<dyn Storage> = faulty.clone();
    let outcome = op(&through);
    let tripped = faulty.tripped();
    let case = format!("{provider} {name} {fault:?} k={k}");
    if !tripped {
        assert!(
            outcome.is_ok(),
            "{case}: failed without a fault: {outcome:?}"
        );
    }
    let check = |when: &str, seen: Seen| {
        if outcome.is_ok() {
            assert_eq!(&seen, after, "{case} {when}: as after a success");
        } else {
            assert!(
                seen == *before || seen == *after,
                "{case} {when}: neither before nor after: {seen:?}"
            );
        }
    };
    check("read", observe(&store.storage, &case));
    let catalog = Catalog::new(store.storage.clone(), clock(NOW + 200));
    catalog
        .recover()
        .unwrap_or_else(|e| panic!("{case}: recovery failed: {e}"));
    let recovered = observe(&store.storage, &case);
    assert!(
        File::open(store.storage.clone(), &id())
            .expect("open")
            .is_some_and(|f| f.record().pending.is_none()),
        "{case}: settled"
    );
    check("recovered", recovered);
    let report = catalog.verify(None).expect("verify");
    assert!(
        report.problems.is_empty(),
        "{case}: verify after recovery: {:?}",
        report.problems
    );
    // The file goes on: a prune now gives what the op would have.
    open(&store.storage)
        .prune(Some(&last(2)))
        .unwrap_or_else(|e| panic!("{case}: a prune after recovery failed: {e}"));
    assert_eq!(faults(&store.storage), [], "{case}");
    tripped
}

fn every_k(provider: &'static str) {
    for (name, op) in OPS {
        let reference = common::store(provider);
        setup(&reference.storage);
        let before = observe(&reference.storage, provider);
        let counting = Arc::new(Faulty::new(reference.storage.clone(), 0, Fault::Error));
        let through: Arc<dyn Storage> = counting.clone();
        op(&through).unwrap_or_else(|e| panic!("{provider} {name}: {e}"));
        let writes = counting.writes();
        let after = observe(&reference.storage, provider);
        assert_ne!(before.versions, after.versions, "{provider} {name} prunes");
        for fault in [Fault::Error, Fault::Crash] {
            let ks: Vec<usize> = (1..=writes).collect();
            std::thread::scope(|s| {
                for chunk in ks.chunks(ks.len().div_ceil(6).max(1)) {
                    let (before, after) = (&before, &after);
                    s.spawn(move || {
                        for &k in chunk {
                            assert!(
                                run(provider, (name, op), fault, k, before, after),
                                "{provider} {name} {fault:?}: write {k} of {writes} never came"
                            );
                        }
                    });
                }
            });
            assert!(
                !run(provider, (name, op), fault, writes + 1, &before, &after),
                "{provider} {name}: more than {writes} writes"
            );
            eprintln!("{provider} {name} {fault:?}: checked k = 1..={writes}");
        }
    }
}

#[test]
fn pruning_is_atomic_on_memory() {
    every_k("memory");
}

#[test]
fn pruning_is_atomic_on_disk() {
    every_k("disk");
}

#[test]
fn pruning_is_atomic_on_sqlite() {
    every_k("sqlite");
}

#[test]
fn pruning_is_atomic_on_s3() {
    every_k("s3");
}

//! The store layer on the memory provider and on the Python fixtures: projects,
//! targets from stored configs, lookup, queries, reindex, verify, copy, transactions.

use std::path::Path;
use std::sync::Arc;

use memory_fs_file::storage::{SafePath, Storage};
use memory_fs_file::{
    Clock, Content, File, FileError, FileId, FileSpec, FileType, FixedClock, PathHandler,
};
use memory_fs_storage_memory::MemoryStorage;
use memory_fs_target::{Catalog, Project, ProjectError, Query, TargetCreate};
use serde_json::json;

const NOW: i64 = 1_795_393_179_295; // 2026-11-23T00:59:39.295Z
const DAY: i64 = 86_400_000;

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock(NOW))
}

fn id(s: &str) -> FileId {
    FileId::new(s).expect("id")
}

fn save_at(storage: &Arc<MemoryStorage>, now: i64, spec: &FileSpec, content: Content<'_>) -> File {
    File::save_with_clock(storage.clone(), Arc::new(FixedClock(now)), spec, content).expect("save")
}

#[test]
fn projects_place_files_by_strategy() {
    let storage = Arc::new(MemoryStorage::new());
    let project = Project::new()
        .with_strategy("development", [PathHandler::latest()])
        .with_strategy(
            "production",
            [PathHandler::temporal(), PathHandler::versioned()],
        );
    let dev = project
        .spec(id("report"), "development", FileType::json())
        .expect("spec");
    let dev = save_at(&storage, NOW, &dev, Content::Json(&json!({"ok": 1})));
    assert_eq!(dev.config().file_paths, ["latest"]);
    let prod = project
        .spec(id("report"), "production", FileType::json())
        .expect("spec");
    let prod = save_at(&storage, NOW, &prod, Content::Json(&json!({"ok": true})));
    assert_eq!(prod.config().file_paths, ["2026/11/23/00", "v1"]);
    assert_eq!(
        prod.info().folders,
        ["latest", "2026/11/23/00", "v1"],
        "one logical file, all its folders"
    );
    let err = project
        .spec(id("x"), "staging", FileType::json())
        .expect_err("unknown");
    assert!(matches!(err, ProjectError::UnknownStrategy { .. }));
    assert_eq!(
        err.to_string(),
        r#"no path strategy named "staging" (defined: development, production)"#
    );
}

#[test]
fn targets_come_back_from_stored_configs() {
    let storage = Arc::new(MemoryStorage::new());
    let both = |s: &str| {
        FileSpec::new(id(s), FileType::text())
            .handlers([PathHandler::latest(), PathHandler::custom("backup")])
    };
    for name in ["b", "a"] {
        save_at(&storage, NOW, &both(name), Content::Text(name));
    }
    let create = TargetCreate::new(storage.clone());
    let all = create.scan(None).expect("scan");
    let ids: Vec<&str> = all.iter().map(|t| t.config().file_id.as_str()).collect();
    assert_eq!(
        ids,
        ["a", "b"],
        "one target per logical file, though stored twice"
    );
    assert_eq!(
        all[0].file().load_text().expect("load").as_deref(),
        Some("a")
    );
    let only_backup = create
        .scan(Some(&SafePath::new("backup").expect("key")))
        .expect("scan");
    assert_eq!(only_backup.len(), 2);
    assert!(
        create
            .from_config_path(&SafePath::new("nope.txt.config").expect("key"))
            .expect("lookup")
            .is_none()
    );
    storage
        .file_save(
            &SafePath::new("latest/bad.txt.config").expect("key"),
            b"{oops",
        )
        .expect("save");
    let err = create.scan(None).expect_err("corrupt");
    assert!(
        matches!(err, FileError::CorruptConfig { ref path, .. } if path == "latest/bad.txt.config"),
        "{err}"
    );
    let scan = create.scan_all(None).expect("scan all");
    assert_eq!(scan.targets.len(), 2, "one bad config hides no other file");
    assert_eq!(scan.unreadable.len(), 1);
}

fn python_store(case: &str) -> Arc<MemoryStorage> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/python-memory-fs")
        .join(case);
    assert!(
        dir.is_dir(),
        "the Python fixtures are missing: expected {}",
        dir.display()
    );
    let storage = Arc::new(MemoryStorage::new());
    fn load(base: &Path, dir: &Path, storage: &MemoryStorage) {
        for entry in std::fs::read_dir(dir).expect("read") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                load(base, &path, storage);
            } else {
                let key = path
                    .strip_prefix(base)
                    .expect("below")
                    .to_string_lossy()
                    .into_owned();
                storage
                    .file_save(
                        &SafePath::new(key).expect("key"),
                        &std::fs::read(&path).expect("read"),
                    )
                    .expect("save");
            }
        }
    }
    load(&dir, &dir, &storage);
    storage
}

#[test]
fn a_python_store_is_found_by_id_after_a_reindex() {
    let storage = python_store("multiple_paths");
    let catalog = Catalog::new(storage.clone(), clock());
    assert!(
        catalog.get(&id("order-42")).expect("get").is_none(),
        "not indexed yet"
    );
    let before = catalog.verify(None).expect("verify");
    assert_eq!(
        before.problems.len(),
        1,
        "one unindexed file is one problem: {:?}",
        before.problems
    );
    assert!(
        before.problems[0].problem.contains("not in the index"),
        "{:?}",
        before.problems
    );

    let report = catalog.reindex().expect("reindex");
    assert_eq!(report.found, 1);
    assert_eq!(report.written, [id("order-42")]);
    let file = catalog.get(&id("order-42")).expect("get").expect("indexed");
    assert_eq!(file.info().folders.len(), 4);
    assert_eq!(
        file.load_json().expect("load"),
        Some(json!({"id": 42, "items": [1, 2, 3]}))
    );
    assert!(catalog.verify(None).expect("verify").problems.is_empty());
    let again = catalog.reindex().expect("reindex");
    assert!(
        again.written.is_empty(),
        "a reindex of an indexed store writes nothing"
    );
}

#[test]
fn queries_by_tag_type_folder_time_and_data() {
    let storage = Arc::new(MemoryStorage::new());
    let catalog = Catalog::new(storage.clone(), clock());
    let spec = |name: &str, ty: FileType, folder: &str| {
        FileSpec::new(id(name), ty).handlers([PathHandler::custom(folder)])
    };
    let a = save_at(
        &storage,
        NOW - 40 * DAY,
        &spec("a", FileType::json(), "docs"),
        Content::Json(&json!(1)),
    );
    a.add_tags(["draft", "q1"]).expect("tags");
    let b = save_at(
        &storage,
        NOW - 2 * DAY,
        &spec("b", FileType::markdown(), "docs/eu"),
        Content::Text("# b"),
    );
    b.add_tags(["q1"]).expect("tags");
    b.update_data(
        json!({"owner": "ann", "pages": 3})
            .as_object()
            .expect("map")
            .clone(),
    )
    .expect("data");
    save_at(
        &storage,
        NOW,
        &spec("c", FileType::json(), "other"),
        Content::Json(&json!(3)),
    );

    let ids = |q: Query| -> Vec<String> {
        catalog
            .query(&q)
            .expect("query")
            .files
            .iter()
            .map(|f| f.id().to_string())
            .collect()
    };
    assert_eq!(ids(Query::new()), ["a", "b", "c"]);
    assert_eq!(ids(Query::new().tag("q1")), ["a", "b"]);
    assert_eq!(ids(Query::new().tag("q1").tag("draft")), ["a"]);
    assert_eq!(ids(Query::new().file_type("json")), ["a", "c"]);
    assert_eq!(ids(Query::new().folder("docs")), ["a"]);
    assert_eq!(ids(Query::new().under("docs")), ["a", "b"]);
    assert_eq!(ids(Query::new().since(NOW - 3 * DAY)), ["b", "c"]);
    assert_eq!(
        ids(Query::new().since(NOW - 100 * DAY).until(NOW - DAY)),
        ["a", "b"]
    );
    assert_eq!(ids(Query::new().data("owner", json!("ann"))), ["b"]);
    assert_eq!(
        ids(Query::new().data("pages", json!(3)).file_type("markdown")),
        ["b"]
    );
    assert!(
        ids(Query::new().data("pages", json!("3"))).is_empty(),
        "values compare as JSON"
    );
    assert!(ids(Query::new().tag("nope")).is_empty());
    // Postings follow edits and deletes.
    catalog
        .get(&id("a"))
        .expect("get")
        .expect("a")
        .delete()
        .expect("delete");
    assert_eq!(ids(Query::new().tag("q1")), ["b"]);
    let stored: std::collections::BTreeSet<SafePath> = storage
        .files_paths(Some(
            &SafePath::new(memory_fs_file::index::POSTINGS).expect("key"),
        ))
        .expect("list")
        .into_iter()
        .collect();
    if catalog.has_postings() {
        assert_eq!(
            catalog.expected_postings().expect("postings"),
            stored,
            "the postings in the store are exactly those of the records"
        );
    } else {
        assert!(
            stored.is_empty(),
            "no postings where batches are not atomic"
        );
    }
}

#[test]
fn verify_names_every_kind_of_damage() {
    let storage = Arc::new(MemoryStorage::new());
    let catalog = Catalog::new(storage.clone(), clock());
    let put = |k: &str, v: &[u8]| {
        storage
            .file_save(&SafePath::new(k).expect("key"), v)
            .expect("save")
    };
    save_at(
        &storage,
        NOW,
        &FileSpec::new(id("good"), FileType::text()).folders(["latest"]),
        Content::Text("ok"),
    );
    save_at(
        &storage,
        NOW,
        &FileSpec::new(id("hurt"), FileType::text()).folders(["latest"]),
        Content::Text("ok"),
    );
    put("latest/hurt.txt", b"changed");
    put("latest/broken.txt.config", b"{oops");
    put("elsewhere/orphan.bin", b"?");
    put("elsewhere/orphan.bin.metadata", b"{}");
    put(
        "escape/evil.json.config",
        br#"{"file_id": "evil", "file_paths": ["../../etc"], "file_type": {"name": "json", "content_type": "x", "file_extension": "json", "encoding": "utf-8", "serialization": "json"}}"#,
    );
    put(".memory-fs/files/wrecked", b"not a record");
    let report = catalog.verify(None).expect("verify");
    let lines: Vec<String> = report
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.key, p.problem))
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
    assert_eq!(report.files, 2);
    // One bad record or config hides nothing else.
    assert_eq!(catalog.list().expect("list").files.len(), 2);
    assert_eq!(
        catalog
            .get(&id("good"))
            .expect("get")
            .expect("good")
            .load_text()
            .expect("load")
            .as_deref(),
        Some("ok")
    );
}

#[test]
fn copies_go_file_by_file_through_commits() {
    let source = Arc::new(MemoryStorage::new());
    let destination = Arc::new(MemoryStorage::new());
    let spec = FileSpec::new(id("doc"), FileType::json())
        .handlers([PathHandler::latest(), PathHandler::versioned()]);
    for v in 1..=3 {
        save_at(&source, NOW + v, &spec, Content::Json(&json!({ "v": v })));
    }
    save_at(
        &destination,
        NOW,
        &FileSpec::new(id("doc"), FileType::json()).folders(["old"]),
        Content::Json(&json!("old")),
    );
    let from = Catalog::new(source.clone(), clock());
    let to = Catalog::new(destination.clone(), clock());
    let report = from
        .copy_to(&to, &Query::new(), |_, _, _| {})
        .expect("copy");
    assert_eq!(report.files, 1);
    let copied = to.get(&id("doc")).expect("get").expect("copied");
    assert_eq!(copied.versions(), [1, 2, 3]);
    assert_eq!(copied.load_json().expect("load"), Some(json!({"v": 3})));
    assert_eq!(
        copied
            .version(1)
            .expect("v1")
            .expect("held")
            .load_json()
            .expect("load"),
        Some(json!({"v": 1}))
    );
    assert!(
        !destination
            .file_exists(&SafePath::new("old/doc.json").expect("key"))
            .expect("exists"),
        "the destination's file is the source's, not a mix"
    );
    assert!(to.verify(None).expect("verify").problems.is_empty());
}

#[test]
fn transactions_change_several_files_together() {
    let storage = Arc::new(MemoryStorage::new());
    let catalog = Catalog::new(storage.clone(), clock());
    let text = |name: &str| FileSpec::new(id(name), FileType::text()).folders(["docs"]);
    save_at(&storage, NOW, &text("gone"), Content::Text("bye"));
    let mut tx = catalog.transaction();
    tx.save(&text("a"), Content::Text("one")).expect("save a");
    tx.save(&text("b"), Content::Text("two")).expect("save b");
    tx.add_tags(&id("a"), ["pair"]);
    tx.delete(&id("gone"));
    let after = tx.commit().expect("commit");
    assert_eq!(after.len(), 3);
    assert!(catalog.get(&id("gone")).expect("get").is_none());
    let a = catalog.get(&id("a")).expect("get").expect("a");
    assert_eq!(a.metadata().expect("meta").tags, ["pair"]);
    assert_eq!(catalog.ids().expect("ids"), [id("a"), id("b")]);

    // An edit of a missing file fails the whole transaction: nothing changes.
    let mut tx = catalog.transaction();
    tx.save(&text("c"), Content::Text("three")).expect("save c");
    tx.add_tags(&id("missing"), ["x"]);
    let err = tx.commit().expect_err("missing");
    assert!(matches!(err, FileError::NotFound { .. }), "{err}");
    assert!(
        catalog.get(&id("c")).expect("get").is_none(),
        "all or nothing"
    );
}

//! SQLite specifics: prefix listing uses the primary-key index, the file persists, WAL.

use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_sqlite::SqliteStorage;

#[test]
fn prefix_listing_is_an_index_range_not_a_scan() {
    let store = SqliteStorage::in_memory().expect("open");
    let plan = store.explain_prefix_listing().expect("plan").join("\n");
    assert!(
        plan.contains("SEARCH files USING PRIMARY KEY"),
        "plan: {plan}"
    );
    assert!(!plan.contains("SCAN"), "plan: {plan}");
}

#[test]
fn values_persist_across_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let key = SafePath::new("kept/value").expect("key");
    SqliteStorage::open(&path)
        .expect("open")
        .file_save(&key, b"still here")
        .expect("save");
    let reopened = SqliteStorage::open(&path).expect("reopen");
    assert_eq!(
        reopened.file_bytes(&key).expect("load").as_deref(),
        Some(&b"still here"[..])
    );
    assert!(reopened.capabilities().persistent);
    assert!(
        !SqliteStorage::in_memory()
            .expect("open")
            .capabilities()
            .persistent
    );
    assert!(
        dir.path().join("store.db-wal").exists(),
        "the database runs in WAL mode"
    );
}

#[test]
fn a_directory_is_not_a_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = SqliteStorage::open(dir.path()).expect_err("a directory");
    assert_eq!(err.kind(), memory_fs_storage::ErrorKind::Backend);
}

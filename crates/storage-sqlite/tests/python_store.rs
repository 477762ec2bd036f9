//! The SQLite store the Python `memory-fs` package writes (`Storage_FS__Sqlite`), read
//! and written in its own table layout.

use std::path::PathBuf;

use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};

/// The fixtures written by the Python package, beside the workspace.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/python-memory-fs")
}

/// Every file under `dir` as (key, bytes), sorted by key.
fn tree(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let key = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.push((key, std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_python_written_database_opens_in_its_layout_with_the_same_keys_and_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("multiple_paths.sqlite");
    std::fs::copy(fixtures().join("_backends/multiple_paths.sqlite"), &db).expect("copy fixture");
    let journal_before: String = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");

    let store = SqliteStorage::open(&db).expect("open the Python database");
    assert_eq!(
        store.layout(),
        Layout::Python,
        "detected from the table present"
    );
    let expected = tree(&fixtures().join("multiple_paths"));
    let keys: Vec<String> = store
        .files_paths(None)
        .expect("list")
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    assert_eq!(
        keys,
        expected.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
    );
    for (key, bytes) in &expected {
        let got = store
            .file_bytes(&SafePath::new(key.as_str()).expect("key"))
            .expect("read");
        assert_eq!(got.as_ref(), Some(bytes), "{key}");
    }
    let latest = store
        .files_paths(Some(&SafePath::new("latest").expect("key")))
        .expect("list");
    assert_eq!(latest.len(), 3);

    // Writes go into the same table, stamped as Python stamps them.
    let key = SafePath::new("latest/order-42.json").expect("key");
    store.file_save(&key, b"{\"id\": 43}").expect("update");
    let new = SafePath::new("notes/new.txt").expect("key");
    store.file_save(&new, b"from rust").expect("insert");
    drop(store);

    let conn = rusqlite::Connection::open(&db).expect("open");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(tables, ["memory_fs_files"], "no table of our own was added");
    let journal_after: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal");
    assert_eq!(
        journal_after, journal_before,
        "the journal mode is left as Python set it"
    );
    let (rows, created, updated): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), min(created_at), max(updated_at) FROM memory_fs_files WHERE path = ?1",
            ["latest/order-42.json"],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row");
    assert_eq!(rows, 1, "an update, not a second row");
    assert!(updated > created, "updated_at moves, created_at stays");
    let (data, created, updated): (Vec<u8>, i64, i64) = conn
        .query_row(
            "SELECT data, created_at, updated_at FROM memory_fs_files WHERE path = 'notes/new.txt'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row");
    assert_eq!(data, b"from rust");
    assert_eq!(created, updated);
    assert!(
        created > 1_700_000_000_000,
        "milliseconds since the epoch: {created}"
    );
}

#[test]
fn duplicate_rows_of_one_path_read_as_the_first_and_delete_together() {
    let key = SafePath::new("a/b").expect("key");
    // The Python table does not make paths unique; a second row can exist.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("dup.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch(
            "CREATE TABLE memory_fs_files (id INTEGER PRIMARY KEY, path TEXT, data BLOB, created_at INTEGER, updated_at INTEGER);
             INSERT INTO memory_fs_files (path, data, created_at, updated_at) VALUES ('a/b', x'6f6e65', 1, 1), ('a/b', x'74776f', 2, 2), ('c', x'63', 3, 3);",
        )
        .expect("seed");
    }
    let store = SqliteStorage::open(&db).expect("open");
    assert_eq!(store.layout(), Layout::Python);
    assert_eq!(
        store.files_paths(None).expect("list").len(),
        2,
        "listed once"
    );
    assert_eq!(
        store.file_bytes(&key).expect("read").as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(
        store
            .files_delete(std::slice::from_ref(&key))
            .expect("delete"),
        1,
        "one key"
    );
    assert!(!store.file_exists(&key).expect("exists"));
}

#[test]
fn a_new_database_uses_the_native_layout_unless_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let native = SqliteStorage::open(dir.path().join("n.db")).expect("open");
    assert_eq!(native.layout(), Layout::Native);
    let python = SqliteStorage::with_config(
        SqliteConfig::file(dir.path().join("p.db")).layout(Layout::Python),
    )
    .expect("open");
    assert_eq!(python.layout(), Layout::Python);
    drop(python);
    assert_eq!(
        SqliteStorage::open(dir.path().join("p.db"))
            .expect("reopen")
            .layout(),
        Layout::Python,
        "detected on reopening"
    );
}

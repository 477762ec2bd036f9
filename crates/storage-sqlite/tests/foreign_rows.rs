//! Rows another program wrote that the store cannot read (a key stored as a BLOB, a
//! value stored as TEXT, a chunked value with chunks missing, stray chunks): listings
//! leave them out, reading one says which row and why, everything else keeps working,
//! and `unreadable_rows` names each of them for a check of the whole store.

use memory_fs_storage::{ErrorKind, SafePath, Storage, StorageError};
use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

fn listed(store: &SqliteStorage, prefix: Option<&str>) -> Vec<String> {
    store
        .files_paths(prefix.map(key).as_ref())
        .expect("listing works despite the foreign rows")
        .into_iter()
        .map(String::from)
        .collect()
}

/// `(name, reason)` of every unreadable row.
fn unreadable(store: &SqliteStorage) -> Vec<(String, String)> {
    store
        .unreadable_rows()
        .expect("scan")
        .into_iter()
        .map(|e| match e {
            StorageError::InvalidData { path, reason } => (path, reason),
            other => panic!("not InvalidData: {other}"),
        })
        .collect()
}

#[test]
fn foreign_rows_in_the_native_layout_are_skipped_and_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let store = SqliteStorage::open(&db).expect("open");
    store.file_save(&key("good/a"), b"a").expect("save");
    store.file_save(&key("good/b"), b"b").expect("save");
    drop(store);
    {
        let conn = rusqlite::Connection::open(&db).expect("raw open");
        conn.execute_batch(
            "INSERT INTO files (path, data) VALUES (x'676f6f642f626c6f62', x'01');
             INSERT INTO files (path, data) VALUES ('good/text', 'plain text');
             INSERT INTO files (path, data) VALUES ('../escape', x'02');
             INSERT INTO files (path, data) VALUES ('good/chunked', 100);
             INSERT INTO file_chunks (path, seq, data) VALUES ('good/chunked', 0, x'00');
             INSERT INTO file_chunks (path, seq, data) VALUES ('nobody', 0, x'00');",
        )
        .expect("foreign rows");
    }
    let store = SqliteStorage::open(&db).expect("reopen with foreign rows");
    assert_eq!(
        listed(&store, None),
        ["good/a", "good/b", "good/chunked", "good/text"],
        "the BLOB key and the escaping key are left out"
    );
    assert_eq!(
        listed(&store, Some("good")),
        ["good/a", "good/b", "good/chunked", "good/text"]
    );
    let text = store.file_bytes(&key("good/text")).expect_err("TEXT data");
    assert_eq!(text.kind(), ErrorKind::InvalidData);
    assert_eq!(text.path(), Some("good/text"));
    assert!(
        text.to_string().contains("TEXT where a BLOB belongs"),
        "{text}"
    );
    let chunked = store.file_get(&key("good/chunked")).expect_err("damaged");
    assert_eq!(chunked.kind(), ErrorKind::InvalidData);
    assert!(
        chunked.to_string().contains("100 bytes is damaged"),
        "{chunked}"
    );

    // Everything else works: reads, writes, deletes, also of the unreadable keys.
    assert_eq!(
        store.file_bytes(&key("good/a")).expect("load").as_deref(),
        Some(&b"a"[..])
    );
    assert!(store.file_exists(&key("good/text")).expect("exists"));
    store.file_save(&key("good/c"), b"c").expect("save");

    let rows = unreadable(&store);
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "../escape",
            "good/chunked",
            "good/text",
            "x'676f6f642f626c6f62'",
            "nobody"
        ],
        "{rows:#?}"
    );
    assert!(rows[0].1.contains("not a valid key"), "{}", rows[0].1);
    assert!(rows[3].1.contains("a BLOB, not TEXT"), "{}", rows[3].1);
    assert!(
        rows[4].1.contains("belong to no chunked value"),
        "{}",
        rows[4].1
    );

    // A foreign value is replaced by a save like any other.
    store
        .file_save(&key("good/text"), b"mine now")
        .expect("save");
    assert!(store.file_delete(&key("good/chunked")).expect("delete"));
    let left: Vec<String> = unreadable(&store).into_iter().map(|(n, _)| n).collect();
    assert_eq!(left, ["../escape", "x'676f6f642f626c6f62'", "nobody"]);
}

#[test]
fn foreign_rows_in_the_python_layout_are_skipped_and_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("python.db");
    let store =
        SqliteStorage::with_config(SqliteConfig::file(&db).layout(Layout::Python)).expect("open");
    store.file_save(&key("ok"), b"fine").expect("save");
    drop(store);
    {
        let conn = rusqlite::Connection::open(&db).expect("raw open");
        conn.execute_batch(
            "INSERT INTO memory_fs_files (path, data, created_at, updated_at)
                 VALUES (x'6b', x'01', 1, 1);
             INSERT INTO memory_fs_files (path, data, created_at, updated_at)
                 VALUES ('text', 'plain', 1, 1);
             INSERT INTO memory_fs_files (path, data, created_at, updated_at)
                 VALUES (NULL, x'02', 1, 1);",
        )
        .expect("foreign rows");
    }
    let store = SqliteStorage::open(&db).expect("reopen");
    assert_eq!(store.layout(), Layout::Python);
    assert_eq!(listed(&store, None), ["ok", "text"]);
    let err = store.file_bytes(&key("text")).expect_err("TEXT data");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let rows = unreadable(&store);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert_eq!(rows[0].0, "x'6b'");
    assert!(
        rows[0].1.starts_with("row id 2 of memory_fs_files"),
        "{}",
        rows[0].1
    );
    assert_eq!(rows[1].0, "text");
    assert!(rows[1].1.contains("row id 3"), "{}", rows[1].1);
    assert_eq!(rows[2].0, "NULL");
    assert_eq!(
        store.file_bytes(&key("ok")).expect("load").as_deref(),
        Some(&b"fine"[..])
    );
}

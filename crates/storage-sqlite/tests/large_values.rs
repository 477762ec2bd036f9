//! Values past SQLite's length limit (about 10^9 bytes): the native layout stores them
//! in chunks, the Python layout refuses them naming the limit; chunks follow their
//! value through overwrites and deletes, are reachable by incremental blob I/O, and a
//! damaged chunked value is reported, never returned.

use memory_fs_storage::{Batch, ErrorKind, Expect, SafePath, Storage, Version};
use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

/// Bytes that differ from position to position, so a misplaced chunk shows: a block
/// of an odd length (never a multiple of a chunk), repeated.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let block: Vec<u8> = (0..(1usize << 20) + 13)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = block.len().min(len - out.len());
        out.extend_from_slice(&block[..n]);
    }
    out
}

fn chunk_rows(db: &std::path::Path, path: &str) -> i64 {
    rusqlite::Connection::open(db)
        .expect("raw")
        .query_row(
            "SELECT count(*) FROM file_chunks WHERE path = ?1",
            [path],
            |r| r.get(0),
        )
        .expect("count")
}

/// The disk under the build directory, not a RAM-backed `/tmp`, holds the gigabyte.
fn big_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir")
}

#[test]
fn a_gibibyte_value_is_saved_in_chunks_and_read_back_whole() {
    let dir = big_dir();
    let db = dir.path().join("big.db");
    let store =
        SqliteStorage::with_config(SqliteConfig::file(&db).synchronous_normal()).expect("open");
    let data = pattern(1 << 30, 7);
    let k = key("big/gibibyte");
    store.file_save(&k, &data).expect("a 1 GiB value is saved");
    let back = store.file_bytes(&k).expect("load").expect("exists");
    assert!(
        back.len() == data.len() && back == data,
        "the value came back different"
    );
    drop(back);
    assert_eq!(
        chunk_rows(&db, "big/gibibyte"),
        64,
        "1 GiB in 16 MiB chunks"
    );
    assert!(store.file_delete(&k).expect("delete"));
    assert_eq!(
        chunk_rows(&db, "big/gibibyte"),
        0,
        "the chunks went with it"
    );
}

#[test]
fn the_python_layout_refuses_a_value_past_the_limit_and_names_it() {
    let dir = big_dir();
    let store = SqliteStorage::with_config(
        SqliteConfig::file(dir.path().join("py.db"))
            .synchronous_normal()
            .layout(Layout::Python),
    )
    .expect("open");
    let k = key("big/too-long");
    store.file_save(&k, b"the old value").expect("save");
    let data = vec![1u8; 1_000_000_000];
    for refused in [
        store.file_save(&k, &data).map(drop),
        store
            .file_save_if(
                &k,
                &data,
                &Expect::Version(Version::of_bytes(b"the old value")),
            )
            .map(drop),
        store.apply(&Batch::new().put(k.clone(), &data)),
    ] {
        let err = refused.expect_err("too long for one row");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("1000000000 bytes") && text.contains("at most 999995904 bytes"),
            "{text}"
        );
        assert!(text.contains("length limit"), "{text}");
    }
    assert_eq!(
        store.file_bytes(&k).expect("load").as_deref(),
        Some(&b"the old value"[..]),
        "nothing was lost"
    );
}

#[test]
fn chunks_follow_their_value_through_overwrites_and_deletes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chunks.db");
    let store = SqliteStorage::with_config(SqliteConfig::file(&db).chunk_size(4096)).expect("open");
    let k = key("value");
    let long = pattern(10_000, 1);
    store.file_save(&k, &long).expect("chunked");
    assert_eq!(chunk_rows(&db, "value"), 3);
    assert_eq!(store.file_bytes(&k).expect("load"), Some(long));
    let longer = pattern(20_000, 2);
    store.file_save(&k, &longer).expect("chunked over chunked");
    assert_eq!(chunk_rows(&db, "value"), 5);
    assert_eq!(store.file_bytes(&k).expect("load"), Some(longer.clone()));
    store.file_save(&k, b"short").expect("inline over chunked");
    assert_eq!(
        chunk_rows(&db, "value"),
        0,
        "the trigger dropped the chunks"
    );
    assert_eq!(
        store.file_bytes(&k).expect("load").as_deref(),
        Some(&b"short"[..])
    );
    store.file_save(&k, &longer).expect("chunked over inline");
    // A batch that replaces a chunked value and deletes another in one transaction.
    store
        .apply(
            &Batch::new()
                .check(k.clone(), Expect::Version(Version::of_bytes(&longer)))
                .put(key("other"), &longer)
                .delete(k.clone()),
        )
        .expect("apply");
    assert_eq!(chunk_rows(&db, "value"), 0);
    assert_eq!(chunk_rows(&db, "other"), 5);
    store.clear().expect("clear");
    assert_eq!(chunk_rows(&db, "other"), 0);
    assert!(store.unreadable_rows().expect("scan").is_empty());
}

#[test]
fn each_chunk_is_reachable_by_incremental_blob_io() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("blob.db");
    let store = SqliteStorage::with_config(SqliteConfig::file(&db).chunk_size(4096)).expect("open");
    let data = pattern(9000, 3);
    store.file_save(&key("streamed"), &data).expect("save");
    let conn = rusqlite::Connection::open(&db).expect("raw");
    let rowids: Vec<i64> = conn
        .prepare("SELECT rowid FROM file_chunks WHERE path = 'streamed' ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let mut streamed = Vec::new();
    for rowid in rowids {
        let mut blob = conn
            .blob_open(rusqlite::MAIN_DB, c"file_chunks", c"data", rowid, true)
            .expect("blob I/O on a chunk");
        std::io::Read::read_to_end(&mut blob, &mut streamed).expect("read");
    }
    assert_eq!(streamed, data);
}

#[test]
fn a_damaged_chunked_value_is_reported_not_returned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("damaged.db");
    let store = SqliteStorage::with_config(SqliteConfig::file(&db).chunk_size(4096)).expect("open");
    store
        .file_save(&key("v"), &pattern(10_000, 4))
        .expect("save");
    rusqlite::Connection::open(&db)
        .expect("raw")
        .execute("DELETE FROM file_chunks WHERE path = 'v' AND seq = 1", [])
        .expect("damage");
    let err = store.file_bytes(&key("v")).expect_err("damaged");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("chunk 1 is missing"), "{err}");
    let rows = store.unreadable_rows().expect("scan");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].path(), Some("v"));
}

#[test]
fn chunk_sizes_out_of_range_are_refused() {
    for size in [0, 1023, 2_000_000_000] {
        let err = SqliteStorage::with_config(SqliteConfig::in_memory().chunk_size(size))
            .expect_err("out of range");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("chunk size"), "{err}");
    }
}

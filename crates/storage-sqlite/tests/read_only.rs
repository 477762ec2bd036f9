//! A database file this process cannot write opens read-only: reads work, writes are
//! refused with an error that says why, and the store says it is read-only.
//!
//! Root writes any file whatever its mode, so under root the check runs in a child
//! process (this test binary re-run on an ignored entry point) that first drops to
//! the `nobody` user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use memory_fs_storage::{Batch, ErrorKind, SafePath, Storage};
use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};

const CHILD_DB: &str = "MEMORY_FS_SQLITE_READ_ONLY_DB";
const NOBODY: u32 = 65534;

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

/// Opens `db` (not writable by this process) and checks everything a read-only store
/// promises.
fn check_read_only(db: &Path) {
    let store = SqliteStorage::open(db).expect("a read-only file opens");
    assert!(store.read_only(), "the store says it is read-only");
    assert_eq!(
        store.files_paths(None).expect("list").len(),
        2,
        "both keys are listed"
    );
    assert_eq!(
        store.file_bytes(&key("kept/a")).expect("load").as_deref(),
        Some(&b"alpha"[..])
    );
    assert!(store.file_exists(&key("kept/b")).expect("exists"));
    let refusals = [
        store.file_save(&key("kept/a"), b"x").map(drop),
        store.file_create(&key("new"), b"x").map(drop),
        store.file_delete(&key("kept/a")).map(drop),
        store.apply(&Batch::new().put(key("new"), b"x")).map(drop),
        store.clear().map(drop),
    ];
    for refused in refusals {
        let err = refused.expect_err("a write to a read-only store");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("opened read-only"), "{err}");
    }
    assert_eq!(
        store.file_bytes(&key("kept/a")).expect("load").as_deref(),
        Some(&b"alpha"[..]),
        "nothing changed"
    );
}

/// The child's entry point: drops to `nobody`, then checks (run only by the tests
/// below, hence ignored).
#[test]
#[ignore = "entry point of the child process of read_only_files_open_read_only"]
fn read_only_child() {
    let db = std::env::var(CHILD_DB).expect("run by read_only_files_open_read_only");
    // SAFETY: plain system calls on this process's own credentials, with no memory
    // handed to them.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setgid(NOBODY), 0, "setgid");
        assert_eq!(libc::setuid(NOBODY), 0, "setuid");
    }
    check_read_only(Path::new(&db));
}

/// A database with two keys, its file made read-only (mode 0444) in a directory
/// anyone may write (where SQLite keeps its `-shm` file).
fn read_only_db(dir: &Path, layout: Layout) -> std::path::PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod dir");
    let db = dir.join("ro.db");
    let store = SqliteStorage::with_config(SqliteConfig::file(&db).layout(layout)).expect("open");
    store.file_save(&key("kept/a"), b"alpha").expect("save");
    store.file_save(&key("kept/b"), b"beta").expect("save");
    drop(store);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod db");
    db
}

#[test]
fn read_only_files_open_read_only() {
    for layout in [Layout::Native, Layout::Python] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = read_only_db(dir.path(), layout);
        // SAFETY: `geteuid` reads this process's credentials and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            check_read_only(&db);
            continue;
        }
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "read_only_child", "--ignored", "--nocapture"])
            .env(CHILD_DB, &db)
            .output()
            .expect("run child");
        assert!(
            out.status.success(),
            "{layout:?}: the read-only child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn read_only_can_be_asked_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("asked.db");
    SqliteStorage::open(&db)
        .expect("open")
        .file_save(&key("kept/a"), b"alpha")
        .expect("save");
    let store = SqliteStorage::with_config(SqliteConfig::file(&db).read_only()).expect("open");
    assert!(store.read_only());
    assert_eq!(
        store.file_bytes(&key("kept/a")).expect("load").as_deref(),
        Some(&b"alpha"[..])
    );
    let err = store.file_save(&key("x"), b"x").expect_err("read-only");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(!SqliteStorage::open(&db).expect("open").read_only());
}

#[test]
fn a_read_only_file_without_a_table_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("empty.db");
    rusqlite::Connection::open(&db)
        .expect("raw")
        .execute_batch("CREATE TABLE other (x)")
        .expect("other table");
    let err = SqliteStorage::with_config(SqliteConfig::file(&db).read_only())
        .expect_err("nothing to read");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string().contains("holds no memory-fs table"),
        "{err}"
    );
}

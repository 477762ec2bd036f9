//! The store holds its root open: a root deleted under it refuses writes with a clear
//! error instead of writing where nobody can read.

use memory_fs_storage::{ErrorKind, SafePath, Storage};
use memory_fs_storage_disk::DiskStorage;

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

#[test]
fn a_deleted_root_refuses_writes() {
    let parent = tempfile::tempdir().expect("tempdir");
    let root = parent.path().join("store");
    let store = DiskStorage::open(&root).expect("open");
    store.file_save(&key("a/b"), b"1").expect("save");
    store.file_save(&key("top"), b"2").expect("save");

    std::fs::remove_dir_all(&root).expect("delete the root");

    for k in ["a/b", "top", "new/deep/key"] {
        let err = store.file_save(&key(k), b"lost?").expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
        assert!(err.to_string().contains("was deleted"), "{err}");
        assert_eq!(store.file_bytes(&key(k)).expect("load"), None);
        assert!(!store.file_exists(&key(k)).expect("exists"));
    }
    assert!(
        !root.exists(),
        "nothing recreated the root behind the caller's back"
    );
}

#[test]
fn keys_resolve_the_same_through_every_operation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = DiskStorage::open(dir.path()).expect("open");
    store.file_save(&key("x/y/z.json"), b"{}").expect("save");
    std::fs::create_dir_all(dir.path().join("x/y/dir")).expect("plain directory");
    std::fs::write(dir.path().join("x/file"), b"f").expect("plain file");

    assert_eq!(
        store.file_bytes(&key("x/y/z.json")).expect("load"),
        Some(b"{}".to_vec())
    );
    assert!(store.file_exists(&key("x/y/z.json")).expect("exists"));
    // A directory is not a key; a path through a file leads nowhere.
    assert_eq!(store.file_bytes(&key("x/y/dir")).expect("load"), None);
    assert!(!store.file_exists(&key("x/y/dir")).expect("exists"));
    assert!(!store.file_delete(&key("x/y/dir")).expect("delete"));
    assert_eq!(store.file_bytes(&key("x/file/z")).expect("load"), None);
    assert!(!store.file_exists(&key("x/file/z")).expect("exists"));
    assert!(!store.file_delete(&key("x/file/z")).expect("delete"));
    assert_eq!(
        store
            .file_save(&key("x/file/z"), b"1")
            .expect_err("a key on the way")
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        store
            .file_save(&key("x/y"), b"1")
            .expect_err("keys below")
            .kind(),
        ErrorKind::Conflict
    );
    assert!(store.file_delete(&key("x/y/z.json")).expect("delete"));
    assert!(!store.file_delete(&key("x/y/z.json")).expect("delete again"));
}

//! Nothing escapes the root: symbolic links planted inside it are refused, never
//! followed, for every operation; reserved names are refused.

use std::os::unix::fs::symlink;

use memory_fs_storage::{ErrorKind, SafePath, Storage};
use memory_fs_storage_disk::DiskStorage;

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

#[test]
fn planted_symlinks_are_never_followed() {
    let outside = tempfile::tempdir().expect("outside dir");
    std::fs::write(outside.path().join("secret"), b"outside secret").expect("write outside");
    let root = tempfile::tempdir().expect("store root");
    symlink(outside.path(), root.path().join("dirlink")).expect("plant dir link");
    symlink(outside.path().join("secret"), root.path().join("filelink")).expect("plant file link");
    let store = DiskStorage::open(root.path()).expect("open");

    let refused = |r: memory_fs_storage::Result<()>| {
        assert_eq!(r.expect_err("refused").kind(), ErrorKind::Conflict)
    };
    refused(store.file_save(&key("dirlink/new"), b"escape"));
    refused(store.file_save(&key("filelink"), b"overwrite"));
    refused(store.file_create(&key("dirlink/x"), b"escape"));
    assert_eq!(
        store
            .file_bytes(&key("filelink"))
            .expect_err("refused")
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        store
            .file_bytes(&key("dirlink/secret"))
            .expect_err("refused")
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        store
            .file_exists(&key("dirlink/secret"))
            .expect_err("refused")
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        store
            .file_delete(&key("filelink"))
            .expect_err("refused")
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        store
            .file_delete(&key("dirlink/secret"))
            .expect_err("refused")
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        store.files_paths(None).expect("list"),
        Vec::<SafePath>::new(),
        "links are not listed"
    );
    assert_eq!(
        store
            .files_paths(Some(&key("dirlink")))
            .expect_err("refused")
            .kind(),
        ErrorKind::Conflict
    );

    assert_eq!(
        std::fs::read(outside.path().join("secret")).expect("still there"),
        b"outside secret"
    );
    assert_eq!(
        std::fs::read_dir(outside.path())
            .expect("list outside")
            .count(),
        1,
        "nothing was written outside"
    );
    store.clear().expect("clear");
    assert!(
        outside.path().join("secret").exists(),
        "clear removes the link, not its target"
    );
}

#[test]
fn reserved_temporary_names_are_refused() {
    let root = tempfile::tempdir().expect("store root");
    let store = DiskStorage::open(root.path()).expect("open");
    let err = store
        .file_save(&key("a/.memory-fs-tmp.1"), b"x")
        .expect_err("reserved");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    insta::assert_snapshot!(err.to_string(), @"key a/.memory-fs-tmp.1 conflicts with an existing key: names starting with `.memory-fs-tmp.` are reserved for temporary files");
}

#[test]
fn deletes_prune_empty_directories() {
    let root = tempfile::tempdir().expect("store root");
    let store = DiskStorage::open(root.path()).expect("open");
    store.file_save(&key("a/b/c/d"), b"x").expect("save");
    store.file_save(&key("a/keep"), b"y").expect("save");
    assert!(store.file_delete(&key("a/b/c/d")).expect("delete"));
    assert!(
        !root.path().join("a/b").exists(),
        "empty directories are removed"
    );
    assert!(
        root.path().join("a").exists(),
        "a directory with a key stays"
    );
    assert!(store.file_delete(&key("a/keep")).expect("delete"));
    assert!(
        root.path().exists() && !root.path().join("a").exists(),
        "pruning stops at the root"
    );
}

/// The streaming calls and copies open keys as reads do: a planted link is refused
/// as the key, as a directory on the way, as a copy's source and as its target, and
/// what lies outside is never read or written.
#[test]
fn streaming_calls_never_follow_planted_symlinks() {
    let outside = tempfile::tempdir().expect("outside dir");
    std::fs::write(outside.path().join("secret"), b"outside secret").expect("write outside");
    let root = tempfile::tempdir().expect("store root");
    symlink(outside.path(), root.path().join("dirlink")).expect("plant dir link");
    symlink(outside.path().join("secret"), root.path().join("filelink")).expect("plant file link");
    let store = DiskStorage::open(root.path()).expect("open");
    store.file_save(&key("inside"), b"inside").expect("save");

    for link in ["filelink", "dirlink/secret"] {
        let k = key(link);
        let kind = |e: memory_fs_storage::StorageError| e.kind();
        assert_eq!(
            store.file_reader(&k).map(|r| r.is_some()).map_err(kind),
            Err(ErrorKind::Conflict),
            "{link}"
        );
        assert_eq!(
            store.file_range(&k, 0, 5).map_err(kind),
            Err(ErrorKind::Conflict),
            "{link}"
        );
        assert_eq!(
            store.file_size(&k).map_err(kind),
            Err(ErrorKind::Conflict),
            "{link}"
        );
        assert_eq!(
            store.file_copy(&k, &key("copied")).map_err(kind),
            Err(ErrorKind::Conflict),
            "{link} as a copy's source"
        );
        assert_eq!(
            store.file_copy(&key("inside"), &k).map_err(kind),
            Err(ErrorKind::Conflict),
            "{link} as a copy's target"
        );
        assert_eq!(
            store
                .file_save_from(&k, &mut &b"overwrite"[..])
                .map_err(kind),
            Err(ErrorKind::Conflict),
            "{link}"
        );
    }
    assert_eq!(
        std::fs::read(outside.path().join("secret")).expect("read outside"),
        b"outside secret"
    );
    assert_eq!(
        std::fs::read_dir(outside.path())
            .expect("list outside")
            .count(),
        1,
        "nothing was written outside"
    );
    assert!(!store.file_exists(&key("copied")).expect("exists"));
}

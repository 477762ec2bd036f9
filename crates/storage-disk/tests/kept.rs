//! Directories kept open between calls answer exactly as a walk would: the same
//! operations, with another program renaming, removing, exchanging and replacing the
//! store's directories (by links too) in between, give the same results and leave the
//! same tree on a store that keeps directories, one that keeps at most two (forgetting
//! all of them again and again), and one that walks every time.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;

use memory_fs_storage::{ErrorKind, SafePath, Storage};
use memory_fs_storage_disk::{DiskConfig, DiskStorage};
use proptest::prelude::*;
use rustix::fs::{CWD, RenameFlags};

const DIRS: [&str; 5] = ["d0", "d1", "d0/e0", "d0/e1", "d1/e0"];
const NAMES: [&str; 2] = ["k0", "k1"];

#[derive(Debug, Clone)]
enum Op {
    Save(usize, usize, u8),
    Load(usize, usize),
    Exists(usize, usize),
    Delete(usize, usize),
    List,
    ListPrefix(usize),
    /// Another program: `mv a b`.
    Rename(usize, usize),
    /// Another program: `rm -r a`.
    Remove(usize),
    /// Another program: `renameat2(a, b, RENAME_EXCHANGE)`.
    Exchange(usize, usize),
    /// Another program: `mv a a.away && ln -s a.away a`.
    Link(usize),
    /// Another program: `mkdir -p a && echo v > a/k0`.
    Plant(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0..DIRS.len();
    let n = 0..NAMES.len();
    prop_oneof![
        4 => (d.clone(), n.clone(), any::<u8>()).prop_map(|(d, n, v)| Op::Save(d, n, v)),
        3 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Load(d, n)),
        3 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Exists(d, n)),
        2 => (d.clone(), n).prop_map(|(d, n)| Op::Delete(d, n)),
        1 => Just(Op::List),
        1 => d.clone().prop_map(Op::ListPrefix),
        2 => (d.clone(), d.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => d.clone().prop_map(Op::Remove),
        2 => (d.clone(), d.clone()).prop_map(|(a, b)| Op::Exchange(a, b)),
        1 => d.clone().prop_map(Op::Link),
        1 => (d, any::<u8>()).prop_map(|(d, v)| Op::Plant(d, v)),
    ]
}

fn key(d: usize, n: usize) -> SafePath {
    SafePath::new(format!("{}/{}", DIRS[d], NAMES[n])).expect("key")
}

/// What a call answered, comparable across stores.
type Outcome = Result<String, ErrorKind>;

fn outcome<T: std::fmt::Debug>(r: memory_fs_storage::Result<T>) -> Outcome {
    r.map(|v| format!("{v:?}")).map_err(|e| e.kind())
}

/// Applies `op` to `store` at `root`; another program's changes go to the directory.
fn apply(store: &DiskStorage, root: &Path, op: &Op) -> Outcome {
    let at = |d: usize| root.join(DIRS[d]);
    let io = |r: std::io::Result<()>| {
        r.map(|()| "done".to_owned())
            .map_err(|_| ErrorKind::Backend)
    };
    match *op {
        Op::Save(d, n, v) => outcome(store.file_save(&key(d, n), &[v])),
        Op::Load(d, n) => outcome(store.file_bytes(&key(d, n))),
        Op::Exists(d, n) => outcome(store.file_exists(&key(d, n))),
        Op::Delete(d, n) => outcome(store.file_delete(&key(d, n))),
        Op::List => outcome(store.files_paths(None)),
        Op::ListPrefix(d) => {
            outcome(store.files_paths(Some(&SafePath::new(DIRS[d]).expect("key"))))
        }
        Op::Rename(a, b) => io(std::fs::rename(at(a), at(b))),
        Op::Remove(d) => io(std::fs::remove_dir_all(at(d))),
        Op::Exchange(a, b) => {
            io(
                rustix::fs::renameat_with(CWD, at(a), CWD, at(b), RenameFlags::EXCHANGE)
                    .map_err(Into::into),
            )
        }
        Op::Link(d) => {
            let away = format!("{}.away", at(d).display());
            let name = format!("{}.away", DIRS[d].rsplit('/').next().expect("name"));
            io(std::fs::rename(at(d), &away).and_then(|()| symlink(name, at(d))))
        }
        Op::Plant(d, v) => {
            io(std::fs::create_dir_all(at(d))
                .and_then(|()| std::fs::write(at(d).join(NAMES[0]), [v])))
        }
    }
}

/// Every entry below `dir`: files with their bytes, links with their targets.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let name = path
                .strip_prefix(root)
                .expect("below")
                .display()
                .to_string();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            if meta.is_symlink() {
                let target = std::fs::read_link(&path).expect("readlink");
                out.insert(name, format!("-> {}", target.display()));
            } else if meta.is_dir() {
                out.insert(format!("{name}/"), String::new());
                walk(root, &path, out);
            } else {
                out.insert(name, format!("{:?}", std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn store(root: &Path, open_dirs: usize) -> DiskStorage {
    DiskStorage::with_config(DiskConfig {
        fsync: false,
        open_dirs,
        ..DiskConfig::new(root)
    })
    .expect("open")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn kept_directories_answer_as_a_walk(ops in proptest::collection::vec(op(), 1..60)) {
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
        let stores = [
            store(dirs[0].path(), 0),
            store(dirs[1].path(), DiskConfig::DEFAULT_OPEN_DIRS),
            store(dirs[2].path(), 2),
        ];
        for (i, op) in ops.iter().enumerate() {
            let walked = apply(&stores[0], dirs[0].path(), op);
            for (store, dir) in stores.iter().zip(&dirs).skip(1) {
                let kept = apply(store, dir.path(), op);
                prop_assert_eq!(&kept, &walked, "step {} ({:?})", i, op);
            }
        }
        let walked = tree(dirs[0].path());
        for dir in &dirs[1..] {
            prop_assert_eq!(&tree(dir.path()), &walked);
        }
    }
}

#[test]
fn a_directory_renamed_by_another_program_is_found_at_its_new_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = DiskStorage::open(dir.path()).expect("open");
    let k = |s: &str| SafePath::new(s).expect("key");
    store.file_save(&k("a/b/c/key"), b"1").expect("save");
    assert!(store.file_exists(&k("a/b/c/key")).expect("exists"));
    // The ancestor moves: every kept directory below it is forgotten.
    std::fs::rename(dir.path().join("a"), dir.path().join("z")).expect("rename");
    assert!(!store.file_exists(&k("a/b/c/key")).expect("exists"));
    assert_eq!(
        store.file_bytes(&k("z/b/c/key")).expect("load"),
        Some(b"1".to_vec())
    );
    // A save at the old name makes a new directory, not a write into the moved one.
    store.file_save(&k("a/b/c/key"), b"2").expect("save");
    assert_eq!(
        std::fs::read(dir.path().join("z/b/c/key")).expect("read"),
        b"1"
    );
    assert_eq!(
        std::fs::read(dir.path().join("a/b/c/key")).expect("read"),
        b"2"
    );
    // Replaced by a link: refused, as a walk refuses it.
    std::fs::rename(dir.path().join("a/b"), dir.path().join("a/moved")).expect("rename");
    symlink("moved", dir.path().join("a/b")).expect("link");
    let err = store
        .file_bytes(&k("a/b/c/key"))
        .expect_err("a link on the way");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(store.file_delete(&k("a/b/c/key")).is_err());
    assert_eq!(
        std::fs::read(dir.path().join("a/moved/c/key")).expect("read"),
        b"2"
    );
}

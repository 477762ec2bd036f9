//! A hostile writer inside the root: while a thread swaps a directory of the store with
//! a symbolic link to a directory outside it (`renameat2(RENAME_EXCHANGE)` in a loop),
//! every operation of the store runs against keys below that directory for a bounded
//! time. Not one read may return outside bytes, no listing may show an outside name,
//! and nothing outside may be written, replaced or deleted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memory_fs_storage::{Batch, ErrorKind, Expect, SafePath, Storage, StorageError};
use memory_fs_storage_disk::DiskStorage;
use rustix::fs::{Mode, OFlags, RenameFlags};

/// How long each operation runs against the swapping.
const EACH: Duration = Duration::from_millis(300);

/// What every file outside the root holds; a read that returns it escaped.
const OUTSIDE: &[u8] = b"OUTSIDE";

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

/// Every file below `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let name = path
                .strip_prefix(root)
                .expect("below")
                .display()
                .to_string();
            if meta.is_dir() {
                out.insert(format!("{name}/"), Vec::new());
                walk(root, &path, out);
            } else {
                out.insert(name, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Whether an error is the refusal a swapped-in link deserves.
fn refused(e: &StorageError) -> bool {
    e.kind() == ErrorKind::Conflict
}

/// The verdicts of one run: escapes and unexpected errors, by operation.
#[derive(Default)]
struct Verdicts {
    escapes: Vec<String>,
    errors: Vec<String>,
    calls: u64,
}

impl Verdicts {
    fn escape(&mut self, op: &str, what: impl std::fmt::Display) {
        self.escapes.push(format!("{op}: {what}"));
    }

    /// Records a result: an error other than a refusal is unexpected.
    fn check<T>(&mut self, op: &str, result: memory_fs_storage::Result<T>) -> Option<T> {
        self.calls += 1;
        match result {
            Ok(v) => Some(v),
            Err(e) if refused(&e) => None,
            Err(e) => {
                if self.errors.len() < 20 {
                    self.errors.push(format!("{op}: {e}"));
                }
                None
            }
        }
    }
}

#[test]
fn no_operation_escapes_a_directory_swapped_for_a_link() {
    let outside = tempfile::tempdir().expect("outside");
    for name in ["k", "only-outside", "sub/k", "sub/only-outside"] {
        let path = outside.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, OUTSIDE).expect("write outside");
    }
    let before = snapshot(outside.path());
    let root = tempfile::tempdir().expect("root");
    let store = DiskStorage::open(root.path()).expect("open");
    store.file_save(&key("d/k"), b"inside").expect("seed");
    store.file_save(&key("d/sub/k"), b"inside").expect("seed");
    std::os::unix::fs::symlink(outside.path(), root.path().join("d.swap")).expect("link");

    let stop = AtomicBool::new(false);
    let swaps = AtomicU64::new(0);
    let mut verdicts = Verdicts::default();
    std::thread::scope(|s| {
        s.spawn(|| {
            let dir = rustix::fs::open(
                root.path(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .expect("open root");
            while !stop.load(Ordering::Relaxed) {
                // Fails once `clear` has removed both names; the swapping then idles.
                if rustix::fs::renameat_with(&dir, "d", &dir, "d.swap", RenameFlags::EXCHANGE)
                    .is_ok()
                {
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let v = &mut verdicts;
        // Runs one operation's body over and over for `EACH`, numbering the rounds.
        let run = |v: &mut Verdicts, body: &mut dyn FnMut(&mut Verdicts, u64)| {
            let until = Instant::now() + EACH;
            let mut i = 0;
            while Instant::now() < until {
                body(v, i);
                i += 1;
            }
        };
        let bad = |bytes: &Option<Vec<u8>>| bytes.as_deref() == Some(OUTSIDE);
        run(v, &mut |v, _| {
            for k in ["d/k", "d/sub/k", "d/only-outside"] {
                if let Some(got) = v.check("load", store.file_bytes(&key(k)))
                    && bad(&got)
                {
                    v.escape("load", k);
                }
            }
        });
        run(v, &mut |v, _| {
            if let Some(Some((bytes, _))) = v.check("get", store.file_get(&key("d/sub/k")))
                && bytes == OUTSIDE
            {
                v.escape("get", "d/sub/k");
            }
        });
        run(v, &mut |v, _| {
            for k in ["d/only-outside", "d/sub/only-outside"] {
                if v.check("exists", store.file_exists(&key(k))) == Some(true) {
                    v.escape("exists", k);
                }
            }
        });
        run(v, &mut |v, _| {
            for prefix in [None, Some("d"), Some("d/sub")] {
                let listed = v.check("list", store.files_paths(prefix.map(key).as_ref()));
                for k in listed.into_iter().flatten() {
                    if k.as_str().ends_with("only-outside") {
                        v.escape("list", k);
                    }
                }
            }
        });
        run(v, &mut |v, i| {
            v.check("save", store.file_save(&key(&format!("d/new-{i}")), b"new"));
            v.check("save", store.file_save(&key("d/k"), b"inside"));
            v.check(
                "save",
                store.file_save(&key(&format!("d/deep/{i}/x")), b"new"),
            );
        });
        run(v, &mut |v, i| {
            let _ = store.file_create(&key(&format!("d/created-{i}")), b"new");
            v.calls += 1;
        });
        run(v, &mut |v, i| {
            let k = key(&format!("d/cas-{}", i % 4));
            match store.file_save_if(&k, b"cas", &Expect::Absent) {
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::AlreadyExists | ErrorKind::Conflict) => {}
                Err(e) => v.errors.push(format!("save_if: {e}")),
            }
            v.calls += 1;
        });
        run(v, &mut |v, i| {
            v.check("delete", store.file_delete(&key("d/k")));
            v.check("delete", store.file_delete(&key("d/sub/k")));
            v.check("delete", store.file_delete(&key(&format!("d/new-{i}"))));
            v.check("delete", store.file_delete(&key(&format!("d/deep/{i}/x"))));
            v.check("save", store.file_save(&key("d/sub/k"), b"inside"));
        });
        run(v, &mut |v, i| {
            v.check(
                "copy",
                store.file_copy(&key("d/sub/k"), &key(&format!("d/copied-{}", i % 8))),
            );
            if let Some(Some(got)) = v.check("load", store.file_bytes(&key("d/copied-0")))
                && got == OUTSIDE
            {
                v.escape("copy", "d/copied-0");
            }
        });
        run(v, &mut |v, i| {
            let batch = Batch::new()
                .check(key("d/nothing"), Expect::Absent)
                .put(key(&format!("d/batch-{}", i % 8)), b"batch")
                .delete(key("d/k"))
                .put(key("d/k"), b"inside");
            match store.apply(&batch) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::AlreadyExists) => {}
                Err(e) => v.errors.push(format!("apply: {e}")),
            }
            v.calls += 1;
        });
        run(v, &mut |v, _| {
            v.check("clear", store.clear());
            v.check("save", store.file_save(&key("top"), b"x"));
        });
        stop.store(true, Ordering::Relaxed);
    });
    let after = snapshot(outside.path());
    assert_eq!(after, before, "the directory outside the root changed");
    assert!(
        verdicts.escapes.is_empty(),
        "{} escapes, first: {:?}",
        verdicts.escapes.len(),
        &verdicts.escapes[..verdicts.escapes.len().min(10)]
    );
    assert!(
        verdicts.errors.is_empty(),
        "errors other than a refusal: {:#?}",
        verdicts.errors
    );
    let swaps = swaps.load(Ordering::Relaxed);
    eprintln!(
        "hostile swap test: {} calls against {swaps} swaps, 0 escapes",
        verdicts.calls
    );
    assert!(swaps > 100, "the swapping ran ({swaps} swaps)");
}

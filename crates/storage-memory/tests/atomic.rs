//! Batches and conditional writes on the memory store, attacked: a batch that fails at
//! any write leaves the tree exactly as it was, a full tree refuses a batch whole, no
//! reader ever sees half a batch, and listings race deletes without failing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use memory_fs_storage::{Batch, ErrorKind, Expect, SafePath, Storage};
use memory_fs_storage_memory::{MemoryConfig, MemoryStorage};

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

/// Every entry of the tree below `/` (directories with a trailing `/`, files with their
/// bytes), staging directory included: the exact state a failed batch must restore.
fn tree(store: &MemoryStorage) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(store: &MemoryStorage, dir: &str, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        let at = if dir.is_empty() { "/" } else { dir };
        for name in store.fs().readdir(at).expect("readdir") {
            let path = format!("{dir}/{name}");
            if store.fs().lstat(&path).expect("lstat").is_dir() {
                out.insert(format!("{path}/"), None);
                walk(store, &path, out);
            } else {
                out.insert(
                    path.clone(),
                    Some(store.fs().read_file(&path).expect("read")),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(store, "", &mut out);
    out
}

/// A store with a few keys, some of them nested, so batches have things to replace,
/// delete and collide with.
fn seeded(config: MemoryConfig) -> MemoryStorage {
    let store = MemoryStorage::with_config(config);
    for (k, v) in [
        ("a/one", "1"),
        ("a/two", "2"),
        ("b/deep/three", "3"),
        ("file", "f"),
    ] {
        store.file_save(&key(k), v.as_bytes()).expect("seed");
    }
    store
}

/// The writes of a batch that touches every kind of step: replace, create with new
/// directories, delete (pruning a directory), a key whose parent was deleted first.
fn good_writes() -> Vec<(&'static str, Option<&'static [u8]>)> {
    vec![
        ("a/one", Some(b"replaced")),
        ("new/dir/key", Some(b"created")),
        ("b/deep/three", None),
        ("file", None),
        ("file/now-a-dir", Some(b"after the delete")),
        ("a/two", None),
        ("a/two", Some(b"deleted then written")),
    ]
}

fn batch_of<'a>(writes: &[(&'a str, Option<&'a [u8]>)]) -> Batch<'a> {
    let mut batch = Batch::new();
    for (k, data) in writes {
        batch = match data {
            Some(d) => batch.put(key(k), d),
            None => batch.delete(key(k)),
        };
    }
    batch
}

#[test]
fn a_batch_failing_at_any_write_leaves_the_tree_as_it_was() {
    let good = good_writes();
    // Writes that cannot succeed on a tree-shaped store, wherever they stand.
    let bad: [(&str, &[u8]); 3] = [
        ("a/one/below-a-key", b"x"),
        ("a", b"over a directory"),
        (".memory-fs-staging/x", b"reserved"),
    ];
    for (bad_key, bad_data) in bad {
        for k in 0..=good.len() {
            let store = seeded(MemoryConfig::default());
            let before = tree(&store);
            let mut writes = good.clone();
            writes.insert(k, (bad_key, Some(bad_data)));
            let err = store
                .apply(&batch_of(&writes))
                .expect_err("the bad write fails");
            assert!(
                matches!(err.kind(), ErrorKind::Conflict),
                "{bad_key} at {k}: {err}"
            );
            let mut after = tree(&store);
            // The staging directory may have been made by this batch; it holds nothing.
            if !before.contains_key("/.memory-fs-staging/") {
                after.remove("/.memory-fs-staging/");
            }
            assert_eq!(after, before, "{bad_key} at write {k}: the tree changed");
        }
    }
    // And the same batch without the bad write applies whole.
    let store = seeded(MemoryConfig::default());
    store.apply(&batch_of(&good)).expect("apply");
    let keys: Vec<String> = store
        .files_paths(None)
        .expect("list")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        keys,
        ["a/one", "a/two", "file/now-a-dir", "new/dir/key"],
        "b/deep was pruned, file became a directory"
    );
    assert_eq!(
        store.file_bytes(&key("a/two")).expect("load").as_deref(),
        Some(&b"deleted then written"[..])
    );
    assert_eq!(
        store.fs().readdir("/.memory-fs-staging").expect("staging"),
        Vec::<String>::new(),
        "no staged or set-aside file is left"
    );
}

#[test]
fn a_full_tree_refuses_the_whole_batch() {
    let store = seeded(MemoryConfig {
        capacity: Some(64 * 1024),
    });
    let before = tree(&store);
    let big = vec![9u8; 40 * 1024];
    let batch = Batch::new()
        .delete(key("a/one"))
        .put(key("first"), &big)
        .put(key("second"), &big);
    let err = store
        .apply(&batch)
        .expect_err("80 KiB do not fit in 64 KiB");
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("No space left"), "{err}");
    let mut after = tree(&store);
    after.remove("/.memory-fs-staging/");
    let mut before = before;
    before.remove("/.memory-fs-staging/");
    assert_eq!(after, before, "nothing of the batch remains");
    // What fits still applies.
    store
        .apply(&Batch::new().put(key("first"), &big))
        .expect("40 KiB fit");
}

#[test]
fn a_failed_check_writes_nothing_and_a_passing_one_writes_all() {
    let store = seeded(MemoryConfig::default());
    let (_, v) = store.file_get(&key("a/one")).expect("get").expect("exists");
    let before = tree(&store);
    let stale = Batch::new()
        .check(key("a/one"), Expect::Version(v.clone()))
        .check(key("a/two"), Expect::Absent)
        .put(key("a/one"), b"x");
    let err = store.apply(&stale).expect_err("a/two exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(tree(&store), before);
    store
        .apply(
            &Batch::new()
                .check(key("a/one"), Expect::Version(v))
                .check(key("missing"), Expect::Absent)
                .put(key("a/one"), b"x"),
        )
        .expect("both checks hold");
}

/// Batches rewrite `pair/x` and `pair/y` together (always equal), move a token between
/// `token/left` and `token/right`, and put `half` then `whole` at one key; readers on
/// other threads must never see the pair differ, the token twice or not at all, or
/// the intermediate value.
#[test]
fn readers_never_see_half_a_batch() {
    let store = MemoryStorage::new();
    store.file_save(&key("pair/x"), b"0").expect("seed");
    store.file_save(&key("pair/y"), b"0").expect("seed");
    store.file_save(&key("token/left"), b"t").expect("seed");
    store.file_save(&key("one"), b"whole").expect("seed");
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_millis(1500);
    let (batches, reads) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let value = n.to_string();
                let (from, to) = if n % 2 == 1 {
                    ("token/left", "token/right")
                } else {
                    ("token/right", "token/left")
                };
                let batch = Batch::new()
                    .put(key("pair/x"), value.as_bytes())
                    .delete(key(from))
                    .put(key("one"), b"half")
                    .put(key(to), b"t")
                    .put(key("one"), b"whole")
                    .put(key("pair/y"), value.as_bytes());
                store.apply(&batch).expect("apply");
            }
            stop.store(true, Ordering::Relaxed);
            n
        });
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut reads = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let tokens = store.files_paths(Some(&key("token"))).expect("list");
                        assert_eq!(
                            tokens.len(),
                            1,
                            "the token is in exactly one place: {tokens:?}"
                        );
                        let one = store.file_bytes(&key("one")).expect("load");
                        assert_eq!(one.as_deref(), Some(&b"whole"[..]), "an intermediate value");
                        let all = store.files_paths(None).expect("list");
                        assert_eq!(all.len(), 4, "{all:?}");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let n = writer.join().expect("writer");
        let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
        (n, reads)
    });
    // The pair is read by the listing-free path too: both keys of one batch.
    let x = store.file_bytes(&key("pair/x")).expect("x");
    assert_eq!(x, store.file_bytes(&key("pair/y")).expect("y"));
    assert!(
        batches > 10 && reads > 10,
        "{batches} batches, {reads} reads"
    );
}

/// `file_save_if` against plain saves and deletes of the same key on other threads:
/// a conditional write that succeeds was based on the value it replaced, so a counter
/// kept with it never loses an increment even while other writers clobber a sibling.
#[test]
fn conditional_writes_are_atomic_against_every_other_writer() {
    let store = MemoryStorage::new();
    let counter = key("c/counter");
    store.file_save(&counter, b"0").expect("seed");
    const THREADS: usize = 4;
    const INCREMENTS: usize = 200;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let store = &store;
            let counter = &counter;
            s.spawn(move || {
                let mine = key(&format!("c/noise-{t}"));
                let mut done = 0;
                while done < INCREMENTS {
                    store.file_save(&mine, b"noise").expect("save");
                    let (bytes, v) = store.file_get(counter).expect("get").expect("exists");
                    let n: usize = std::str::from_utf8(&bytes)
                        .expect("utf-8")
                        .parse()
                        .expect("number");
                    match store.file_save_if(
                        counter,
                        (n + 1).to_string().as_bytes(),
                        &Expect::Version(v),
                    ) {
                        Ok(_) => done += 1,
                        Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                        Err(e) => panic!("{e}"),
                    }
                    assert!(store.file_delete(&mine).expect("delete"));
                }
            });
        }
    });
    assert_eq!(
        store.file_bytes(&counter).expect("load"),
        Some((THREADS * INCREMENTS).to_string().into_bytes())
    );
}

/// A listing racing saves and deletes (which prune directories) on other threads never
/// fails: an entry removed between reading a directory and looking at the entry is
/// simply absent.
#[test]
fn listings_race_deletes_without_failing() {
    let store = MemoryStorage::new();
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_millis(1500);
    std::thread::scope(|s| {
        for t in 0..2 {
            let store = &store;
            let stop = &stop;
            s.spawn(move || {
                let mut round = 0usize;
                while Instant::now() < deadline {
                    let keys: Vec<SafePath> = (0..20)
                        .map(|i| key(&format!("race/{t}/{}/{i}", round % 3)))
                        .collect();
                    for k in &keys {
                        store.file_save(k, b"v").expect("save");
                    }
                    for k in &keys {
                        assert!(store.file_delete(k).expect("delete"));
                    }
                    round += 1;
                }
                stop.store(true, Ordering::Relaxed);
            });
        }
        let mut listings = 0;
        while !stop.load(Ordering::Relaxed) {
            store.files_paths(None).expect("a listing racing deletes");
            store
                .files_paths(Some(&key("race/0")))
                .expect("a prefix listing racing deletes");
            listings += 1;
        }
        assert!(listings > 0);
    });
    assert_eq!(
        store.files_paths(None).expect("list"),
        Vec::<SafePath>::new()
    );
}

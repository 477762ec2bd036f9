//! The conformance suite: public functions over `&dyn Storage` that every provider's
//! tests run, so all providers are held to one contract.
//!
//! Each case assumes it gets an empty storage and asserts with `panic!`, like a test.
//! Cases that depend on a capability check [`Storage::capabilities`] and print what
//! they skipped; where a capability is absent they still assert the documented
//! fallback (for example `Conflict` for nested keys on a tree-shaped provider).
//!
//! A provider runs the whole suite with one line:
//!
//! ```ignore
//! memory_fs_storage::conformance_tests!(make = || MyStorage::new());
//! ```

use std::collections::BTreeSet;

mod faults;
pub use faults::{Counting, Counts, Fault, Faulty};

use crate::{Batch, ErrorKind, Expect, InvalidPathReason, SafePath, Storage, Version};

/// A key from a literal the suite knows to be valid.
fn key(s: &str) -> SafePath {
    SafePath::new(s).unwrap_or_else(|e| panic!("test key {s:?} is invalid: {e}"))
}

fn keys(storage: &dyn Storage, prefix: Option<&str>) -> Vec<String> {
    let prefix = prefix.map(key);
    storage
        .files_paths(prefix.as_ref())
        .unwrap_or_else(|e| panic!("files_paths({prefix:?}) failed: {e}"))
        .into_iter()
        .map(String::from)
        .collect()
}

fn save(storage: &dyn Storage, k: &str, data: &[u8]) {
    storage
        .file_save(&key(k), data)
        .unwrap_or_else(|e| panic!("file_save({k:?}) failed: {e}"));
}

fn load(storage: &dyn Storage, k: &str) -> Option<Vec<u8>> {
    storage
        .file_bytes(&key(k))
        .unwrap_or_else(|e| panic!("file_bytes({k:?}) failed: {e}"))
}

fn skipped(case: &str, needs: &str) {
    eprintln!("skipped: {case} needs {needs}");
}

/// Save, load, exists, overwrite and delete one key.
pub fn save_load_delete(storage: &dyn Storage) {
    let k = key("dir/file.json");
    assert!(
        !storage.file_exists(&k).expect("exists"),
        "a fresh storage is empty"
    );
    assert_eq!(
        storage.file_bytes(&k).expect("load"),
        None,
        "a missing key loads as None"
    );
    save(storage, "dir/file.json", b"{\"a\":1}");
    assert!(storage.file_exists(&k).expect("exists"));
    assert_eq!(
        load(storage, "dir/file.json").as_deref(),
        Some(&b"{\"a\":1}"[..])
    );
    save(storage, "dir/file.json", b"second, longer version");
    assert_eq!(
        load(storage, "dir/file.json").as_deref(),
        Some(&b"second, longer version"[..])
    );
    save(storage, "dir/file.json", b"3");
    assert_eq!(
        load(storage, "dir/file.json").as_deref(),
        Some(&b"3"[..]),
        "overwrite shrinks"
    );
    assert!(
        storage.file_delete(&k).expect("delete"),
        "delete reports that the key existed"
    );
    assert!(
        !storage.file_delete(&k).expect("delete"),
        "a second delete finds nothing"
    );
    assert!(!storage.file_exists(&k).expect("exists"));
    assert_eq!(keys(storage, None), Vec::<String>::new());
}

/// An empty value is a real value: it exists, loads as empty, and lists.
pub fn empty_value(storage: &dyn Storage) {
    save(storage, "empty", b"");
    assert!(storage.file_exists(&key("empty")).expect("exists"));
    assert_eq!(load(storage, "empty"), Some(Vec::new()));
    assert_eq!(keys(storage, None), ["empty"]);
}

/// Every byte value survives a round trip.
pub fn binary_every_byte(storage: &dyn Storage) {
    let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    save(storage, "bin/all-bytes", &data);
    assert_eq!(load(storage, "bin/all-bytes"), Some(data));
}

/// A 64 MiB value survives a round trip intact.
pub fn large_value(storage: &dyn Storage) {
    let data: Vec<u8> = (0..64 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    save(storage, "large/blob", &data);
    let back = load(storage, "large/blob").expect("the large value exists");
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the large value came back different");
}

/// Unicode and other unusual but valid keys round-trip and list as given.
pub fn unusual_keys(storage: &dyn Storage) {
    let names = [
        "ünïcødé/日本語.txt",
        "emoji/😀",
        "with space/and more",
        "..a",
        "a..",
        ".hidden",
        "back\\slash",
        "percent%20and+plus",
        "quote'\"",
    ];
    for (i, name) in names.iter().enumerate() {
        save(storage, name, format!("value {i}").as_bytes());
    }
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            load(storage, name),
            Some(format!("value {i}").into_bytes()),
            "{name:?}"
        );
    }
    let mut expected: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(keys(storage, None), expected);
}

/// The longest valid segment (255 bytes) and key (1024 bytes) work.
pub fn longest_keys(storage: &dyn Storage) {
    let segment = "s".repeat(crate::MAX_SEGMENT_LEN);
    let long_key =
        vec!["k".repeat(200); 5].join("/") + "/" + &"x".repeat(crate::MAX_PATH_LEN - 1005);
    assert_eq!(long_key.len(), crate::MAX_PATH_LEN);
    save(storage, &segment, b"segment");
    save(storage, &long_key, b"key");
    assert_eq!(load(storage, &segment).as_deref(), Some(&b"segment"[..]));
    assert_eq!(load(storage, &long_key).as_deref(), Some(&b"key"[..]));
}

/// 10,000 keys: all listed, listed by prefix, and deleted.
pub fn many_keys(storage: &dyn Storage) {
    let mut all = BTreeSet::new();
    for i in 0..10_000i32 {
        let k = format!("many/{:02}/{i:05}", i % 100);
        save(storage, &k, &i.to_le_bytes());
        all.insert(k);
    }
    let listed = keys(storage, None);
    assert_eq!(listed.len(), 10_000);
    assert!(
        listed.iter().eq(all.iter()),
        "listing is sorted and complete"
    );
    let under: Vec<String> = keys(storage, Some("many/07"));
    assert_eq!(under.len(), 100);
    assert!(under.iter().all(|k| k.starts_with("many/07/")));
    assert_eq!(
        load(storage, "many/42/00042"),
        Some(42i32.to_le_bytes().to_vec())
    );
    let paths: Vec<SafePath> = all.iter().map(|k| key(k)).collect();
    assert_eq!(storage.files_delete(&paths).expect("batch delete"), 10_000);
    assert_eq!(keys(storage, None), Vec::<String>::new());
}

/// Prefixes are segment-wise: `a` covers `a` and `a/b` but not `ab`.
pub fn prefix_listing(storage: &dyn Storage) {
    save(storage, "ab", b"1");
    save(storage, "a/b", b"2");
    save(storage, "a/c/d", b"3");
    save(storage, "b/a", b"4");
    assert_eq!(keys(storage, Some("a")), ["a/b", "a/c/d"]);
    assert_eq!(keys(storage, Some("a/c")), ["a/c/d"]);
    assert_eq!(
        keys(storage, Some("a/c/d")),
        ["a/c/d"],
        "the prefix key itself is listed"
    );
    assert_eq!(keys(storage, Some("ab")), ["ab"]);
    assert_eq!(keys(storage, Some("zz")), Vec::<String>::new());
    assert_eq!(keys(storage, Some("a/b/c")), Vec::<String>::new());
    assert_eq!(keys(storage, None), ["a/b", "a/c/d", "ab", "b/a"]);
}

/// `a` and `a/b` together: held by flat providers, a clean `Conflict` on tree-shaped ones.
pub fn nested_keys(storage: &dyn Storage) {
    save(storage, "a", b"file a");
    let below = storage.file_save(&key("a/b"), b"below a");
    if storage.capabilities().nested_keys {
        below.expect("a provider with nested_keys holds a and a/b together");
        save(storage, "ab", b"ab");
        assert_eq!(load(storage, "a").as_deref(), Some(&b"file a"[..]));
        assert_eq!(load(storage, "a/b").as_deref(), Some(&b"below a"[..]));
        assert_eq!(keys(storage, Some("a")), ["a", "a/b"]);
        assert!(storage.file_delete(&key("a")).expect("delete"));
        assert_eq!(load(storage, "a/b").as_deref(), Some(&b"below a"[..]));
    } else {
        skipped("nested_keys (holding both)", "nested_keys");
        let err = below.expect_err("a tree-shaped provider refuses a/b while a exists");
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(
            load(storage, "a").as_deref(),
            Some(&b"file a"[..]),
            "the refusal changed nothing"
        );
        assert!(!storage.file_exists(&key("a/b")).expect("exists"));
        save(storage, "x/y", b"deep");
        let err = storage
            .file_save(&key("x"), b"over a directory")
            .expect_err("x is a directory");
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(load(storage, "x/y").as_deref(), Some(&b"deep"[..]));
        assert!(
            !storage.file_exists(&key("x")).expect("exists"),
            "an implied directory is not a value"
        );
        assert!(
            !storage.file_delete(&key("x")).expect("delete"),
            "deleting an implied directory finds nothing"
        );
        assert_eq!(load(storage, "x"), None);
    }
}

/// Batch save and delete; all-or-nothing where the provider says so.
pub fn batches(storage: &dyn Storage) {
    let items: Vec<(SafePath, &[u8])> = (0..50)
        .map(|i| (key(&format!("batch/{i:02}")), &b"value"[..]))
        .collect();
    storage.files_save(&items).expect("batch save");
    assert_eq!(keys(storage, Some("batch")).len(), 50);
    if storage.capabilities().atomic_batch {
        // A batch whose last item cannot be written must leave nothing behind.
        let bad: Vec<(SafePath, &[u8])> = vec![
            (key("atomic/one"), &b"1"[..]),
            (key("atomic/two"), &b"2"[..]),
            (key("batch/00/below-a-file"), &b"3"[..]),
        ];
        match storage.files_save(&bad) {
            Err(_) => assert_eq!(
                keys(storage, Some("atomic")),
                Vec::<String>::new(),
                "a failed atomic batch leaves nothing"
            ),
            Ok(()) => {
                assert!(
                    storage.capabilities().nested_keys,
                    "only a nested-keys provider may accept that batch"
                );
                let written: Vec<SafePath> = bad.iter().map(|(p, _)| p.clone()).collect();
                assert_eq!(storage.files_delete(&written).expect("delete"), 3);
            }
        }
    } else {
        skipped("batches (all-or-nothing)", "atomic_batch");
    }
    let paths: Vec<SafePath> = items.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        storage.files_delete(&paths[..40]).expect("batch delete"),
        40
    );
    assert_eq!(
        storage
            .files_delete(&paths[..40])
            .expect("batch delete again"),
        0
    );
    // `files_remove` deletes what is there and ignores what is not.
    storage
        .files_remove(&paths[30..])
        .expect("remove present and missing keys");
    let left: Vec<String> = keys(storage, Some("batch"))
        .into_iter()
        .filter(|k| paths.iter().any(|p| p.as_str() == k))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "every removed key is gone");
}

/// Conditional create: fails with `AlreadyExists` and leaves the value alone.
pub fn create_if_absent(storage: &dyn Storage) {
    let k = key("once/only");
    storage.file_create(&k, b"first").expect("create");
    let err = storage
        .file_create(&k, b"second")
        .expect_err("the key exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(load(storage, "once/only").as_deref(), Some(&b"first"[..]));
    if storage.capabilities().atomic_create {
        let k = key("race/winner");
        let wins = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u8)
                .map(|i| s.spawn(move || storage.file_create(&key("race/winner"), &[i]).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .filter(|won| *won)
                .count()
        });
        assert_eq!(wins, 1, "exactly one racing creator wins");
        assert!(storage.file_exists(&k).expect("exists"));
    } else {
        skipped("create_if_absent (racing creators)", "atomic_create");
    }
}

/// Several threads writing distinct and shared keys: every value is one that was written whole.
pub fn concurrent_writers(storage: &dyn Storage) {
    const THREADS: u8 = 6;
    const ROUNDS: usize = 60;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for r in 0..ROUNDS {
                    let own: Vec<u8> = vec![t; 1000 + r];
                    save(storage, &format!("conc/own-{t}"), &own);
                    let shared: Vec<u8> = vec![t; 4096];
                    save(storage, "conc/shared", &shared);
                    let back = load(storage, "conc/shared").expect("shared exists");
                    assert!(
                        back.len() == 4096 && back.iter().all(|b| *b == back[0]),
                        "a torn shared value"
                    );
                }
            });
        }
    });
    for t in 0..THREADS {
        assert_eq!(
            load(storage, &format!("conc/own-{t}")),
            Some(vec![t; 1000 + ROUNDS - 1])
        );
    }
    let shared = load(storage, "conc/shared").expect("shared exists");
    assert!(shared.len() == 4096 && shared[0] < THREADS && shared.iter().all(|b| *b == shared[0]));
}

/// `clear` removes everything, and the storage stays usable.
pub fn clear(storage: &dyn Storage) {
    for k in ["c/1", "c/2/3", "top"] {
        save(storage, k, b"x");
    }
    storage.clear().expect("clear");
    assert_eq!(keys(storage, None), Vec::<String>::new());
    save(storage, "c/1", b"again");
    assert_eq!(load(storage, "c/1").as_deref(), Some(&b"again"[..]));
}

/// Text and JSON helpers decode, and refuse bytes that are not what was asked.
pub fn text_and_json(storage: &dyn Storage) {
    save(storage, "t.txt", "héllo".as_bytes());
    assert_eq!(
        storage.file_str(&key("t.txt")).expect("str").as_deref(),
        Some("héllo")
    );
    save(storage, "d.json", br#"{"n": [1, 2]}"#);
    let v = storage
        .file_json(&key("d.json"))
        .expect("json")
        .expect("exists");
    assert_eq!(v["n"][1], 2);
    save(storage, "bad", &[0xff, 0xfe]);
    assert_eq!(
        storage.file_str(&key("bad")).expect_err("not UTF-8").kind(),
        ErrorKind::InvalidData
    );
    assert_eq!(
        storage.file_json(&key("bad")).expect_err("not JSON").kind(),
        ErrorKind::InvalidData
    );
    assert_eq!(storage.file_str(&key("missing")).expect("str"), None);
}

/// Every kind of invalid key is refused before any provider sees it, naming the input.
pub fn invalid_keys(storage: &dyn Storage) {
    let cases: [(&str, InvalidPathReason); 8] = [
        ("", InvalidPathReason::Empty),
        ("/etc/passwd", InvalidPathReason::Absolute),
        ("a/", InvalidPathReason::TrailingSlash),
        ("a//b", InvalidPathReason::EmptySegment),
        ("../escape", InvalidPathReason::DotSegment),
        ("a/./b", InvalidPathReason::DotSegment),
        ("nul\0byte", InvalidPathReason::ControlCharacter),
        ("line\nbreak", InvalidPathReason::ControlCharacter),
    ];
    for (input, reason) in &cases {
        let err = SafePath::new(*input).expect_err(input);
        assert_eq!(err.reason(), *reason, "{input:?}");
        assert_eq!(err.input(), *input);
    }
    let too_long = "k".repeat(crate::MAX_PATH_LEN + 1);
    assert_eq!(
        SafePath::new(too_long).expect_err("too long").reason(),
        InvalidPathReason::TooLong
    );
    assert_eq!(
        SafePath::new("s".repeat(256))
            .expect_err("segment")
            .reason(),
        InvalidPathReason::SegmentTooLong
    );
    assert_eq!(
        keys(storage, None),
        Vec::<String>::new(),
        "nothing was written"
    );
}

/// `file_get` hands out versions that `file_save_if` checks: a stale version or an
/// unexpected value is refused and changes nothing.
pub fn conditional_writes(storage: &dyn Storage) {
    let k = key("cas/value");
    assert_eq!(
        storage.file_get(&k).expect("get"),
        None,
        "a missing key has no version"
    );
    let missing = storage
        .file_save_if(&k, b"x", &Expect::Version(Version::of_bytes(b"x")))
        .expect_err("a version cannot match a missing key");
    assert_eq!(missing.kind(), ErrorKind::PreconditionFailed, "{missing}");
    assert_eq!(load(storage, "cas/value"), None, "nothing was written");

    let v1 = storage
        .file_save_if(&k, b"one", &Expect::Absent)
        .expect("create");
    let (bytes, got) = storage
        .file_get(&k)
        .expect("get")
        .expect("the value exists");
    assert_eq!(bytes, b"one");
    assert_eq!(got, v1, "file_get gives the version file_save_if returned");
    let exists = storage
        .file_save_if(&k, b"again", &Expect::Absent)
        .expect_err("the key exists");
    assert_eq!(exists.kind(), ErrorKind::AlreadyExists, "{exists}");

    let v2 = storage
        .file_save_if(&k, b"two", &Expect::Version(v1.clone()))
        .expect("the expected version is current");
    assert_ne!(v2, v1, "a new value has a new version");
    let stale = storage
        .file_save_if(&k, b"three", &Expect::Version(v1))
        .expect_err("v1 is stale");
    assert_eq!(stale.kind(), ErrorKind::PreconditionFailed, "{stale}");
    assert_eq!(load(storage, "cas/value").as_deref(), Some(&b"two"[..]));
    let (_, current) = storage.file_get(&k).expect("get").expect("exists");
    assert_eq!(current, v2);

    // A plain save moves the version on too.
    save(storage, "cas/value", b"four");
    let (_, v4) = storage.file_get(&k).expect("get").expect("exists");
    assert_ne!(v4, v2, "a plain save changes the version");
}

/// Racing read-modify-write cycles through `file_save_if`: with
/// `conditional_write`, no increment is lost.
pub fn conditional_write_race(storage: &dyn Storage) {
    if !storage.capabilities().conditional_write {
        skipped("conditional_write_race", "conditional_write");
        return;
    }
    const THREADS: usize = 6;
    const INCREMENTS: usize = 25;
    let k = key("cas/counter");
    storage
        .file_save_if(&k, b"0", &Expect::Absent)
        .expect("create");
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut done = 0;
                while done < INCREMENTS {
                    let (bytes, version) = storage.file_get(&k).expect("get").expect("exists");
                    let n: usize = std::str::from_utf8(&bytes)
                        .expect("utf-8")
                        .parse()
                        .expect("a number");
                    let next = (n + 1).to_string();
                    match storage.file_save_if(&k, next.as_bytes(), &Expect::Version(version)) {
                        Ok(_) => done += 1,
                        Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                        Err(e) => panic!("file_save_if failed: {e}"),
                    }
                }
            });
        }
    });
    assert_eq!(
        load(storage, "cas/counter"),
        Some((THREADS * INCREMENTS).to_string().into_bytes()),
        "every successful conditional write counted once"
    );
}

/// `apply`: puts and deletes after checks; a failed check writes nothing; with
/// `conditional_write`, racing batches that check the same key never both apply.
pub fn apply_batches(storage: &dyn Storage) {
    save(storage, "apply/old", b"old");
    let head = key("apply/head");
    let batch = Batch::new()
        .check(head.clone(), Expect::Absent)
        .put(key("apply/a"), b"a")
        .put(key("apply/b"), b"b")
        .delete(key("apply/old"))
        .delete(key("apply/never-there"))
        .put(head.clone(), b"1");
    storage.apply(&batch).expect("apply");
    assert_eq!(
        keys(storage, Some("apply")),
        ["apply/a", "apply/b", "apply/head"]
    );

    let refused = storage.apply(
        &Batch::new()
            .check(head.clone(), Expect::Absent)
            .put(key("apply/c"), b"c")
            .delete(key("apply/a")),
    );
    let err = refused.expect_err("the head exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(
        keys(storage, Some("apply")),
        ["apply/a", "apply/b", "apply/head"],
        "a failed check writes nothing"
    );

    let (_, v1) = storage.file_get(&head).expect("get").expect("exists");
    storage
        .apply(
            &Batch::new()
                .check(head.clone(), Expect::Version(v1.clone()))
                .put(head.clone(), b"2"),
        )
        .expect("the head is at v1");
    let stale = storage
        .apply(
            &Batch::new()
                .check(head.clone(), Expect::Version(v1))
                .put(key("apply/d"), b"d"),
        )
        .expect_err("v1 is stale");
    assert_eq!(stale.kind(), ErrorKind::PreconditionFailed, "{stale}");
    assert_eq!(load(storage, "apply/d"), None);
    assert!(
        storage.apply(&Batch::new()).is_ok(),
        "an empty batch is a no-op"
    );

    if storage.capabilities().conditional_write {
        // Racing batches each claim the next number by checking the head; every
        // number is claimed exactly once.
        const THREADS: usize = 4;
        const CLAIMS: usize = 10;
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let head = head.clone();
                s.spawn(move || {
                    let mut done = 0;
                    while done < CLAIMS {
                        let (bytes, version) =
                            storage.file_get(&head).expect("get").expect("exists");
                        let n: usize = std::str::from_utf8(&bytes)
                            .expect("utf-8")
                            .parse()
                            .expect("number");
                        let next = (n + 1).to_string();
                        let claim = format!("{t}");
                        let batch = Batch::new()
                            .check(head.clone(), Expect::Version(version))
                            .put(key(&format!("claims/{:04}", n + 1)), claim.as_bytes())
                            .put(head.clone(), next.as_bytes());
                        match storage.apply(&batch) {
                            Ok(()) => done += 1,
                            Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                            Err(e) => panic!("apply failed: {e}"),
                        }
                    }
                });
            }
        });
        let claims = keys(storage, Some("claims"));
        assert_eq!(claims.len(), THREADS * CLAIMS, "every claim landed once");
        assert_eq!(
            load(storage, "apply/head"),
            Some((2 + THREADS * CLAIMS).to_string().into_bytes())
        );
    } else {
        skipped("apply_batches (racing checks)", "conditional_write");
    }
}

/// `file_copy` copies whole values and reports a missing source.
pub fn copies(storage: &dyn Storage) {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    save(storage, "copy/from", &data);
    save(storage, "copy/to", b"old");
    assert!(
        storage
            .file_copy(&key("copy/from"), &key("copy/to"))
            .expect("copy")
    );
    assert_eq!(load(storage, "copy/to"), Some(data.clone()));
    assert!(
        storage
            .file_copy(&key("copy/from"), &key("copy/new/deeper"))
            .expect("copy")
    );
    assert_eq!(load(storage, "copy/new/deeper"), Some(data));
    assert!(
        !storage
            .file_copy(&key("copy/missing"), &key("copy/x"))
            .expect("copy"),
        "a missing source copies nothing"
    );
    assert_eq!(load(storage, "copy/x"), None);
}

/// A copy inside a batch takes the value its source holds at that point of the batch,
/// and a missing source fails the batch (all of it, where batches are atomic).
pub fn batch_copies(storage: &dyn Storage) {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    save(storage, "bcopy/staged", &data);
    save(storage, "bcopy/latest", b"old");
    let batch = Batch::new()
        .copy(key("bcopy/staged"), key("bcopy/latest"))
        .copy(key("bcopy/staged"), key("bcopy/versions/v2"))
        .delete(key("bcopy/staged"))
        .put(key("bcopy/fresh"), b"fresh")
        .copy(key("bcopy/fresh"), key("bcopy/fresh-copy"));
    storage.apply(&batch).expect("apply copies");
    assert_eq!(load(storage, "bcopy/latest"), Some(data.clone()));
    assert_eq!(load(storage, "bcopy/versions/v2"), Some(data.clone()));
    assert_eq!(load(storage, "bcopy/staged"), None);
    assert_eq!(
        load(storage, "bcopy/fresh-copy"),
        Some(b"fresh".to_vec()),
        "a copy sees the batch's earlier writes"
    );

    let missing = Batch::new()
        .put(key("bcopy/latest"), b"newer")
        .copy(key("bcopy/nowhere"), key("bcopy/target"));
    let err = storage.apply(&missing).expect_err("the source is missing");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(load(storage, "bcopy/target"), None);
    if storage.capabilities().atomic_batch {
        assert_eq!(
            load(storage, "bcopy/latest"),
            Some(data),
            "a failed atomic batch writes nothing"
        );
    }
}

/// A reader that yields `data` and then fails, as a network stream cut part-way does.
struct FailingReader<'a> {
    data: &'a [u8],
}

impl std::io::Read for FailingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other("the stream was cut"));
        }
        let n = buf.len().min(self.data.len()).min(7919);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Streamed saves and reads: `file_save_from`, `file_reader`, `file_range` and
/// `file_size` agree with the whole-value calls, and a reader that fails part-way
/// leaves the old value in place.
pub fn streams(storage: &dyn Storage) {
    let data: Vec<u8> = (0..3 * crate::CHUNK as u32 + 12_345)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let k = key("stream/value");
    let n = storage
        .file_save_from(&k, &mut &data[..])
        .expect("save from a reader");
    assert_eq!(n, data.len() as u64);
    assert_eq!(load(storage, "stream/value").as_deref(), Some(&data[..]));
    assert_eq!(
        storage.file_size(&k).expect("size"),
        Some(data.len() as u64)
    );

    let mut read = Vec::new();
    std::io::Read::read_to_end(
        &mut storage.file_reader(&k).expect("reader").expect("exists"),
        &mut read,
    )
    .expect("read to the end");
    assert!(read == data, "a reader yields the value");

    let len = data.len() as u64;
    for (offset, want) in [
        (0, 10),
        (1, crate::CHUNK as u64),
        (crate::CHUNK as u64 - 3, 7),
        (len - 5, 100),
        (len, 10),
        (len + 10, 10),
    ] {
        let got = storage
            .file_range(&k, offset, want)
            .expect("range")
            .expect("exists");
        let start = (offset.min(len)) as usize;
        let end = (offset.saturating_add(want).min(len)) as usize;
        assert!(got == data[start..end], "range {offset}+{want}");
    }

    let cut = storage
        .file_save_from(
            &k,
            &mut FailingReader {
                data: &data[..crate::CHUNK + 17],
            },
        )
        .expect_err("the reader fails");
    assert_eq!(cut.kind(), ErrorKind::Input, "{cut}");
    assert!(
        load(storage, "stream/value").as_deref() == Some(&data[..]),
        "a failed streamed save leaves the old value"
    );
    let fresh = key("stream/never");
    let cut = storage
        .file_save_from(&fresh, &mut FailingReader { data: b"partial" })
        .expect_err("the reader fails");
    assert_eq!(cut.kind(), ErrorKind::Input, "{cut}");
    assert_eq!(
        load(storage, "stream/never"),
        None,
        "nothing is left behind"
    );

    let empty = key("stream/empty");
    assert_eq!(
        storage.file_save_from(&empty, &mut &b""[..]).expect("save"),
        0
    );
    assert_eq!(load(storage, "stream/empty"), Some(Vec::new()));
    assert_eq!(storage.file_size(&empty).expect("size"), Some(0));
    let missing = key("stream/missing");
    assert!(storage.file_reader(&missing).expect("reader").is_none());
    assert_eq!(storage.file_range(&missing, 0, 1).expect("range"), None);
    assert_eq!(storage.file_size(&missing).expect("size"), None);
    assert_eq!(
        keys(storage, Some("stream")),
        ["stream/empty", "stream/value"],
        "no staging key shows in a listing"
    );
}

/// A reader that yields `data` and then fails instead of ending.
struct CutAt<'a> {
    data: &'a [u8],
}

impl std::io::Read for CutAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other(
                "the stream was cut at a chunk boundary",
            ));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Streamed saves cut at every chunk boundary leave the old value (and no staging
/// key) each time; a streamed reader yields one whole value while another writer
/// replaces it, where writes are atomic.
pub fn stream_faults(storage: &dyn Storage) {
    let chunk = crate::CHUNK;
    let len = 2 * chunk + chunk / 2 + 4_321;
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    let k = key("sfault/value");
    save(storage, "sfault/value", b"the old value");
    let boundaries = len / chunk;
    for cut in (0..=boundaries).map(|i| i * chunk).chain([len]) {
        let err = storage
            .file_save_from(&k, &mut CutAt { data: &data[..cut] })
            .expect_err("the reader fails");
        assert_eq!(err.kind(), ErrorKind::Input, "cut at {cut}: {err}");
        assert_eq!(
            load(storage, "sfault/value").as_deref(),
            Some(&b"the old value"[..]),
            "a save cut at byte {cut} leaves the old value"
        );
        assert_eq!(
            storage.file_size(&k).expect("size"),
            Some(13),
            "cut at {cut}: the size is the old value's"
        );
        assert_eq!(
            keys(storage, Some("sfault")),
            ["sfault/value"],
            "a save cut at byte {cut} leaves no staging key"
        );
    }
    let fresh = key("sfault/fresh");
    for cut in [0, chunk, 2 * chunk] {
        let err = storage
            .file_save_from(&fresh, &mut CutAt { data: &data[..cut] })
            .expect_err("the reader fails");
        assert_eq!(err.kind(), ErrorKind::Input, "{err}");
        assert_eq!(load(storage, "sfault/fresh"), None, "cut at {cut}");
    }
    assert_eq!(keys(storage, None), ["sfault/value"]);

    if !storage.capabilities().atomic_write {
        skipped("stream_faults (reading through a replace)", "atomic_write");
        return;
    }
    let other: Vec<u8> = data.iter().map(|b| !b).collect();
    for replace_streamed in [false, true] {
        storage.file_save_from(&k, &mut &data[..]).expect("save");
        let mut reader = storage.file_reader(&k).expect("reader").expect("exists");
        let mut read = vec![0; chunk + 1];
        std::io::Read::read_exact(&mut reader, &mut read).expect("read a first part");
        if replace_streamed {
            storage
                .file_save_from(&k, &mut &other[..])
                .expect("replace while a reader is open");
        } else {
            save(storage, "sfault/value", &other);
        }
        match std::io::Read::read_to_end(&mut reader, &mut read) {
            Ok(_) => assert!(
                read == data,
                "a reader open across a replace yields the value it began with \
                 ({} bytes read, {} expected)",
                read.len(),
                data.len()
            ),
            Err(e) => eprintln!("the reader stopped at the replace: {e}"),
        }
        drop(reader);
        assert!(
            load(storage, "sfault/value").as_deref() == Some(&other[..]),
            "the replace landed"
        );
    }
}

/// `files_versions` lists what `files_paths` lists, each key with the version
/// `file_get` hands out, and a changed value shows a changed version.
pub fn listed_versions(storage: &dyn Storage) {
    save(storage, "lv/a", b"one");
    save(storage, "lv/b/c", b"two");
    save(storage, "lvx", b"not below lv");
    let versions = |prefix: Option<&str>| {
        storage
            .files_versions(prefix.map(key).as_ref())
            .expect("files_versions")
    };
    let expected = |prefix: Option<&str>| -> Vec<(SafePath, Version)> {
        keys(storage, prefix)
            .into_iter()
            .map(|k| {
                let k = key(&k);
                let (_, version) = storage.file_get(&k).expect("get").expect("listed key");
                (k, version)
            })
            .collect()
    };
    let before = versions(Some("lv"));
    assert_eq!(
        before.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["lv/a", "lv/b/c"]
    );
    assert_eq!(before, expected(Some("lv")));
    assert_eq!(versions(None), expected(None));
    save(storage, "lv/a", b"changed");
    let after = versions(Some("lv"));
    assert_eq!(after, expected(Some("lv")));
    assert_ne!(after[0].1, before[0].1, "a new value lists a new version");
    assert_eq!(after[1], before[1], "an unchanged value keeps its version");
    assert_eq!(
        versions(Some("lv/a")),
        vec![after[0].clone()],
        "a key lists itself"
    );
    assert!(versions(Some("lv/none")).is_empty());
}

/// One conformance case.
pub type Case = fn(&dyn Storage);

/// Every case of the suite, by name.
pub const CASES: &[(&str, Case)] = &[
    ("save_load_delete", save_load_delete),
    ("empty_value", empty_value),
    ("binary_every_byte", binary_every_byte),
    ("large_value", large_value),
    ("unusual_keys", unusual_keys),
    ("longest_keys", longest_keys),
    ("many_keys", many_keys),
    ("prefix_listing", prefix_listing),
    ("nested_keys", nested_keys),
    ("batches", batches),
    ("create_if_absent", create_if_absent),
    ("concurrent_writers", concurrent_writers),
    ("clear", clear),
    ("text_and_json", text_and_json),
    ("invalid_keys", invalid_keys),
    ("conditional_writes", conditional_writes),
    ("conditional_write_race", conditional_write_race),
    ("apply_batches", apply_batches),
    ("copies", copies),
    ("batch_copies", batch_copies),
    ("streams", streams),
    ("stream_faults", stream_faults),
    ("listed_versions", listed_versions),
];

/// Expands to one `#[test]` per conformance case, each on a fresh storage from `make`.
///
/// ```ignore
/// memory_fs_storage::conformance_tests!(make = || SqliteStorage::in_memory().unwrap());
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (make = $make:expr) => {
        $crate::conformance_tests!(@cases $make;
            save_load_delete empty_value binary_every_byte large_value unusual_keys
            longest_keys many_keys prefix_listing nested_keys batches create_if_absent
            concurrent_writers clear text_and_json invalid_keys conditional_writes
            conditional_write_race apply_batches copies batch_copies streams stream_faults
            listed_versions);
    };
    (@cases $make:expr; $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                let storage = ($make)();
                $crate::testkit::$case(&storage);
            }
        )*
    };
}

/// A storage that keeps `guard` alive as long as itself: a temporary directory, a test
/// server. Forwards every call to `storage`.
///
/// ```ignore
/// memory_fs_storage::conformance_tests!(make = || {
///     let dir = tempfile::tempdir().unwrap();
///     Guarded::new(DiskStorage::open(dir.path()).unwrap(), dir)
/// });
/// ```
#[derive(Debug)]
pub struct Guarded<S, G> {
    storage: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    /// `storage`, keeping `guard` alive until it is dropped.
    pub fn new(storage: S, guard: G) -> Self {
        Self {
            storage,
            _guard: guard,
        }
    }
}

impl<S: Storage, G: Send + Sync + std::fmt::Debug> Storage for Guarded<S, G> {
    fn capabilities(&self) -> crate::Capabilities {
        self.storage.capabilities()
    }
    fn file_save(&self, path: &SafePath, data: &[u8]) -> crate::Result<()> {
        self.storage.file_save(path, data)
    }
    fn file_bytes(&self, path: &SafePath) -> crate::Result<Option<Vec<u8>>> {
        self.storage.file_bytes(path)
    }
    fn file_exists(&self, path: &SafePath) -> crate::Result<bool> {
        self.storage.file_exists(path)
    }
    fn file_delete(&self, path: &SafePath) -> crate::Result<bool> {
        self.storage.file_delete(path)
    }
    fn files_paths(&self, prefix: Option<&SafePath>) -> crate::Result<Vec<SafePath>> {
        self.storage.files_paths(prefix)
    }
    fn clear(&self) -> crate::Result<()> {
        self.storage.clear()
    }
    fn file_create(&self, path: &SafePath, data: &[u8]) -> crate::Result<()> {
        self.storage.file_create(path, data)
    }
    fn files_save(&self, items: &[(SafePath, &[u8])]) -> crate::Result<()> {
        self.storage.files_save(items)
    }
    fn files_delete(&self, paths: &[SafePath]) -> crate::Result<usize> {
        self.storage.files_delete(paths)
    }
    fn file_get(&self, path: &SafePath) -> crate::Result<Option<(Vec<u8>, crate::Version)>> {
        self.storage.file_get(path)
    }
    fn file_save_if(
        &self,
        path: &SafePath,
        data: &[u8],
        expect: &crate::Expect,
    ) -> crate::Result<crate::Version> {
        self.storage.file_save_if(path, data, expect)
    }
    fn apply(&self, batch: &crate::Batch<'_>) -> crate::Result<()> {
        self.storage.apply(batch)
    }
    fn file_copy(&self, from: &SafePath, to: &SafePath) -> crate::Result<bool> {
        self.storage.file_copy(from, to)
    }
    fn files_remove(&self, paths: &[SafePath]) -> crate::Result<()> {
        self.storage.files_remove(paths)
    }
    fn files_versions(
        &self,
        prefix: Option<&SafePath>,
    ) -> crate::Result<Vec<(SafePath, crate::Version)>> {
        self.storage.files_versions(prefix)
    }
    fn file_save_from(
        &self,
        path: &SafePath,
        reader: &mut dyn std::io::Read,
    ) -> crate::Result<u64> {
        self.storage.file_save_from(path, reader)
    }
    fn file_reader(&self, path: &SafePath) -> crate::Result<Option<crate::ValueReader<'_>>> {
        self.storage.file_reader(path)
    }
    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> crate::Result<Option<Vec<u8>>> {
        self.storage.file_range(path, offset, len)
    }
    fn file_size(&self, path: &SafePath) -> crate::Result<Option<u64>> {
        self.storage.file_size(path)
    }
    fn watch_keys(&self, prefix: &SafePath) -> crate::Result<Option<crate::KeyWatch>> {
        self.storage.watch_keys(prefix)
    }
}

/// The crash test: a child process saves versions of many keys in a loop and is
/// killed with `SIGKILL` at random moments; after each kill every key must hold one
/// complete version that was written, and no acknowledged version may be lost.
pub mod crash {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use crate::{SafePath, Storage};

    /// Keys the child rewrites in turn.
    pub const KEYS: usize = 16;

    fn key(k: usize) -> SafePath {
        SafePath::new(format!("crash/key-{k:02}")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn checksum(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Version `version` of key `k`: a header, a payload whose length varies by
    /// version, and a checksum over both.
    pub fn value(k: usize, version: u64) -> Vec<u8> {
        let len = 500 + (version as usize * 7919 + k * 31) % 60_000;
        let mut data = format!("{k}:{version}:{len}:").into_bytes();
        data.extend((0..len).map(|i| (i as u64 ^ version) as u8));
        let sum = checksum(&data);
        data.extend_from_slice(&sum.to_le_bytes());
        data
    }

    /// The version a stored value holds, or a description of how it is broken.
    pub fn parse(k: usize, data: &[u8]) -> Result<u64, String> {
        if data.len() < 8 {
            return Err(format!("only {} bytes", data.len()));
        }
        let (body, sum) = data.split_at(data.len() - 8);
        if sum != checksum(body).to_le_bytes() {
            return Err(format!(
                "checksum mismatch over {} bytes (torn write)",
                data.len()
            ));
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        let mut parts = text.splitn(4, ':');
        let (pk, pv) = (parts.next(), parts.next());
        let version: u64 = pv
            .and_then(|v| v.parse().ok())
            .ok_or("no version in the header")?;
        if pk != Some(&k.to_string()) {
            return Err(format!("holds key {pk:?}'s value"));
        }
        if value(k, version) != data {
            return Err(format!("version {version} has the wrong bytes"));
        }
        Ok(version)
    }

    /// The child's loop: continue every key from its stored version, save, print
    /// `ack K V` after each save returns. Never returns.
    pub fn child(storage: &dyn Storage) -> ! {
        let mut versions: Vec<u64> = (0..KEYS)
            .map(|k| match storage.file_bytes(&key(k)) {
                Ok(Some(data)) => parse(k, &data).unwrap_or(0),
                _ => 0,
            })
            .collect();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        loop {
            for (k, v) in versions.iter_mut().enumerate() {
                *v += 1;
                if let Err(e) = storage.file_save(&key(k), &value(k, *v)) {
                    eprintln!("crash child: save failed: {e}");
                    std::process::exit(3);
                }
                let _ = writeln!(out, "ack {k} {v}");
                let _ = out.flush();
            }
        }
    }

    /// The usual wiring from a provider's test: the child is the ignored test
    /// `child_test` of the current test binary, told where the store is through the
    /// environment variable `env` = `value`; `MEMORY_FS_CRASH_KILLS` (default 20) sets
    /// the number of kills. Returns the number of kills.
    ///
    /// # Panics
    /// As [`run`].
    pub fn sigkill_current_test(
        child_test: &str,
        env: &str,
        value: &std::ffi::OsStr,
        open: impl Fn() -> Box<dyn Storage>,
        seed: u64,
    ) -> usize {
        let kills = std::env::var("MEMORY_FS_CRASH_KILLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        let exe = std::env::current_exe().expect("the test binary");
        run(
            || {
                let mut cmd = Command::new(&exe);
                cmd.args([
                    "--exact",
                    child_test,
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(env, value);
                cmd
            },
            open,
            kills,
            seed,
        )
    }

    /// Runs `kills` rounds: start the child with `spawn`, kill it at a random moment,
    /// then check every key through a fresh `open()`. Returns the number of kills.
    ///
    /// # Panics
    /// On a torn or lost value, naming the key and round.
    pub fn run(
        mut spawn: impl FnMut() -> Command,
        open: impl Fn() -> Box<dyn Storage>,
        kills: usize,
        seed: u64,
    ) -> usize {
        let mut acked = [0u64; KEYS];
        let mut rng = seed | 1;
        let mut total_acks = 0usize;
        for round in 0..kills {
            let mut child = spawn()
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the crash child");
            let stdout = child.stdout.take().expect("child stdout");
            let reader = std::thread::spawn(move || {
                BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .filter(|l| l.starts_with("ack "))
                    .collect::<Vec<_>>()
            });
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            std::thread::sleep(Duration::from_millis(20 + rng % 150));
            child.kill().expect("SIGKILL the child");
            let status = child.wait().expect("reap the child");
            assert!(
                status.code().is_none(),
                "round {round}: the child exited by itself ({status}) instead of being killed"
            );
            for line in reader.join().expect("reader thread") {
                let mut it = line.split_whitespace().skip(1);
                let (Some(k), Some(v)) = (
                    it.next().and_then(|s| s.parse::<usize>().ok()),
                    it.next().and_then(|s| s.parse::<u64>().ok()),
                ) else {
                    continue;
                };
                if k < KEYS {
                    acked[k] = acked[k].max(v);
                    total_acks += 1;
                }
            }
            let storage = open();
            for (k, acked) in acked.iter_mut().enumerate() {
                match storage.file_bytes(&key(k)) {
                    Ok(Some(data)) => match parse(k, &data) {
                        Ok(version) => {
                            assert!(
                                version >= *acked,
                                "round {round}: key {k} holds version {version}, but {acked} was acknowledged"
                            );
                            *acked = version;
                        }
                        Err(why) => panic!("round {round}: key {k} is broken: {why}"),
                    },
                    Ok(None) => assert_eq!(
                        *acked, 0,
                        "round {round}: key {k} vanished after version {acked} was acknowledged"
                    ),
                    Err(e) => panic!("round {round}: key {k} cannot be read: {e}"),
                }
            }
        }
        assert!(
            total_acks > 0,
            "the child never acknowledged a save: the test proved nothing"
        );
        eprintln!("crash test: {kills} kills, {total_acks} acknowledged saves checked");
        kills
    }
}

/// Peak memory of a streamed value: a reader that makes a large value without
/// holding it, and the process's peak resident size around a call.
pub mod rss {
    use std::io::Read;

    /// The byte at `i` of a [`Pattern`] value.
    pub fn byte_at(i: u64) -> u8 {
        (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
    }

    /// A reader of `len` pattern bytes, made as they are read.
    #[derive(Debug)]
    pub struct Pattern {
        at: u64,
        len: u64,
    }

    impl Pattern {
        /// `len` bytes of the pattern.
        pub fn new(len: u64) -> Self {
            Self { at: 0, len }
        }
    }

    impl Read for Pattern {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf
                .len()
                .min(usize::try_from(self.len - self.at).unwrap_or(usize::MAX));
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = byte_at(self.at + i as u64);
            }
            self.at += n as u64;
            Ok(n)
        }
    }

    /// Reads `reader` to its end in chunks, checking every byte against the pattern,
    /// and returns how many there were.
    ///
    /// # Panics
    /// On a read error or a byte that is not the pattern's.
    pub fn check_pattern(reader: &mut dyn Read) -> u64 {
        let mut buf = vec![0; crate::CHUNK];
        let mut at = 0u64;
        loop {
            let n = crate::read_full(reader, &mut buf).expect("read the value");
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, byte_at(at + i as u64), "byte {}", at + i as u64);
            }
            at += n as u64;
            if n < buf.len() {
                return at;
            }
        }
    }

    /// A `kB` line of `/proc/self/status`, in bytes.
    fn status(field: &str) -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
    }

    /// Runs `f` and returns its result with how far the process's peak resident size
    /// (`VmHWM`, reset first through `/proc/self/clear_refs`) rose above its resident
    /// size before the call.
    ///
    /// # Panics
    /// Where `/proc/self` cannot be read or the peak cannot be reset.
    pub fn peak_above<T>(f: impl FnOnce() -> T) -> (T, u64) {
        std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident size");
        let before = status("VmRSS:");
        let out = f();
        let peak = status("VmHWM:");
        (out, peak.saturating_sub(before))
    }

    /// The size of the streamed value in the peak-memory tests:
    /// `MEMORY_FS_STREAM_BYTES` if set, else `default`.
    ///
    /// # Panics
    /// If the variable is not a number.
    pub fn value_len(default: u64) -> u64 {
        std::env::var("MEMORY_FS_STREAM_BYTES").map_or(default, |v| {
            v.parse()
                .expect("MEMORY_FS_STREAM_BYTES is a number of bytes")
        })
    }

    /// Streams a [`Pattern`] value of `len` bytes into `storage` at `key` and reads it
    /// back through a reader, and returns how far the peak resident size rose above
    /// the baseline in the save and in the read.
    ///
    /// # Panics
    /// When a call fails or the value read is not the one saved.
    pub fn save_and_read(storage: &dyn crate::Storage, key: &str, len: u64) -> (u64, u64) {
        let key = crate::SafePath::new(key).expect("key");
        let (saved, save_peak) =
            peak_above(|| storage.file_save_from(&key, &mut Pattern::new(len)));
        assert_eq!(saved.expect("streamed save"), len);
        assert_eq!(storage.file_size(&key).expect("size"), Some(len));
        let (read, read_peak) = peak_above(|| {
            let mut reader = storage.file_reader(&key).expect("reader").expect("exists");
            check_pattern(&mut reader)
        });
        assert_eq!(read, len);
        eprintln!(
            "{} bytes: peak resident size rose {} bytes in the save, {} in the read",
            len, save_peak, read_peak
        );
        (save_peak, read_peak)
    }
}

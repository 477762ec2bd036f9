//! What the storage layers promise beyond the storage contract: an encrypted store holds
//! no plaintext on disk or in SQLite, and every kind of tampering with a stored value
//! is a clear integrity error; the compression layer refuses decompression bombs and
//! corrupt frames; the audit log records every change and detects an edited, removed
//! or reordered record.

use std::sync::Arc;

use memory_fs_storage::layers::audit::{AuditOp, Audited, ChangeAction, read_trail};
use memory_fs_storage::layers::compress::{self, Compressed};
use memory_fs_storage::layers::encrypt::{self, Encrypted, EncryptionKey, Keyring};
use memory_fs_storage::layers::{LayerKind, check_layers};
use memory_fs_storage::{Batch, ErrorKind, Expect, SafePath, Storage, StorageError, Write};
use memory_fs_storage_disk::{DiskConfig, DiskStorage};
use memory_fs_storage_memory::MemoryStorage;
use memory_fs_storage_sqlite::SqliteStorage;

fn key(byte: u8) -> EncryptionKey {
    EncryptionKey::from_bytes([byte; 32])
}

fn p(text: &str) -> SafePath {
    SafePath::new(text).expect("valid key")
}

/// Asserts that `result` is an integrity error whose message contains `needle`.
#[track_caller]
fn integrity<T: std::fmt::Debug>(result: Result<T, StorageError>, needle: &str) {
    match result {
        Err(e) if e.kind() == ErrorKind::Integrity => {
            assert!(
                e.to_string().contains(needle),
                "expected {needle:?} in: {e}"
            );
        }
        other => panic!("expected an integrity error ({needle}), got {other:?}"),
    }
}

// ----- encryption: no plaintext at rest ------------------------------------------------------

const SECRET: &str = "Kilimanjaro-launch-code-7741";

/// Every byte of every file under `dir`.
fn raw_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.extend(std::fs::read(&path).expect("read file"));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Saves the secret in a few shapes (alone, in JSON, in a large value, through a
/// batch, a conditional write and a copy).
fn save_secrets(store: &dyn Storage) {
    store
        .file_save(&p("notes/plain.txt"), SECRET.as_bytes())
        .expect("save");
    let json = format!(r#"{{"code": "{SECRET}", "list": [1, 2, 3]}}"#);
    store
        .file_save(&p("notes/doc.json"), json.as_bytes())
        .expect("save json");
    let large = SECRET.repeat(10_000);
    store
        .file_save(&p("notes/large.bin"), large.as_bytes())
        .expect("save large");
    let mut batch = Batch::new();
    batch.push(Write::Put {
        path: p("batch/one"),
        data: SECRET.as_bytes(),
    });
    store.apply(&batch).expect("apply");
    store
        .file_save_if(&p("cas/one"), SECRET.as_bytes(), &Expect::Absent)
        .expect("save_if");
    store
        .file_copy(&p("notes/plain.txt"), &p("copied/plain.txt"))
        .expect("copy");
}

#[test]
fn encrypted_disk_and_sqlite_files_hold_no_plaintext() {
    // Disk: the layer alone, and the whole stack (whose audit records are encrypted too).
    for stacked in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let disk = DiskStorage::with_config(DiskConfig {
            fsync: false,
            ..DiskConfig::new(dir.path())
        })
        .expect("open");
        let store: Box<dyn Storage> = if stacked {
            Box::new(Audited::new(
                Compressed::new(Encrypted::new(disk, key(1))),
                "scan",
            ))
        } else {
            Box::new(Encrypted::new(disk, key(1)))
        };
        save_secrets(&*store);
        assert_eq!(
            store.file_bytes(&p("notes/plain.txt")).expect("read"),
            Some(SECRET.as_bytes().to_vec())
        );
        let raw = raw_bytes(dir.path());
        if !stacked {
            assert!(
                raw.len() > SECRET.len() * 10_000,
                "the large value is on disk"
            );
        }
        assert!(
            !contains(&raw, SECRET),
            "plaintext found on disk (stacked: {stacked})"
        );
    }

    // SQLite: the database file and its WAL, while open and after closing.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    {
        let store = Encrypted::new(SqliteStorage::open(&db).expect("open"), key(1));
        save_secrets(&store);
        assert!(
            !contains(&raw_bytes(dir.path()), SECRET),
            "plaintext in SQLite (open)"
        );
    }
    assert!(
        !contains(&raw_bytes(dir.path()), SECRET),
        "plaintext in SQLite (closed)"
    );

    // The same scan finds the secret in a store written without the layer.
    let dir = tempfile::tempdir().expect("temp dir");
    save_secrets(&SqliteStorage::open(dir.path().join("plain.db")).expect("open"));
    assert!(
        contains(&raw_bytes(dir.path()), SECRET),
        "the scan can find plaintext"
    );
}

// ----- encryption: tampering -----------------------------------------------------------------

/// An encrypted store over a memory provider it shares with the test.
fn encrypted() -> (Arc<MemoryStorage>, Encrypted<Arc<MemoryStorage>>) {
    let raw = Arc::new(MemoryStorage::new());
    let store = Encrypted::new(Arc::clone(&raw), key(1));
    (raw, store)
}

/// A value of three chunks whose bytes differ from chunk to chunk.
fn three_chunks() -> Vec<u8> {
    (0..2 * encrypt::CHUNK_SIZE + 100)
        .map(|i| (i % 251) as u8)
        .collect()
}

fn tampered(raw: &MemoryStorage, path: &SafePath, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = raw.file_bytes(path).expect("read").expect("present");
    edit(&mut bytes);
    raw.file_save(path, &bytes).expect("write raw");
}

#[test]
fn round_trips_at_chunk_boundaries() {
    let (raw, store) = encrypted();
    let c = encrypt::CHUNK_SIZE;
    for len in [0, 1, 15, 16, 17, c - 1, c, c + 1, 2 * c, 2 * c + 100] {
        let value: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let path = p(&format!("v/{len}"));
        store.file_save(&path, &value).expect("save");
        let stored = raw.file_bytes(&path).expect("read raw").expect("present");
        assert_eq!(
            stored.len(),
            encrypt::sealed_len(len),
            "stored size of {len} bytes"
        );
        assert_eq!(store.file_bytes(&path).expect("read"), Some(value));
    }
}

#[test]
fn every_kind_of_tampering_is_an_integrity_error() {
    let (raw, store) = encrypted();
    let value = three_chunks();
    let full = encrypt::CHUNK_SIZE + encrypt::TAG_SIZE;
    let h = encrypt::HEADER_SIZE;
    let fresh = |name: &str| {
        let path = p(name);
        store.file_save(&path, &value).expect("save");
        path
    };

    let a = fresh("t/flip-ciphertext");
    tampered(&raw, &a, |b| b[h + full + 10] ^= 1);
    integrity(store.file_bytes(&a), "chunk 1 of 3 failed authentication");

    let a = fresh("t/flip-tag");
    tampered(&raw, &a, |b| {
        let last = b.len() - 1;
        b[last] ^= 0x80;
    });
    integrity(store.file_bytes(&a), "chunk 2 of 3 failed authentication");

    let a = fresh("t/flip-nonce");
    tampered(&raw, &a, |b| b[h - 1] ^= 1);
    integrity(store.file_bytes(&a), "failed authentication");

    let a = fresh("t/flip-key-id");
    tampered(&raw, &a, |b| b[5] ^= 1);
    integrity(store.file_bytes(&a), "wrong key");

    let a = fresh("t/version");
    tampered(&raw, &a, |b| b[4] = 2);
    integrity(store.file_bytes(&a), "format version 2 is not known");

    let a = fresh("t/swap");
    tampered(&raw, &a, |b| {
        let (first, second) = b[h..h + 2 * full].split_at_mut(full);
        first.swap_with_slice(second);
    });
    integrity(store.file_bytes(&a), "chunk 0 of 3 failed authentication");

    let a = fresh("t/drop-last");
    tampered(&raw, &a, |b| b.truncate(h + 2 * full));
    integrity(store.file_bytes(&a), "chunk 1 of 2 failed authentication");

    let a = fresh("t/append");
    tampered(&raw, &a, |b| {
        let chunk = b[h..h + full].to_vec();
        b.extend_from_slice(&chunk);
    });
    integrity(store.file_bytes(&a), "failed authentication");

    let a = fresh("t/cut-tag");
    tampered(&raw, &a, |b| b.truncate(b.len() - 1));
    integrity(store.file_bytes(&a), "failed authentication");

    let a = fresh("t/cut-into-tag");
    tampered(&raw, &a, |b| b.truncate(h + 2 * full + 5));
    integrity(store.file_bytes(&a), "truncated");

    let a = fresh("t/header-only");
    tampered(&raw, &a, |b| b.truncate(h));
    integrity(store.file_bytes(&a), "truncated");

    let a = fresh("t/half-header");
    tampered(&raw, &a, |b| b.truncate(10));
    integrity(store.file_bytes(&a), "shorter than the");

    // A value moved or copied to another key does not open there.
    let a = fresh("t/source");
    let moved = raw.file_bytes(&a).expect("read").expect("present");
    raw.file_save(&p("t/elsewhere"), &moved).expect("write raw");
    integrity(
        store.file_bytes(&p("t/elsewhere")),
        "moved here from another key",
    );
    integrity(store.file_get(&p("t/elsewhere")), "failed authentication");

    // Plaintext written without the layer is refused, not returned.
    raw.file_save(&p("t/plain"), b"{\"a\": 1}")
        .expect("write raw");
    integrity(
        store.file_bytes(&p("t/plain")),
        "written without the encryption layer",
    );

    // The original is untouched by all of this.
    assert_eq!(store.file_bytes(&p("t/source")).expect("read"), Some(value));
}

#[test]
fn wrong_key_and_key_rotation() {
    let (raw, store) = encrypted();
    store.file_save(&p("a"), b"one").expect("save");
    store.file_save(&p("b/c"), b"two").expect("save");

    let other = Encrypted::new(Arc::clone(&raw), key(2));
    integrity(
        other.file_bytes(&p("a")),
        "which is not among the keys given",
    );

    // Rotation: the new key first, the old one to read with; then only the new key.
    let rotating = Encrypted::new(Arc::clone(&raw), Keyring::new(key(2)).with_old(key(1)));
    let report = rotating.rekey().expect("rekey");
    assert_eq!((report.rewritten, report.current), (2, 0));
    assert_eq!(
        rotating.rekey().expect("again").rewritten,
        0,
        "resumable, idempotent"
    );
    assert_eq!(
        other.file_bytes(&p("b/c")).expect("new key"),
        Some(b"two".to_vec())
    );
    integrity(store.file_bytes(&p("a")), "wrong key");
}

// ----- compression ---------------------------------------------------------------------------

#[test]
fn compression_keeps_only_what_saves_space_and_refuses_bombs() {
    let raw = Arc::new(MemoryStorage::new());
    let store = Compressed::new(Arc::clone(&raw));
    let json = br#"{"name": "a", "values": [1, 2, 3]} "#.repeat(200);
    store.file_save(&p("j"), &json).expect("save");
    let stored = raw.file_bytes(&p("j")).expect("read").expect("present");
    assert!(
        stored.len() * 10 < json.len(),
        "compressed: {} bytes",
        stored.len()
    );
    assert_eq!(store.file_bytes(&p("j")).expect("read"), Some(json.clone()));

    // Incompressible bytes are stored as they are, behind the 5-byte header.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            // xorshift64*: bytes zstd cannot shrink.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect();
    store.file_save(&p("n"), &noise).expect("save");
    let stored = raw.file_bytes(&p("n")).expect("read").expect("present");
    assert_eq!(stored.len(), noise.len() + compress::HEADER_SIZE);
    assert_eq!(stored[4], 0, "codec 0: stored");

    // A value that would decompress past the bound is refused before decompressing.
    let zeros = vec![0u8; 4 << 20];
    store.file_save(&p("z"), &zeros).expect("save");
    let small = Compressed::new(Arc::clone(&raw)).with_max_size(1 << 20);
    let err = small.file_bytes(&p("z")).expect_err("bomb");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("decompression bomb"), "{err}");
    assert_eq!(
        store.file_bytes(&p("z")).expect("read").map(|v| v.len()),
        Some(4 << 20)
    );

    // A frame that hides its size is refused too.
    let mut hidden = b"\x89MFZ\x01".to_vec();
    let mut encoder = zstd::stream::Encoder::new(&mut hidden, 3).expect("encoder");
    std::io::Write::write_all(&mut encoder, &zeros).expect("write");
    encoder.finish().expect("finish");
    raw.file_save(&p("h"), &hidden).expect("write raw");
    integrity(
        store.file_bytes(&p("h")),
        "does not declare its decompressed size",
    );

    // Corrupt frames, unknown codecs, and values written without the layer.
    tampered(&raw, &p("j"), |b| {
        let mid = b.len() / 2;
        b[mid] ^= 0xff;
    });
    integrity(store.file_bytes(&p("j")), "corrupt");
    raw.file_save(&p("u"), b"\x89MFZ\x07abc")
        .expect("write raw");
    integrity(store.file_bytes(&p("u")), "codec 7 is not known");
    raw.file_save(&p("plain"), b"{}").expect("write raw");
    integrity(
        store.file_bytes(&p("plain")),
        "written without the compression layer",
    );
}

#[test]
fn a_store_opened_without_its_layers_is_refused() {
    let raw = Arc::new(MemoryStorage::new());
    check_layers(&*raw, &[]).expect("a fresh store opens bare");
    let store = Audited::new(
        Compressed::new(Encrypted::new(Arc::clone(&raw), key(1))),
        "t",
    );
    store.file_save(&p("a"), b"x").expect("save");
    let err = check_layers(&*raw, &[]).expect_err("encrypted");
    assert_eq!(err.kind(), ErrorKind::Integrity);
    assert!(err.to_string().contains("this store is encrypted"), "{err}");
    assert!(err.to_string().contains("Python"), "{err}");
    let err = check_layers(&*raw, &[LayerKind::Encrypt]).expect_err("compressed");
    assert!(err.to_string().contains("?compress=zstd"), "{err}");
    check_layers(&*raw, &LayerKind::ALL).expect("every layer open");
    // Markers and the log are hidden through the layers.
    assert_eq!(store.files_paths(None).expect("list"), vec![p("a")]);
}

// ----- audit ---------------------------------------------------------------------------------

/// An audited store and the storage below it, with a fixed clock.
fn audited<S: Storage>(inner: S) -> Audited<S> {
    Audited::new(inner, "alice").with_clock(|| 1_700_000_000_000)
}

fn some_changes(store: &Audited<impl Storage>) {
    store
        .file_save(&p("docs/a.json"), b"{\"v\": 1}")
        .expect("save");
    store
        .file_save(&p("docs/a.json"), b"{\"v\": 2}")
        .expect("edit");
    store
        .with_caller("bob")
        .file_save(&p("docs/b.txt"), b"hello")
        .expect("save");
    store.file_delete(&p("docs/a.json")).expect("delete");
    let mut batch = Batch::new();
    batch.push(Write::Put {
        path: p("docs/c"),
        data: b"c",
    });
    batch.push(Write::Delete {
        path: p("docs/b.txt"),
    });
    store.apply(&batch).expect("apply");
}

#[test]
fn the_log_records_every_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = DiskStorage::with_config(DiskConfig {
        fsync: false,
        ..DiskConfig::new(dir.path())
    })
    .expect("open");
    let sqlite = SqliteStorage::in_memory().expect("open");
    for (name, trail) in [
        ("sqlite", {
            let s = audited(sqlite);
            some_changes(&s);
            assert!(s.file_delete(&p("missing")).is_ok_and(|gone| !gone));
            s.trail().expect("trail")
        }),
        ("disk", {
            let s = audited(disk);
            some_changes(&s);
            s.trail().expect("trail")
        }),
    ] {
        let ops: Vec<AuditOp> = trail.records.iter().map(|r| r.op).collect();
        assert_eq!(
            ops,
            [
                AuditOp::Save,
                AuditOp::Save,
                AuditOp::Save,
                AuditOp::Delete,
                AuditOp::Apply
            ],
            "{name}: a delete of nothing is not recorded"
        );
        let first = &trail.records[0];
        assert_eq!(
            (first.seq, first.caller.as_str(), first.time),
            (1, "alice", 1_700_000_000_000)
        );
        assert_eq!(first.changes[0].key, "docs/a.json");
        assert_eq!(first.changes[0].size, Some(8));
        assert_eq!(
            first.changes[0].sha256.as_deref(),
            Some("9ab2253fc38981f5be9c25cf0a34b62cdf334652344bdef16b3d5dbc0b74f2f1"),
            "SHA-256 of what the application saved"
        );
        assert_eq!(trail.records[2].caller, "bob", "{name}");
        let apply = &trail.records[4];
        assert_eq!(apply.changes.len(), 2);
        assert_eq!(apply.changes[1].action, ChangeAction::Delete);
        assert_eq!(trail.for_key("docs/a.json").count(), 3);
        for pair in trail.records.windows(2) {
            assert_eq!(pair[1].prev, pair[0].hash, "{name}: chained");
        }
    }
}

/// Rewrites the stored record `seq` (plain JSON below an audit layer) with `edit`.
fn edit_record(raw: &dyn Storage, seq: u64, edit: impl FnOnce(&mut serde_json::Value)) {
    let key = p(&format!(".memory-fs/audit/log/{seq:020}"));
    let mut record: serde_json::Value =
        serde_json::from_slice(&raw.file_bytes(&key).expect("read").expect("present"))
            .expect("a record is JSON");
    edit(&mut record);
    raw.file_save(&key, &serde_json::to_vec(&record).expect("json"))
        .expect("write raw");
}

/// The hash a record's JSON gives, as the layer computes it (without `hash`).
fn rehash(record: &mut serde_json::Value) {
    let parsed: memory_fs_storage::layers::audit::AuditRecord =
        serde_json::from_value(record.clone()).expect("a record");
    record["hash"] = serde_json::Value::from(parsed.computed_hash());
}

#[test]
fn the_chain_detects_edited_removed_and_reordered_records() {
    for exact in [true, false] {
        // SQLite commits record and change in one batch; disk writes the record ahead.
        let dir = tempfile::tempdir().expect("temp dir");
        let raw: Arc<dyn Storage> = if exact {
            Arc::new(SqliteStorage::open(dir.path().join("a.db")).expect("open"))
        } else {
            Arc::new(
                DiskStorage::with_config(DiskConfig {
                    fsync: false,
                    ..DiskConfig::new(dir.path())
                })
                .expect("open"),
            )
        };
        let fresh = || {
            raw.clear().expect("clear");
            let store = audited(Arc::clone(&raw));
            some_changes(&store);
            assert_eq!(read_trail(&*raw).expect("intact").records.len(), 5);
            store
        };
        let log = |seq: u64| p(&format!(".memory-fs/audit/log/{seq:020}"));

        // An edited record (its hash no longer matches).
        fresh();
        edit_record(&*raw, 2, |r| r["caller"] = "mallory".into());
        integrity(read_trail(&*raw), "audit record 2 was altered");

        // An edited record whose hash was recomputed: the next one no longer follows.
        fresh();
        edit_record(&*raw, 2, |r| {
            r["changes"][0]["size"] = 1.into();
            rehash(r);
        });
        integrity(read_trail(&*raw), "audit record 3 does not follow record 2");

        // A record removed in the middle.
        fresh();
        raw.file_delete(&log(3)).expect("delete");
        integrity(read_trail(&*raw), "audit record 3 is missing");
        integrity(
            audited(Arc::clone(&raw)).trail(),
            "audit record 3 is missing",
        );

        // Two records swapped (numbers fixed up, hashes recomputed).
        fresh();
        let two = raw.file_bytes(&log(2)).expect("read").expect("present");
        let three = raw.file_bytes(&log(3)).expect("read").expect("present");
        raw.file_save(&log(2), &three).expect("write raw");
        raw.file_save(&log(3), &two).expect("write raw");
        integrity(read_trail(&*raw), "says it is record 3");
        edit_record(&*raw, 2, |r| {
            r["seq"] = 2.into();
            rehash(r);
        });
        integrity(read_trail(&*raw), "audit record 2 does not follow record 1");

        // The newest record removed: the head (moved by every commit in exact mode) still
        // names it; in write-ahead mode the head lags, and the hash kept elsewhere tells.
        let store = fresh();
        let kept = store.trail().expect("trail").head_hash().to_owned();
        raw.file_delete(&log(5)).expect("delete");
        if exact {
            integrity(
                read_trail(&*raw),
                "audit record 5 is missing, and the head names 5",
            );
        } else {
            let trail = read_trail(&*raw).expect("a shorter chain reads");
            assert_ne!(trail.head_hash(), kept, "the kept head hash tells the loss");
        }

        // A writer refuses to append to a log whose last record was altered, and
        // changes nothing.
        fresh();
        edit_record(&*raw, 5, |r| r["op"] = "save".into());
        let store = audited(Arc::clone(&raw));
        integrity(
            store.file_save(&p("docs/new"), b"n"),
            "appending to a broken audit log is refused",
        );
        assert_eq!(raw.file_bytes(&p("docs/new")).expect("read"), None);
    }
}

#[test]
fn encrypted_records_cannot_be_edited_without_the_key() {
    let raw = Arc::new(MemoryStorage::new());
    let store = Audited::new(Encrypted::new(Arc::clone(&raw), key(1)), "alice");
    store.file_save(&p("a"), b"1").expect("save");
    store.file_save(&p("b"), b"2").expect("save");
    // A record replaced by another one (authenticated, but for another key path).
    let one = raw
        .file_bytes(&p(".memory-fs/audit/log/00000000000000000001"))
        .expect("read")
        .expect("present");
    raw.file_save(&p(".memory-fs/audit/log/00000000000000000002"), &one)
        .expect("write raw");
    integrity(store.trail(), "moved here from another key");
}

#[test]
fn concurrent_writers_keep_one_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = Arc::new(SqliteStorage::open(dir.path().join("a.db")).expect("open"));
    let disk_dir = tempfile::tempdir().expect("temp dir");
    let disk = Arc::new(
        DiskStorage::with_config(DiskConfig {
            fsync: false,
            ..DiskConfig::new(disk_dir.path())
        })
        .expect("open"),
    );
    for below in [raw as Arc<dyn Storage>, disk] {
        // Separate handles, as separate processes would have: no shared tail.
        std::thread::scope(|s| {
            for t in 0..4 {
                let store = Audited::new(Arc::clone(&below), format!("writer-{t}"));
                s.spawn(move || {
                    for i in 0..10 {
                        store
                            .file_save(&p(&format!("t{t}/k{i}")), b"v")
                            .expect("save");
                    }
                });
            }
        });
        let trail = read_trail(&*below).expect("one intact chain");
        assert_eq!(trail.records.len(), 40);
        for t in 0..4 {
            let caller = format!("writer-{t}");
            assert_eq!(
                trail.records.iter().filter(|r| r.caller == caller).count(),
                10
            );
        }
    }
}

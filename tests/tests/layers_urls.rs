//! The storage layers from store URLs, on every provider (memory, disk, SQLite on a
//! file, S3 on the in-process server): logical files saved, edited, listed, queried and
//! deleted through `?encrypt=…&compress=zstd&audit=…`; the audit log read back per
//! file; a store opened without its layers refused with a clear error; key rotation.

use memory_fs::{AuditOp, ErrorKind, FileConfig, FileId, FileType, LogQuery, MemoryFs, StoreUrl};
use memory_fs_storage_s3::testing::TestServer;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// A key file holding `byte` 32 times, in hex, and its `file:` source.
fn key_file(dir: &std::path::Path, name: &str, byte: u8) -> String {
    let path = dir.join(name);
    std::fs::write(&path, hex::encode([byte; 32])).expect("write key file");
    format!("file:{}", path.display())
}

/// `base` (a URL without layers) with `params` added, opened; S3 gets the test server's
/// credentials, which never go in a URL.
fn open(base: &str, params: &str, server: &TestServer) -> Result<MemoryFs, memory_fs::Error> {
    url(base, params, server).open()
}

fn url(base: &str, params: &str, server: &TestServer) -> StoreUrl {
    let sep = if base.contains('?') { '&' } else { '?' };
    let text = if params.is_empty() {
        base.to_owned()
    } else {
        format!("{base}{sep}{params}")
    };
    let parsed = StoreUrl::parse(&text).expect("valid URL");
    let with_credentials = |u: StoreUrl| match u {
        StoreUrl::S3(location) => {
            StoreUrl::S3(location.with_credentials(&server.access_key, &server.secret_key))
        }
        other => other,
    };
    match parsed {
        StoreUrl::Layered { store, layers } => StoreUrl::Layered {
            store: Box::new(with_credentials(*store)),
            layers,
        },
        other => with_credentials(other),
    }
}

/// The SHA-256 and size of report's content as stored (as the layers below the audit
/// layer receive it).
fn stored_content(fs: &MemoryFs) -> (String, u64) {
    let key = memory_fs::SafePath::new("latest/report.json").expect("key");
    let bytes = fs
        .storage()
        .file_bytes(&key)
        .expect("read")
        .expect("report's content");
    (hex::encode(Sha256::digest(&bytes)), bytes.len() as u64)
}

/// `memory-fs log --id report` after two saves (whose contents are `saved`), an edit
/// and a delete: each logical operation once, with its id, content hash and size,
/// whatever number of records the store's commit protocol wrote for it.
#[track_caller]
fn check_report_log(fs: &MemoryFs, base: &str, saved: &[(String, u64)]) {
    let of_report = fs
        .audit_log(&LogQuery {
            id: Some("report".to_owned()),
            since: None,
        })
        .expect("log of report");
    let actions: Vec<String> = of_report.iter().map(|e| e.action(Some("report"))).collect();
    assert_eq!(actions, ["save", "save", "edit", "delete"], "{base}");
    for (entry, (sha256, size)) in of_report.iter().zip(saved) {
        let contents: Vec<(&str, &str, u64)> = entry
            .contents
            .iter()
            .map(|c| (c.id.as_str(), c.sha256.as_str(), c.size))
            .collect();
        assert_eq!(contents, [("report", sha256.as_str(), *size)], "{base}");
    }
    for entry in &of_report {
        let op = entry.operation.as_ref().expect("a logical operation");
        assert_eq!(op.files.len(), 1, "{base}");
        assert_eq!(op.files[0].id, "report", "{base}");
        assert!(
            entry
                .records
                .iter()
                .all(|r| r.operation.as_ref().is_some_and(|o| o.id == op.id)),
            "{base}: an entry holds the records of its operation alone"
        );
        assert!(!entry.has_abort(), "{base}");
    }
    assert!(
        of_report[2].contents.is_empty(),
        "{base}: an edit writes no content"
    );
    let ids: std::collections::HashSet<&str> = of_report
        .iter()
        .filter_map(|e| e.operation.as_ref().map(|o| o.id.as_str()))
        .collect();
    assert_eq!(ids.len(), 4, "{base}: four operations, four ids");
}

#[test]
fn layered_stores_from_urls_on_every_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start().expect("s3 test server");
    let key = key_file(dir.path(), "key", 1);
    let new_key = key_file(dir.path(), "new-key", 2);
    let bases = [
        // Memory stores vanish between opens, so the memory URL is used once below.
        format!("file://{}", dir.path().join("disk").display()),
        format!("sqlite://{}", dir.path().join("store.db").display()),
        format!(
            "s3://{}/layered?endpoint={}&region={}&nested_keys=false",
            server.bucket, server.endpoint, server.region
        ),
    ];
    let layers = format!("encrypt={key}&compress=zstd&audit=alice");
    let report = FileConfig::new(FileId::new("report").expect("id"), FileType::json())
        .with_paths(["latest", "backup"]);

    let memory = open("memory://", &layers, &server).expect("memory");
    memory.save().json(&report, &json!({"n": 1})).expect("save");
    let mut saved = vec![stored_content(&memory)];
    assert_eq!(
        memory.load().json(&report).expect("load"),
        Some(json!({"n": 1}))
    );
    assert!(memory.storage().capabilities().encrypted);
    memory
        .save()
        .json(&report, &json!({"n": 2}))
        .expect("save again");
    saved.push(stored_content(&memory));
    memory.edit().tags(&report, ["checked"]).expect("edit");
    memory.delete().file(&report).expect("delete");
    check_report_log(&memory, "memory://", &saved);

    for base in &bases {
        let fs = open(base, &layers, &server).expect("open layered");
        let mut saved = Vec::new();
        fs.save().json(&report, &json!({"n": 1})).expect("save");
        saved.push(stored_content(&fs));
        fs.save()
            .json(&report, &json!({"n": 2}))
            .expect("save again");
        saved.push(stored_content(&fs));
        fs.edit().tags(&report, ["checked"]).expect("edit");
        fs.save()
            .text(
                FileConfig::new(FileId::new("notes").expect("id"), FileType::text())
                    .with_paths(["latest"]),
                "hello",
            )
            .expect("save notes");
        assert_eq!(
            fs.file("report").expect("file").load_json().expect("load"),
            Some(json!({"n": 2}))
        );
        let ids: Vec<String> = fs
            .list()
            .expect("list")
            .files
            .iter()
            .map(|f| f.id().as_str().to_owned())
            .collect();
        assert_eq!(ids, ["notes", "report"], "{base}");
        assert!(
            fs.verify(None).expect("verify").problems.is_empty(),
            "{base}"
        );
        fs.delete().file(&report).expect("delete");

        // The audit log: every change, the files it touched, the caller; one entry
        // per logical operation, with the content it wrote.
        let log = fs.audit_log(&LogQuery::default()).expect("log");
        assert!(log.iter().all(|e| e.first().caller == "alice"));
        check_report_log(&fs, base, &saved);
        let (of_files, others): (Vec<_>, Vec<_>) = log.iter().partition(|e| !e.files.is_empty());
        assert_eq!(
            of_files.len(),
            5,
            "{base}: four operations on report, one on notes"
        );
        assert!(
            others
                .iter()
                .flat_map(|e| &e.records)
                .all(|r| r.changes.iter().all(|c| c.key.starts_with(".memory-fs/"))),
            "{base}: the other entries are the library's own keys (the catalog's snapshot on S3)"
        );
        let last = fs
            .audit_log(&LogQuery {
                id: Some("report".to_owned()),
                since: None,
            })
            .expect("log of report")
            .pop()
            .expect("an entry");
        assert!(
            last.records
                .iter()
                .flat_map(|r| &r.changes)
                .any(|c| c.key == ".memory-fs/files/report"),
            "{base}: the delete removes the record"
        );
        let future = fs
            .audit_log(&LogQuery {
                id: None,
                since: Some(i64::MAX),
            })
            .expect("log");
        assert!(future.is_empty());
        drop(fs);

        // Opened without its layers (or some of them): refused, saying why.
        let err = open(base, "", &server).expect_err("no layers");
        assert_eq!(err.kind(), ErrorKind::Integrity, "{base}: {err}");
        assert!(err.to_string().contains("this store is encrypted"), "{err}");
        assert!(err.to_string().contains("Python"), "{err}");
        let err =
            open(base, &format!("encrypt={key}&audit=alice"), &server).expect_err("no compress");
        assert!(err.to_string().contains("compress=zstd"), "{err}");
        let err =
            open(base, &format!("encrypt={key}&compress=zstd"), &server).expect_err("no audit");
        assert!(err.to_string().contains("audit log"), "{err}");

        // A wrong key opens (the layers are there) but reads nothing.
        let wrong = open(
            base,
            &format!("encrypt={new_key}&compress=zstd&audit=eve"),
            &server,
        )
        .expect("open with another key");
        let err = wrong.file("notes").expect_err("wrong key");
        assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
        assert!(err.to_string().contains("wrong key"), "{err}");
        drop(wrong);

        // Rotation to the new key, then the store opens with the new key alone.
        let report = url(base, &layers, &server).rekey(&new_key).expect("rekey");
        assert!(report.rewritten > 0, "{base}");
        let again = url(base, &layers, &server)
            .rekey(&new_key)
            .expect("rekey again");
        assert_eq!(again.rewritten, 0, "{base}: nothing left under the old key");
        let fs = open(
            base,
            &format!("encrypt={new_key}&compress=zstd&audit=bob"),
            &server,
        )
        .expect("open with the new key");
        assert_eq!(
            fs.file("notes").expect("notes").load_text().expect("load"),
            Some("hello".to_owned())
        );
        let log = fs
            .audit_log(&LogQuery::default())
            .expect("the log reads after rekey");
        assert!(
            log.iter()
                .flat_map(|e| &e.records)
                .any(|r| r.op == AuditOp::Apply || r.op == AuditOp::SaveIf)
        );
        let err = open(base, &layers, &server)
            .expect("open with the old key")
            .file("notes")
            .expect_err("old key");
        assert!(err.to_string().contains("wrong key"), "{err}");
    }
}

#[test]
fn the_log_needs_the_audit_layer_and_keys_need_a_source() {
    let fs = MemoryFs::open("memory://?compress=zstd").expect("open");
    let err = fs
        .audit_log(&LogQuery::default())
        .expect_err("no audit layer");
    assert!(err.to_string().contains("audit=LABEL"), "{err}");
    let err = MemoryFs::open("memory://?encrypt=env:MEMORY_FS_TEST_KEY_THAT_IS_NOT_SET")
        .expect_err("no such variable");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("is not set"), "{err}");
    let err = StoreUrl::parse("memory://")
        .expect("url")
        .rekey("env:X")
        .expect_err("no key");
    assert!(err.to_string().contains("encrypt=env:VAR"), "{err}");
}

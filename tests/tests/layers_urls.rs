//! The storage layers from store URLs, on every provider (memory, disk, SQLite on a
//! file, S3 on the in-process server): logical files saved, edited, listed, queried and
//! deleted through `?encrypt=…&compress=zstd&audit=…`; the audit log read back per
//! file; a store opened without its layers refused with a clear error; key rotation.

use memory_fs::{AuditOp, ErrorKind, FileConfig, FileId, FileType, LogQuery, MemoryFs, StoreUrl};
use memory_fs_storage_s3::testing::TestServer;
use serde_json::json;

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
    assert_eq!(
        memory.load().json(&report).expect("load"),
        Some(json!({"n": 1}))
    );
    assert!(memory.storage().capabilities().encrypted);

    for base in &bases {
        let fs = open(base, &layers, &server).expect("open layered");
        fs.save().json(&report, &json!({"n": 1})).expect("save");
        fs.save()
            .json(&report, &json!({"n": 2}))
            .expect("save again");
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

        // The audit log: every change, the files it touched, the caller.
        let log = fs.audit_log(&LogQuery::default()).expect("log");
        assert!(log.iter().all(|e| e.record.caller == "alice"));
        let of_report = fs
            .audit_log(&LogQuery {
                id: Some("report".to_owned()),
                since: None,
            })
            .expect("log of report");
        assert!(of_report.len() >= 3, "{base}: save, edit, delete of report");
        assert!(
            of_report.len() < log.len(),
            "{base}: the notes' records are left out"
        );
        let last = of_report.last().expect("a record");
        assert!(
            last.record
                .changes
                .iter()
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
                .any(|e| e.record.op == AuditOp::Apply || e.record.op == AuditOp::SaveIf)
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

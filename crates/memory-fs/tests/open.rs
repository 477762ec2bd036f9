//! `MemoryFs::open` on every scheme (S3 against the in-process server), and its errors.
#![cfg_attr(
    not(all(
        feature = "memory",
        feature = "disk",
        feature = "sqlite",
        feature = "s3"
    )),
    allow(
        dead_code,
        unused_imports,
        reason = "helpers of the backends compiled out"
    )
)]

use std::path::{Component, Path, PathBuf};

use memory_fs::prelude::*;
use memory_fs::{Error, StoreUrl};
use serde_json::json;

/// Saves, reloads, lists and deletes one file: proof the store behind `fs` works.
fn round_trip(fs: &MemoryFs) {
    let config =
        FileConfig::new(FileId::new("probe").expect("id"), FileType::json()).with_paths(["a/b"]);
    fs.save().json(&config, &json!({"ok": true})).expect("save");
    assert_eq!(
        fs.load().json(&config).expect("load"),
        Some(json!({"ok": true}))
    );
    let listed: Vec<String> = fs
        .list()
        .expect("list")
        .files
        .iter()
        .map(|f| f.id().to_string())
        .collect();
    assert_eq!(listed, ["probe"]);
    assert_eq!(fs.delete().id("probe").expect("delete").deleted.len(), 3);
    // The record went too. A store whose listings carry versions (S3) keeps a listing
    // snapshot, which forgets the file at the next listing.
    let snapshot = ".memory-fs/catalog";
    let left: Vec<String> = fs
        .keys(None, true)
        .expect("keys")
        .iter()
        .map(|k| k.to_string())
        .filter(|k| k != snapshot)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(fs.list().expect("list").files.is_empty());
    if let Some(bytes) = fs
        .storage()
        .file_bytes(&memory_fs::SafePath::new(snapshot).expect("key"))
        .expect("read")
    {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("probe"),
            "the snapshot still holds the deleted file"
        );
    }
}

#[cfg(feature = "memory")]
#[test]
fn memory_url() {
    round_trip(&MemoryFs::open("memory://").expect("open"));
    round_trip(&MemoryFs::open("memory:").expect("open"));
    // Each open is a fresh store.
    let a = MemoryFs::open("memory://").expect("open");
    a.save()
        .text(
            FileSpec::new(FileId::new("x").expect("id"), FileType::text()),
            "x",
        )
        .expect("save");
    assert!(
        MemoryFs::open("memory://")
            .expect("open")
            .keys(None, true)
            .expect("keys")
            .is_empty()
    );
}

/// `to` written relative to the working directory.
fn relative_to_cwd(to: &Path) -> PathBuf {
    let cwd = std::env::current_dir().expect("cwd");
    let depth = cwd
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    let mut rel = PathBuf::new();
    for _ in 0..depth {
        rel.push("..");
    }
    rel.join(to.strip_prefix("/").expect("absolute"))
}

#[cfg(feature = "disk")]
#[test]
fn file_urls_absolute_and_relative() {
    let dir = tempfile::tempdir().expect("tempdir");
    let abs = dir.path().join("store");
    let fs = MemoryFs::open(&format!("file://{}", abs.display())).expect("open absolute");
    round_trip(&fs);
    assert!(abs.is_dir(), "the directory is created");

    let rel = relative_to_cwd(&dir.path().join("rel store"));
    let url = format!("file:{}", rel.display().to_string().replace(' ', "%20"));
    let fs = MemoryFs::open(&url).expect("open relative");
    fs.save()
        .text(
            FileSpec::new(FileId::new("kept").expect("id"), FileType::text()),
            "on disk",
        )
        .expect("save");
    assert_eq!(
        std::fs::read(dir.path().join("rel store/kept.txt")).expect("read the key as a file"),
        b"on disk"
    );

    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").expect("write");
    let err = MemoryFs::open(&format!("file://{}", blocker.display()))
        .expect_err("a file is not a store");
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains("cannot open store file://"),
        "{err}"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_urls_file_and_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    round_trip(&MemoryFs::open(&url).expect("open"));
    let fs = MemoryFs::open(&format!("{url}?synchronous=normal")).expect("open");
    fs.save()
        .text(
            FileSpec::new(FileId::new("kept").expect("id"), FileType::text()),
            "persisted",
        )
        .expect("save");
    drop(fs);
    let reopened = MemoryFs::open(&url).expect("reopen");
    assert_eq!(
        reopened
            .file("kept")
            .expect("file")
            .load_text()
            .expect("load")
            .as_deref(),
        Some("persisted")
    );
    round_trip(&MemoryFs::open("sqlite::memory:").expect("open"));

    let missing_dir = dir.path().join("no/such/dir/app.db");
    let err =
        MemoryFs::open(&format!("sqlite://{}", missing_dir.display())).expect_err("no directory");
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
}

#[cfg(feature = "s3")]
#[test]
fn s3_url_against_the_in_process_server() {
    let server = memory_fs::s3::testing::TestServer::start().expect("server");
    let url = format!(
        "s3://{}/tenant-a?endpoint={}&region={}&nested_keys=false&conditional_create=false",
        server.bucket, server.endpoint, server.region
    );
    let StoreUrl::S3(location) = StoreUrl::parse(&url).expect("parse") else {
        panic!("{url} is not an s3 URL");
    };
    let location = location.with_credentials(&server.access_key, &server.secret_key);
    let fs = StoreUrl::S3(location.clone()).open().expect("open");
    round_trip(&fs);
    fs.save()
        .text(
            FileSpec::new(FileId::new("kept").expect("id"), FileType::text()),
            "in the bucket",
        )
        .expect("save");
    let object = server.root().join(&server.bucket).join("tenant-a/kept.txt");
    assert_eq!(
        std::fs::read(&object).expect("the object, under the prefix"),
        b"in the bucket"
    );

    let wrong = location
        .clone()
        .with_credentials(&server.access_key, "not-the-secret");
    let err = StoreUrl::S3(wrong).open().expect_err("wrong secret");
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("denied") && !shown.contains("not-the-secret"),
        "{shown}"
    );

    let mut missing = location;
    missing.bucket = "no-such-bucket".into();
    let err = StoreUrl::S3(missing).open().expect_err("missing bucket");
    assert!(err.to_string().contains("no-such-bucket"), "{err}");
}

#[test]
fn unknown_schemes_and_bad_urls_are_clear_errors() {
    let err = MemoryFs::open("postgres://db/x").expect_err("unknown");
    assert!(matches!(err, Error::UnknownScheme { ref scheme, .. } if scheme == "postgres"));
    assert!(
        err.to_string().contains("memory://"),
        "the message lists the known schemes: {err}"
    );
    let err = MemoryFs::open("sqlite://").expect_err("no path");
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    let err = MemoryFs::open("").expect_err("empty");
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
}

#[cfg(not(feature = "s3"))]
#[test]
fn a_backend_left_out_names_its_feature() {
    let err = MemoryFs::open("s3://bucket").expect_err("not compiled in");
    assert!(
        matches!(
            err,
            Error::FeatureDisabled {
                scheme: "s3",
                feature: "s3"
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("enable the cargo feature `s3`"),
        "{err}"
    );
}

#[cfg(not(feature = "sqlite"))]
#[test]
fn sqlite_left_out_names_its_feature() {
    let err = MemoryFs::open("sqlite::memory:").expect_err("not compiled in");
    assert!(
        matches!(
            err,
            Error::FeatureDisabled {
                feature: "sqlite",
                ..
            }
        ),
        "{err:?}"
    );
}

#[cfg(not(feature = "disk"))]
#[test]
fn disk_left_out_names_its_feature() {
    let err = MemoryFs::open("file:///tmp/x").expect_err("not compiled in");
    assert!(
        matches!(
            err,
            Error::FeatureDisabled {
                feature: "disk",
                ..
            }
        ),
        "{err:?}"
    );
}

#[cfg(not(feature = "memory"))]
#[test]
fn memory_left_out_names_its_feature() {
    let err = MemoryFs::open("memory://").expect_err("not compiled in");
    assert!(
        matches!(
            err,
            Error::FeatureDisabled {
                feature: "memory",
                ..
            }
        ),
        "{err:?}"
    );
}

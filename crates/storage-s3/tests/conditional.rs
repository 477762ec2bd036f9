//! Versions, conditional writes, batches and copies on S3, counted request by request:
//! the version is the object's `ETag`, a conditional write is one conditional `PUT`, a
//! copy is one server-side `CopyObject`, and the test server's own conditional layer
//! (which makes `s3s-fs`'s conditions atomic) refuses what S3 refuses.

mod common;

use memory_fs_storage::{Batch, ErrorKind, Expect, SafePath, Storage, Version, testkit};
use memory_fs_storage_s3::S3Storage;
use memory_fs_storage_s3::testing::TestServer;
use object_store::ObjectStore;

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

/// The `ETag` S3 gives an object uploaded in one `PUT`: its MD5, quoted.
fn md5_e_tag(data: &[u8]) -> String {
    use md5::Digest as _;
    format!("\"{}\"", hex::encode(md5::Md5::digest(data)))
}

#[test]
fn the_version_is_the_e_tag() {
    let store = common::store();
    let k = key("v/one");
    let v = store
        .file_save_if(&k, b"first", &Expect::Absent)
        .expect("create");
    assert_eq!(v.as_str(), md5_e_tag(b"first"));
    let (bytes, got) = store.file_get(&k).expect("get").expect("exists");
    assert_eq!((bytes.as_slice(), &got), (&b"first"[..], &v));
    store.file_save(&k, b"second").expect("plain save");
    let (_, after) = store.file_get(&k).expect("get").expect("exists");
    assert_eq!(after, Version::new(md5_e_tag(b"second")));
}

/// In-process only: the request counter belongs to the test server.
#[test]
fn a_conditional_write_is_one_request_and_a_copy_stays_on_the_server() {
    let server = TestServer::start().expect("server");
    let store = S3Storage::new(server.config()).expect("store");
    let k = key("counted/value");
    store.file_save(&k, b"v1").expect("save");

    server.reset_requests();
    let (_, v1) = store.file_get(&k).expect("get").expect("exists");
    assert_eq!(server.requests().operation("GetObject"), 1);
    assert_eq!(server.requests().total(), 1, "{}", server.requests());

    server.reset_requests();
    let v2 = store
        .file_save_if(&k, b"v2", &Expect::Version(v1.clone()))
        .expect("current");
    let counts = server.requests();
    assert_eq!(
        (
            counts.total(),
            counts.operation("PutObject"),
            counts.method("PUT")
        ),
        (1, 1, 1),
        "{counts}"
    );

    server.reset_requests();
    let stale = store
        .file_save_if(&k, b"v3", &Expect::Version(v1))
        .expect_err("stale");
    assert_eq!(stale.kind(), ErrorKind::PreconditionFailed, "{stale}");
    let exists = store
        .file_save_if(&k, b"v3", &Expect::Absent)
        .expect_err("exists");
    assert_eq!(exists.kind(), ErrorKind::AlreadyExists, "{exists}");
    assert_eq!(server.requests().total(), 2, "{}", server.requests());
    assert_eq!(
        store.file_get(&k).expect("get").expect("exists"),
        (b"v2".to_vec(), v2)
    );

    server.reset_requests();
    assert!(store.file_copy(&k, &key("counted/copy")).expect("copy"));
    let counts = server.requests();
    assert_eq!(
        (counts.total(), counts.operation("CopyObject")),
        (1, 1),
        "{counts}"
    );
    assert_eq!(
        store
            .file_bytes(&key("counted/copy"))
            .expect("load")
            .as_deref(),
        Some(&b"v2"[..])
    );
    assert!(
        !store
            .file_copy(&key("counted/missing"), &key("counted/x"))
            .expect("copy"),
        "a missing source copies nothing"
    );
}

/// A value above the multipart threshold still goes up in one conditional `PUT`
/// (multipart uploads carry no condition in object_store).
#[test]
fn a_large_conditional_write_is_one_conditional_put() {
    let server = TestServer::start().expect("server");
    let store = S3Storage::new(
        server
            .config()
            .with_multipart_threshold(1024 * 1024)
            .with_part_size(5 * 1024 * 1024),
    )
    .expect("store");
    let data = vec![7u8; 3 * 1024 * 1024];
    server.reset_requests();
    let v = store
        .file_save_if(&key("big/cas"), &data, &Expect::Absent)
        .expect("create");
    let counts = server.requests();
    assert_eq!(
        (counts.total(), counts.operation("PutObject")),
        (1, 1),
        "{counts}"
    );
    let err = store
        .file_save_if(&key("big/cas"), &data, &Expect::Absent)
        .expect_err("exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    store
        .file_save_if(&key("big/cas"), b"small", &Expect::Version(v))
        .expect("current");
}

/// The test server's conditional layer on `CompleteMultipartUpload`: object_store's
/// multipart copy-if-not-exists completes with `If-None-Match: *`.
#[test]
fn the_test_server_checks_conditions_on_complete_multipart_upload() {
    let server = TestServer::start().expect("server");
    let store = S3Storage::new(server.config()).expect("store");
    store.file_save(&key("mp/source"), b"source").expect("save");
    store.file_save(&key("mp/taken"), b"taken").expect("save");
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&server.bucket)
        .with_endpoint(&server.endpoint)
        .with_region(&server.region)
        .with_allow_http(true)
        .with_access_key_id(&server.access_key)
        .with_secret_access_key(&server.secret_key)
        .with_copy_if_not_exists(object_store::aws::S3CopyIfNotExists::Multipart)
        .build()
        .expect("raw client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let from = object_store::path::Path::from("mp/source");
    let refused = runtime.block_on(raw.copy_if_not_exists(&from, &"mp/taken".into()));
    assert!(
        matches!(refused, Err(object_store::Error::AlreadyExists { .. })),
        "{refused:?}"
    );
    runtime
        .block_on(raw.copy_if_not_exists(&from, &"mp/fresh".into()))
        .expect("absent: the copy completes");
    assert_eq!(
        store.file_bytes(&key("mp/taken")).expect("load").as_deref(),
        Some(&b"taken"[..])
    );
    assert_eq!(
        store.file_bytes(&key("mp/fresh")).expect("load").as_deref(),
        Some(&b"source"[..])
    );
    assert!(server.requests().operation("CompleteMultipartUpload") >= 2);
}

/// A batch's put to a checked key is a conditional `PUT`: one `HEAD` per check, one
/// request per write.
#[test]
fn a_batch_checks_with_heads_and_puts_its_checked_key_conditionally() {
    let server = TestServer::start().expect("server");
    let store = S3Storage::new(server.config()).expect("store");
    let head = key("log/head");
    store.file_save(&head, b"1").expect("seed");
    let (_, v) = store.file_get(&head).expect("get").expect("exists");
    server.reset_requests();
    store
        .apply(
            &Batch::new()
                .check(head.clone(), Expect::Version(v.clone()))
                .put(key("log/0002"), b"entry")
                .put(head.clone(), b"2"),
        )
        .expect("apply");
    let counts = server.requests();
    assert_eq!(
        (
            counts.operation("HeadObject"),
            counts.operation("PutObject"),
            counts.total()
        ),
        (1, 2, 3),
        "{counts}"
    );
    let err = store
        .apply(
            &Batch::new()
                .check(head.clone(), Expect::Version(v))
                .put(key("log/0003"), b"entry"),
        )
        .expect_err("stale");
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert_eq!(store.file_bytes(&key("log/0003")).expect("load"), None);
}

/// Without the conditional layer the server is `s3s-fs` as it is: its configuration
/// declares no conditional writes, and the cases still hold (their races skipped).
#[test]
fn the_plain_test_server_declares_no_conditional_writes() {
    let server = TestServer::start_plain().expect("server");
    let store = S3Storage::new(server.config()).expect("store");
    let caps = store.capabilities();
    assert!(!caps.conditional_write && !caps.atomic_create);
    for case in [
        testkit::conditional_writes,
        testkit::conditional_write_race,
        testkit::apply_batches,
        testkit::create_if_absent,
        testkit::copies,
        // Its listings carry no ETags: one HEAD per listed key instead.
        testkit::listed_versions,
    ] {
        store.clear().expect("clear");
        case(&store);
    }
}

/// A listing with versions is one `ListObjectsV2` request per thousand keys: the
/// versions are the listed `ETag`s, the very ones a `GET` hands out.
#[test]
fn versions_come_with_the_listing() {
    let server = TestServer::start().expect("server");
    let store = S3Storage::new(server.config()).expect("store");
    for i in 0..1500 {
        store
            .file_save(&key(&format!("lv/{i:04}")), format!("{i}").as_bytes())
            .expect("save");
    }
    server.reset_requests();
    let listed = store.files_versions(Some(&key("lv"))).expect("list");
    assert_eq!(listed.len(), 1500);
    let counts = server.requests();
    assert_eq!(
        (counts.total(), counts.operation("ListObjectsV2")),
        (2, 2),
        "{counts}"
    );
    let (k, v) = &listed[1234];
    assert_eq!(v.as_str(), md5_e_tag(b"1234"));
    assert_eq!(&store.file_get(k).expect("get").expect("there").1, v);
}

/// The counter counts by operation and method, and starts over on reset.
#[test]
fn the_request_counter_counts_every_request() {
    let server = TestServer::start().expect("server");
    // Connecting lists the root once to check the bucket.
    let store = S3Storage::new(server.config()).expect("store");
    assert_eq!(
        server.requests().operation("ListObjectsV2"),
        1,
        "{}",
        server.requests()
    );
    server.reset_requests();
    assert_eq!(server.requests().total(), 0);
    store.file_save(&key("c/a"), b"a").expect("save");
    store.file_save(&key("c/b"), b"b").expect("save");
    let _ = store.file_bytes(&key("c/a")).expect("load");
    let _ = store.file_exists(&key("c/none")).expect("exists");
    let counts = server.requests();
    assert_eq!(counts.operation("PutObject"), 2, "{counts}");
    assert_eq!(counts.operation("GetObject"), 1, "{counts}");
    assert_eq!(counts.operation("HeadObject"), 1, "{counts}");
    assert_eq!(counts.method("PUT"), 2, "{counts}");
    assert_eq!(counts.total(), 4, "{counts}");
    assert_eq!(
        counts.to_string(),
        "4 requests (GetObject 1, HeadObject 1, PutObject 2)"
    );
}

//! Provider-specific tests against a real S3 server: failures with clear errors,
//! multipart, pagination, the key prefix, and sync-over-async from every kind of caller.

mod common;

use std::time::Duration;

use memory_fs_storage::{ErrorKind, SafePath, Storage, StorageError};
use memory_fs_storage_s3::testing::TestServer;
use memory_fs_storage_s3::{S3Config, S3Error, S3Storage};

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

/// Saves, lists and loads a little, proving the store works from where it is called.
#[track_caller]
fn check_round_trip(store: &dyn Storage) {
    store.file_save(&key("rt/a"), b"one").expect("save");
    store.file_save(&key("rt/b"), b"two").expect("save");
    assert_eq!(
        store.file_bytes(&key("rt/a")).expect("load").as_deref(),
        Some(&b"one"[..])
    );
    let listed: Vec<String> = store
        .files_paths(Some(&key("rt")))
        .expect("list")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(listed, ["rt/a", "rt/b"]);
    assert!(store.file_delete(&key("rt/a")).expect("delete"));
}

#[test]
fn wrong_credentials_are_a_clear_error() {
    let server = TestServer::start().expect("server");
    let config = server
        .config()
        .with_credentials(server.access_key.clone(), "not-the-secret");
    let err = S3Storage::new(config).expect_err("wrong secret");
    assert!(matches!(err, S3Error::AccessDenied { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("denied") && message.contains(&server.bucket),
        "{message}"
    );
    assert!(
        !message.contains("not-the-secret"),
        "the secret leaked: {message}"
    );
}

#[test]
fn missing_bucket_is_a_clear_error() {
    let server = TestServer::start().expect("server");
    let mut config = server.config();
    config.bucket = "no-such-bucket".into();
    let err = S3Storage::new(config).expect_err("missing bucket");
    assert!(matches!(err, S3Error::BucketNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "bucket \"no-such-bucket\" does not exist at {}",
            server.endpoint
        )
    );
    let storage_err = StorageError::from(err);
    assert_eq!(storage_err.kind(), ErrorKind::Backend);
}

#[test]
fn unreachable_endpoint_fails_instead_of_hanging() {
    // Bind a port, then close it: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = S3Config::new("bucket")
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_credentials("key", "secret")
        .with_timeouts(Duration::from_secs(1), Duration::from_secs(2))
        .with_retries(1, Duration::from_secs(3));
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(S3Storage::new(config).map(|_| ()));
    });
    // A generous bound: the configured timeouts add up to a few seconds, and the
    // point is "an error, not a hang", not how fast.
    let answer = wait
        .recv_timeout(Duration::from_secs(120))
        .expect("S3Storage::new hung on an unreachable endpoint");
    let err = answer.expect_err("nothing listens there");
    assert!(matches!(err, S3Error::Client(_)), "{err:?}");
}

#[test]
fn debug_redacts_secrets() {
    let config = S3Config::new("b")
        .with_credentials("AKID", "s3cr3t")
        .with_session_token("t0k3n");
    let shown = format!("{config:?}");
    assert!(
        shown.contains("AKID") && shown.contains("<redacted>"),
        "{shown}"
    );
    assert!(
        !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
        "{shown}"
    );
    let json = serde_json::to_string(&config).expect("serialize");
    assert!(
        !json.contains("s3cr3t") && !json.contains("t0k3n"),
        "{json}"
    );
}

#[test]
fn invalid_config_is_refused() {
    let err = S3Storage::new(S3Config::new("")).expect_err("empty bucket");
    assert!(matches!(err, S3Error::InvalidConfig { .. }), "{err:?}");
    let err = S3Storage::new(S3Config::new("b").with_part_size(1024)).expect_err("tiny parts");
    assert_eq!(
        err.to_string(),
        "invalid S3 configuration: part_size 1024 is below the 5 MiB minimum of S3"
    );
    let err = S3Storage::new(S3Config::new("b").with_prefix("../up")).expect_err("bad prefix");
    assert!(
        err.to_string()
            .starts_with("invalid S3 configuration: key prefix:"),
        "{err}"
    );
}

#[test]
fn a_64_mib_value_goes_through_multipart() {
    let (config, _server) = common::config();
    let config = config
        .with_multipart_threshold(8 * 1024 * 1024)
        .with_part_size(5 * 1024 * 1024);
    let store = S3Storage::new(config).expect("store");
    let data: Vec<u8> = (0..64 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    store
        .file_save(&key("big/blob"), &data)
        .expect("multipart save");
    let back = store
        .file_bytes(&key("big/blob"))
        .expect("load")
        .expect("exists");
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the multipart value came back different");
}

#[test]
fn listing_2500_keys_follows_pagination() {
    let store = common::store();
    let items: Vec<(SafePath, &[u8])> = (0..2500)
        .map(|i| (key(&format!("page/{i:04}")), &b"x"[..]))
        .collect();
    store.files_save(&items).expect("batch save");
    store
        .file_save(&key("pages"), b"not below page/")
        .expect("save");
    store
        .file_save(&key("other/1"), b"elsewhere")
        .expect("save");
    let listed = store.files_paths(Some(&key("page"))).expect("list");
    assert_eq!(listed.len(), 2500);
    assert!(
        listed.iter().zip(&items).all(|(a, (b, _))| a == b),
        "sorted and complete"
    );
    assert_eq!(store.files_paths(None).expect("list").len(), 2502);
    store.clear().expect("bulk clear");
    assert!(store.files_paths(None).expect("list").is_empty());
}

#[test]
fn the_key_prefix_confines_the_store() {
    let (config, _server) = common::config();
    let outer = S3Storage::new(config.clone()).expect("store");
    let base = config.prefix.clone();
    let inner_prefix = match &base {
        Some(p) => format!("{p}/tenant"),
        None => "tenant".to_owned(),
    };
    let inner = S3Storage::new(config.with_prefix(inner_prefix)).expect("store");
    inner.file_save(&key("a/b"), b"inside").expect("save");
    outer.file_save(&key("c"), b"outside").expect("save");
    let inner_keys: Vec<String> = inner
        .files_paths(None)
        .expect("list")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(inner_keys, ["a/b"]);
    let outer_keys: Vec<String> = outer
        .files_paths(None)
        .expect("list")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(outer_keys, ["c", "tenant/a/b"]);
    inner.clear().expect("clear");
    assert_eq!(
        outer.files_paths(None).expect("list").len(),
        1,
        "clear stays inside the prefix"
    );
}

#[test]
fn works_from_a_plain_thread() {
    let store = common::store();
    std::thread::scope(|s| {
        s.spawn(|| check_round_trip(&store)).join().expect("thread");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_multi_thread_runtime() {
    let store = common::store();
    check_round_trip(&store);
    drop(store);
}

#[tokio::test(flavor = "current_thread")]
async fn works_inside_a_current_thread_runtime() {
    let store = common::store();
    check_round_trip(&store);
    drop(store);
}

#[test]
fn outlives_the_runtimes_that_used_it() {
    // One store used from two runtimes in turn, the first gone before the second
    // starts: the connections belong to the store's runtime, so nothing stalls.
    let store = common::store();
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async { check_round_trip(&store) });
        drop(runtime);
    }
    check_round_trip(&store);
}

#[test]
fn is_created_and_dropped_inside_async_code() {
    let (config, _server) = common::config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let task = tokio::spawn(async move {
            let store = S3Storage::new(config).expect("store");
            check_round_trip(&store);
            // Dropped here, on a runtime worker: must not panic.
        });
        task.await.expect("the task did not panic");
    });
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<S3Storage>();
    check::<S3Config>();
    check::<S3Error>();
    check::<TestServer>();
}

#[test]
fn capabilities_follow_the_config() {
    let server = TestServer::start().expect("server");
    let caps = S3Storage::new(server.config())
        .expect("store")
        .capabilities();
    assert_eq!(
        (
            caps.backend,
            caps.nested_keys,
            caps.atomic_create,
            caps.conditional_write,
            caps.atomic_batch,
            caps.persistent
        ),
        ("s3", false, true, true, false, true)
    );
    let plain = TestServer::start_plain().expect("server");
    let caps = S3Storage::new(plain.config())
        .expect("store")
        .capabilities();
    assert!(!caps.atomic_create && !caps.conditional_write);
    let caps = S3Storage::new(
        plain
            .config()
            .with_nested_keys(true)
            .with_conditional_create(true)
            .with_conditional_write(true),
    )
    .expect("store")
    .capabilities();
    assert!(caps.nested_keys && caps.atomic_create && caps.conditional_write);
}

#[test]
fn config_debug_and_errors_read_well() {
    let config = S3Config::new("photos")
        .with_endpoint("http://127.0.0.1:9000")
        .with_allow_http(true)
        .with_prefix("team/a")
        .with_credentials("AKIDEXAMPLE", "very-secret");
    insta::assert_snapshot!("config_debug", format!("{config:#?}"));
    let messages: Vec<String> = [
        S3Storage::new(S3Config::new("")),
        S3Storage::new(S3Config::new("b").with_concurrency(0)),
        S3Storage::new(S3Config::new("b").with_prefix("a//b")),
    ]
    .into_iter()
    .map(|r| r.expect_err("invalid").to_string())
    .collect();
    insta::assert_snapshot!("invalid_config_errors", messages.join("\n"));
}

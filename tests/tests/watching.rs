//! Watching logical files on every provider: a save, a new version, an edit and a
//! delete are each reported once, with the file's id and version, whether made through
//! the watched handle or through another handle on the same store (another
//! connection, as another process has); a watch of one id reports only that file.

mod common;

use std::sync::Arc;
use std::time::Duration;

use memory_fs::{
    Change, ChangeKind, FileId, FileSpec, FileType, MemoryFs, PathHandler, Storage, Watch,
};
use serde_json::json;

/// Collects changes until `n` have come (or a generous minute passed).
fn collect(watch: &mut Watch, n: usize) -> Vec<Change> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while got.len() < n && std::time::Instant::now() < deadline {
        got.extend(watch.wait(Duration::from_secs(5)).expect("watch"));
    }
    got
}

fn seen(changes: &[Change]) -> Vec<(String, ChangeKind, Option<u32>)> {
    changes
        .iter()
        .map(|c| (c.id.to_string(), c.kind, c.version))
        .collect()
}

fn versioned(name: &str) -> FileSpec {
    FileSpec::new(FileId::new(name).expect("id"), FileType::json())
        .handlers([PathHandler::latest(), PathHandler::versioned()])
}

/// The store, a second handle on it (another connection to the same database or
/// directory: what another process would open; the same handle for memory and S3),
/// and what keeps them alive.
fn handles(provider: &'static str) -> (Arc<dyn Storage>, Arc<dyn Storage>, Box<dyn std::any::Any>) {
    let dir = tempfile::tempdir().expect("tempdir");
    match provider {
        "disk" => {
            let open = || -> Arc<dyn Storage> {
                Arc::new(memory_fs::disk::DiskStorage::open(dir.path()).expect("disk"))
            };
            (open(), open(), Box::new(dir))
        }
        "sqlite" => {
            let open = || -> Arc<dyn Storage> {
                Arc::new(
                    memory_fs::sqlite::SqliteStorage::open(dir.path().join("store.db"))
                        .expect("sqlite"),
                )
            };
            (open(), open(), Box::new(dir))
        }
        _ => {
            let store = common::store(provider);
            let storage = store.storage.clone();
            (storage.clone(), storage, Box::new(store))
        }
    }
}

fn every_change(provider: &'static str) {
    let (storage, second, _keep) = handles(provider);
    let fs = MemoryFs::new(storage);
    let other = MemoryFs::new(second);
    fs.save()
        .json(versioned("before"), &json!(0))
        .expect("save");
    let mut all = fs
        .watch(None)
        .expect("watch")
        .with_interval(Duration::from_millis(50));
    let mut one = fs
        .watch(Some("doc"))
        .expect("watch one")
        .with_interval(Duration::from_millis(50));
    if provider != "s3" {
        assert!(all.is_signalled(), "{provider} signals its changes");
    }
    assert!(
        all.poll().expect("poll").is_empty(),
        "what was there is not news"
    );

    let mut step = |what: &str, expect_all: &[(&str, ChangeKind, Option<u32>)], doc: bool| {
        let mut got = seen(&collect(&mut all, expect_all.len()));
        got.sort();
        let want: Vec<(String, ChangeKind, Option<u32>)> = expect_all
            .iter()
            .map(|(id, kind, v)| ((*id).to_owned(), *kind, *v))
            .collect();
        assert_eq!(got, want, "{provider}: {what}");
        let of_doc: Vec<_> = want.iter().filter(|c| c.0 == "doc").cloned().collect();
        let got_one = if doc {
            seen(&collect(&mut one, 1))
        } else {
            seen(&one.poll().expect("poll"))
        };
        assert_eq!(got_one, of_doc, "{provider}: {what}, watching doc alone");
    };

    fs.save()
        .json(versioned("doc"), &json!({"v": 1}))
        .expect("save");
    step("a new file", &[("doc", ChangeKind::Saved, Some(1))], true);
    other
        .save()
        .json(versioned("doc"), &json!({"v": 2}))
        .expect("save through the other handle");
    step(
        "a new version, by the other handle",
        &[("doc", ChangeKind::Saved, Some(2))],
        true,
    );
    other
        .file("doc")
        .expect("doc")
        .add_tags(["hot"])
        .expect("tag");
    step("an edit", &[("doc", ChangeKind::Edited, Some(2))], true);
    fs.save().json(versioned("other"), &json!(1)).expect("save");
    step(
        "another file",
        &[("other", ChangeKind::Saved, Some(1))],
        false,
    );
    fs.delete().id("doc").expect("delete");
    step("a delete", &[("doc", ChangeKind::Deleted, None)], true);
    assert!(all.poll().expect("poll").is_empty(), "each change once");
}

#[test]
fn on_memory() {
    every_change("memory");
}

#[test]
fn on_disk() {
    every_change("disk");
}

#[test]
fn on_sqlite() {
    every_change("sqlite");
}

#[test]
fn on_s3() {
    every_change("s3");
}

/// The channel of the blocking side delivers the same changes, one by one.
#[test]
fn a_channel_on_the_blocking_side() {
    let fs = MemoryFs::in_memory();
    let channel = fs.watch_channel(None).expect("channel");
    fs.save().json(versioned("a"), &json!(1)).expect("save");
    fs.save().json(versioned("a"), &json!(2)).expect("save");
    let first = channel
        .recv_timeout(Duration::from_secs(30))
        .expect("a change")
        .expect("no error");
    assert_eq!((first.id.as_str(), first.kind), ("a", ChangeKind::Saved));
    drop(channel);
}

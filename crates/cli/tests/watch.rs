//! `memory-fs watch` reports what other processes commit: a watching process on a disk
//! and on a SQLite store, and separate `save`, `save` (a new version) and `rm`
//! processes; the watcher prints each change once, as JSON lines, and stops after
//! `--count`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn memory_fs(dir: &Path, store: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memory-fs"));
    cmd.args(["--store", store])
        .args(args)
        .current_dir(dir)
        .env_remove("MEMORY_FS_STORE");
    cmd
}

fn run(dir: &Path, store: &str, args: &[&str]) {
    let out = memory_fs(dir, store, args).output().expect("run memory-fs");
    assert!(
        out.status.success(),
        "memory-fs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn other_processes_are_seen(store: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("doc.json"), b"{\"v\": 1}").expect("write");
    // A first file, so the store exists before the watch opens it.
    run(dir.path(), store, &["save", "doc.json", "--id", "first"]);

    let mut watcher = memory_fs(dir.path(), store, &["--json", "watch", "--count", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the watch");
    let mut ready = String::new();
    BufReader::new(watcher.stderr.take().expect("stderr"))
        .read_line(&mut ready)
        .expect("read");
    assert!(ready.starts_with("watching"), "{store}: {ready}");

    let save = [
        "save",
        "doc.json",
        "--id",
        "doc",
        "--path-handler",
        "latest",
    ];
    run(
        dir.path(),
        store,
        &[&save[..], &["--path-handler", "versioned"]].concat(),
    );
    // Each change is looked for before the next process starts: the watch reports
    // what was committed between two looks, once.
    let mut lines = BufReader::new(watcher.stdout.take().expect("stdout")).lines();
    let mut next = || -> Value {
        let line = lines.next().expect("a change").expect("read");
        serde_json::from_str(&line).expect("a JSON line")
    };
    let first = next();
    std::fs::write(dir.path().join("doc.json"), b"{\"v\": 2}").expect("write");
    run(
        dir.path(),
        store,
        &[&save[..], &["--path-handler", "versioned"]].concat(),
    );
    let second = next();
    run(dir.path(), store, &["rm", "doc"]);
    let third = next();
    let status = watcher.wait().expect("the watch ends");
    assert!(status.success(), "{store}: {status}");
    let shape = |v: &Value| json!({"id": v["id"], "change": v["change"], "version": v["version"]});
    assert_eq!(
        [shape(&first), shape(&second), shape(&third)],
        [
            json!({"id": "doc", "change": "saved", "version": 1}),
            json!({"id": "doc", "change": "saved", "version": 2}),
            json!({"id": "doc", "change": "deleted", "version": null}),
        ],
        "{store}"
    );
}

#[test]
fn disk() {
    other_processes_are_seen("file:store");
}

#[test]
fn sqlite() {
    other_processes_are_seen("sqlite://store.db");
}

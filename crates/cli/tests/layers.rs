//! The storage layers through the `memory-fs` binary: a store URL with
//! `?encrypt=env:…&compress=zstd&audit=…`, `memory-fs log`, `memory-fs rekey`, and the
//! error for a layered store opened without its layers.

use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` with both keys in the environment.
fn run(dir: &std::path::Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_memory-fs"))
        .args(args)
        .current_dir(dir)
        .env_remove("MEMORY_FS_STORE")
        .env("MFS_KEY", "11".repeat(32))
        .env("MFS_NEW_KEY", "22".repeat(32))
        .output()
        .expect("run memory-fs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn ok(dir: &std::path::Path, args: &[&str]) -> String {
    let r = run(dir, args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    r.stdout
}

/// SHA-256 of `# secret plans\n`, the content saved below.
const SECRET_SHA256: &str = "65f172796d331bc85dc930cd519078ea9c9af19f6fee05512a11dbc6b4a19789";

/// On disk a logical save is several records of the log (its intent, its keys, its
/// completion, each written ahead): `log` shows it once, with the content's hash.
#[test]
fn one_entry_per_logical_save_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("notes.md"), "# secret plans\n").expect("write input");
    let store = "--store=file:store?encrypt=env:MFS_KEY&audit=bob";
    ok(d, &[store, "save", "notes.md"]);
    ok(d, &[store, "save", "notes.md", "--tag", "again"]);
    ok(d, &[store, "rm", "notes"]);
    let log: Value =
        serde_json::from_str(&ok(d, &[store, "--json", "log", "--id", "notes"])).expect("JSON");
    let entries = log.as_array().expect("a list");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["save", "save", "delete"], "{log:#}");
    assert!(
        entries[0]["records"].as_array().map_or(0, Vec::len) > 1,
        "a save on disk is several records: {log:#}"
    );
    for e in &entries[..2] {
        assert_eq!(
            e["contents"],
            serde_json::json!([{"id": "notes", "sha256": SECRET_SHA256, "size": 15}])
        );
    }
    let table = ok(d, &[store, "log", "--id", "notes"]);
    assert_eq!(
        table.lines().count(),
        4,
        "a header and three operations: {table}"
    );
}

#[test]
fn layered_store_log_and_rekey() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("notes.md"), "# secret plans\n").expect("write input");
    let store = "--store=sqlite://s.db?encrypt=env:MFS_KEY&compress=zstd&audit=alice";
    ok(d, &[store, "save", "notes.md"]);
    ok(d, &[store, "save", "notes.md", "--tag", "again"]);
    assert_eq!(ok(d, &[store, "load", "notes"]), "# secret plans\n");

    // The log, as JSON and as a table, whole and for one file.
    let log: Value = serde_json::from_str(&ok(d, &[store, "--json", "log"])).expect("JSON");
    let entries = log.as_array().expect("a list");
    assert_eq!(entries.len(), 2, "two saves");
    assert_eq!(entries[0]["caller"], "alice");
    assert_eq!(entries[0]["seq"], 1);
    assert_eq!(entries[0]["action"], "save");
    assert_eq!(
        entries[0]["records"].as_array().map(Vec::len),
        Some(1),
        "one record a commit on SQLite"
    );
    assert_eq!(
        entries[1]["records"][0]["prev"],
        entries[0]["records"][0]["hash"]
    );
    assert_eq!(entries[0]["files"], serde_json::json!(["notes"]));
    assert_eq!(
        entries[0]["contents"],
        serde_json::json!([{"id": "notes", "sha256": SECRET_SHA256, "size": 15}])
    );
    let table = ok(d, &[store, "log", "--id", "notes"]);
    assert!(
        table.contains("alice") && table.contains("notes") && table.contains(&SECRET_SHA256[..16]),
        "{table}"
    );
    assert_eq!(
        ok(d, &[store, "--json", "log", "--id", "other"]).trim(),
        "[]"
    );
    assert_eq!(
        ok(d, &[store, "--json", "log", "--since", "2999-01-01"]).trim(),
        "[]"
    );

    // Opened without its layers: one clear line, exit code 3 (integrity).
    let bare = run(d, &["--store=sqlite://s.db", "ls"]);
    assert_eq!(bare.code, 3, "{}", bare.stderr);
    assert!(bare.stderr.starts_with("error: "), "{}", bare.stderr);
    assert!(
        bare.stderr.contains("this store is encrypted"),
        "{}",
        bare.stderr
    );
    assert!(bare.stderr.contains("Python"), "{}", bare.stderr);
    let r = run(d, &["--store=sqlite://s.db?compress=zstd", "log"]);
    assert_eq!(r.code, 3, "{}", r.stderr);

    // Rotation.
    let out = ok(d, &[store, "rekey", "--to", "env:MFS_NEW_KEY"]);
    assert!(out.contains("encrypt=env:MFS_NEW_KEY"), "{out}");
    let new = "--store=sqlite://s.db?encrypt=env:MFS_NEW_KEY&compress=zstd&audit=alice";
    assert_eq!(ok(d, &[new, "load", "notes"]), "# secret plans\n");
    let old = run(d, &[store, "load", "notes"]);
    assert_eq!(old.code, 3, "{}", old.stderr);
    assert!(old.stderr.contains("wrong key"), "{}", old.stderr);

    // Bad layer parameters are usage errors.
    let r = run(d, &["--store=sqlite://s.db?encrypt=deadbeef", "ls"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("never goes in the URL"), "{}", r.stderr);
    let r = run(
        d,
        &[
            "--store=sqlite://s.db?encrypt=env:MFS_UNSET&compress=zstd&audit=a",
            "ls",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("MFS_UNSET is not set"), "{}", r.stderr);
    let r = run(
        d,
        &["--store=sqlite://s.db", "rekey", "--to", "env:MFS_NEW_KEY"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

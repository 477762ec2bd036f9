//! `memory-fs verify --chain` and `memory-fs restore` run as a user would, on a disk
//! store another program then tampers with.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_memory-fs"))
        .args(["--store", "file:store"])
        .args(args)
        .current_dir(dir)
        .env_remove("MEMORY_FS_STORE")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run memory-fs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    out
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `notes` with versions 1..=3 ("one", "two", "three").
fn three_versions(dir: &Path) {
    for text in ["one\n", "two\n", "three\n"] {
        std::fs::write(dir.join("notes.txt"), text).expect("write");
        ok(
            dir,
            &[
                "save",
                "notes.txt",
                "--id",
                "notes",
                "--path-handler",
                "versioned",
            ],
        );
    }
}

#[test]
fn verify_chain_reports_a_tampered_middle_version_by_id_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    three_versions(dir);
    let out = ok(dir, &["verify", "--chain"]);
    assert_eq!(out, "checked 1 versioned files (3 versions): 0 problems\n");

    std::fs::write(dir.join("store/v2/notes.txt"), "TWO\n").expect("tamper");
    let out = run(dir, &["verify", "--chain"]);
    assert_eq!(out.status.code(), Some(3), "an integrity failure");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("BAD  notes v2: altered: "), "{text}");
    assert!(
        text.ends_with("checked 1 versioned files (3 versions): 1 problems\n"),
        "{text}"
    );

    let out = run(dir, &["--json", "verify", "--chain"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["versions"], 3);
    assert_eq!(report["problems"][0]["id"], "notes");
    assert_eq!(report["problems"][0]["version"], 2);
    assert_eq!(report["problems"][0]["fault"], "altered");
}

#[test]
fn restore_saves_an_old_version_as_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    three_versions(dir);
    assert_eq!(
        ok(dir, &["restore", "notes", "v1"]),
        "restored notes v1 as v4\n"
    );
    assert_eq!(ok(dir, &["load", "notes"]), "one\n");
    assert_eq!(ok(dir, &["load", "notes", "--version", "2"]), "two\n");
    assert_eq!(
        std::fs::read(dir.join("store/v4/notes.txt")).expect("v4"),
        std::fs::read(dir.join("store/v1/notes.txt")).expect("v1")
    );
    ok(dir, &["verify", "--chain"]);

    let out = run(dir, &["restore", "notes", "v9"]);
    assert_eq!(out.status.code(), Some(1), "not found");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no version 9") && err.contains("1-4"), "{err}");
    let out = run(dir, &["restore", "notes", "latest"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn diff_shows_the_last_change_or_any_two_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    three_versions(dir);
    assert_eq!(
        ok(dir, &["diff", "notes"]),
        "--- v2/notes.txt\n+++ v3/notes.txt\n@@ -1 +1 @@\n-two\n+three\n"
    );
    let out = ok(dir, &["--json", "diff", "notes", "v1", "3"]);
    let d: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(d["kind"], "text");
    assert_eq!(d["from"]["version"], 1);
    assert_eq!(d["to"]["version"], 3);
    assert_eq!(
        d["unified"],
        "--- v1/notes.txt\n+++ v3/notes.txt\n@@ -1 +1 @@\n-one\n+three\n"
    );
    let out = run(dir, &["diff", "notes", "v7"]);
    assert_eq!(out.status.code(), Some(1), "not found");
}

#[test]
fn diff_of_json_with_json_is_the_patch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    for text in [r#"{"a": 1, "b": [1]}"#, r#"{"a": 2, "b": [1]}"#] {
        std::fs::write(dir.join("cfg.json"), text).expect("write");
        ok(dir, &["save", "cfg.json", "--path-handler", "versioned"]);
    }
    let patch: Value = serde_json::from_str(&ok(dir, &["--json", "diff", "cfg"])).expect("json");
    assert_eq!(
        patch,
        serde_json::json!([{"op": "replace", "path": "/a", "value": 2}])
    );
}

#[test]
fn prune_removes_what_the_policy_does_not_keep_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    three_versions(dir);
    // No policy anywhere: nothing goes, and the output says how to give one.
    let out = ok(dir, &["prune"]);
    assert!(out.contains("removed 0 versions"), "{out}");
    assert!(out.contains("--keep-last"), "{out}");
    // A dry run says what would go and removes nothing.
    let out = ok(dir, &["prune", "--dry-run", "--keep-last", "1"]);
    assert_eq!(
        out,
        "notes: would remove v1-v2, keeping v3\n\
         would remove 2 versions of 1 files (1 versioned, 1 with a retention policy)\n"
    );
    assert!(dir.join("store/v1/notes.txt").exists());
    let out = ok(
        dir,
        &["--json", "prune", "--id", "notes", "--keep-last", "2"],
    );
    let report: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["versions_removed"], 1, "{report}");
    assert_eq!(report["pruned"][0]["removed"], serde_json::json!([1]));
    assert_eq!(report["pruned"][0]["kept"], serde_json::json!([2, 3]));
    assert!(!dir.join("store/v1/notes.txt").exists());
    let out = ok(dir, &["verify", "--chain"]);
    assert_eq!(out, "checked 1 versioned files (2 versions): 0 problems\n");
    assert!(ok(dir, &["verify"]).contains("0 problems"));
}

#[test]
fn save_keeps_the_files_own_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    for text in ["one\n", "two\n", "three\n", "four\n"] {
        std::fs::write(dir.join("notes.txt"), text).expect("write");
        ok(
            dir,
            &[
                "save",
                "notes.txt",
                "--id",
                "notes",
                "--path-handler",
                "versioned",
                "--keep-last",
                "2",
            ],
        );
    }
    let out = ok(dir, &["--json", "versions", "notes"]);
    let versions: Value = serde_json::from_str(&out).expect("json");
    let numbers: Vec<u64> = versions
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(numbers, [3, 4]);
    assert!(ok(dir, &["verify", "--chain"]).contains("0 problems"));
    let out = ok(dir, &["info", "notes"]);
    assert!(out.contains("retention     keeps the last 2\n"), "{out}");
    let info: Value = serde_json::from_str(&ok(dir, &["--json", "info", "notes"])).expect("json");
    assert_eq!(info["retention"]["keep_last"], 2, "{info}");
}

#[test]
fn bad_retention_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    for args in [
        &["prune", "--keep-last", "0"][..],
        &["prune", "--keep-within", "soon"],
        &["prune", "--keep-within", "0s"],
    ] {
        let out = run(dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    let out = run(dir, &["prune", "--id", "nothing-here"]);
    assert_eq!(out.status.code(), Some(1), "an unknown id is not found");
}

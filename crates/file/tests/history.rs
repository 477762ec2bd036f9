//! Version history: chain verification reports a missing, reordered or altered
//! version by version; restore saves an old version again as a new one.

use std::sync::Arc;

use memory_fs_file::{
    ChainFault, Clock, Content, File, FileError, FileId, FileSpec, FileType, FixedClock,
    PathHandler, chain_hash, content_hash,
};
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;
use serde_json::{Value, json};

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock(1_795_393_179_295))
}

fn key(k: &str) -> SafePath {
    SafePath::new(k).expect("key")
}

/// A JSON file `doc` with versions 1..=n under `hist/`.
fn versioned(n: u32) -> (Arc<MemoryStorage>, File) {
    let s = Arc::new(MemoryStorage::new());
    let spec = FileSpec::new(FileId::new("doc").expect("id"), FileType::json())
        .handlers([PathHandler::versioned().with_prefix("hist")]);
    let mut file = None;
    for i in 1..=n {
        file = Some(
            File::save_with_clock(s.clone(), clock(), &spec, Content::Json(&json!({"v": i})))
                .expect("save"),
        );
    }
    (s, file.expect("at least one version"))
}

fn reopen(s: &Arc<MemoryStorage>) -> File {
    File::open(s.clone(), &FileId::new("doc").expect("id"))
        .expect("open")
        .expect("exists")
        .with_clock(clock())
}

fn faults(s: &Arc<MemoryStorage>) -> Vec<(u32, ChainFault)> {
    reopen(s)
        .verify_chain()
        .expect("verify")
        .into_iter()
        .map(|p| {
            assert_eq!(p.id.as_str(), "doc");
            (p.version, p.fault)
        })
        .collect()
}

fn metadata(s: &MemoryStorage, n: u32) -> Value {
    let bytes = s
        .file_bytes(&key(&format!("hist/v{n}/doc.json.metadata")))
        .expect("read")
        .expect("metadata");
    serde_json::from_slice(&bytes).expect("json")
}

fn put_metadata(s: &MemoryStorage, n: u32, m: &Value) {
    s.file_save(
        &key(&format!("hist/v{n}/doc.json.metadata")),
        serde_json::to_string(m).expect("json").as_bytes(),
    )
    .expect("write");
}

#[test]
fn a_sound_chain_has_no_faults() {
    let (s, _) = versioned(4);
    assert_eq!(faults(&s), []);
}

#[test]
fn tampered_middle_content_is_altered() {
    let (s, _) = versioned(4);
    s.file_save(&key("hist/v2/doc.json"), b"{\"v\": 20}")
        .expect("tamper");
    let problems = reopen(&s).verify_chain().expect("verify");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].version, problems[0].fault),
        (2, ChainFault::Altered)
    );
    assert!(
        problems[0].detail.contains("hist/v2/doc.json"),
        "{}",
        problems[0]
    );
}

#[test]
fn a_middle_version_rewritten_with_fresh_hashes_breaks_the_chain_after_it() {
    let (s, _) = versioned(4);
    // Content and metadata rewritten consistently, its own chain hash recomputed:
    // only the next version's chain hash tells.
    let content = b"{\"v\": 20}";
    s.file_save(&key("hist/v2/doc.json"), content)
        .expect("tamper");
    let mut m = metadata(&s, 2);
    let m1 = metadata(&s, 1);
    m["content__hash"] = json!(content_hash(content));
    m["content__size"] = json!(content.len());
    m["chain_hash"] = json!(chain_hash(m1["chain_hash"].as_str(), content));
    put_metadata(&s, 2, &m);
    assert_eq!(faults(&s), [(3, ChainFault::Broken)]);
}

#[test]
fn a_removed_middle_version_is_missing() {
    let (s, _) = versioned(4);
    s.file_delete(&key("hist/v3/doc.json")).expect("delete");
    s.file_delete(&key("hist/v3/doc.json.metadata"))
        .expect("delete");
    let problems = reopen(&s).verify_chain().expect("verify");
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.version, p.fault))
            .collect::<Vec<_>>(),
        [(3, ChainFault::Missing)],
        "{problems:?}"
    );
    assert!(
        problems[0].detail.contains("hist/v3/doc.json"),
        "{}",
        problems[0]
    );
}

#[test]
fn swapped_versions_are_reordered() {
    let (s, _) = versioned(4);
    // v2 and v3 exchanged, content and metadata together.
    let read = |k: &str| s.file_bytes(&key(k)).expect("read").expect("exists");
    let (c2, m2) = (read("hist/v2/doc.json"), read("hist/v2/doc.json.metadata"));
    let (c3, m3) = (read("hist/v3/doc.json"), read("hist/v3/doc.json.metadata"));
    s.file_save(&key("hist/v2/doc.json"), &c3).expect("write");
    s.file_save(&key("hist/v2/doc.json.metadata"), &m3)
        .expect("write");
    s.file_save(&key("hist/v3/doc.json"), &c2).expect("write");
    s.file_save(&key("hist/v3/doc.json.metadata"), &m2)
        .expect("write");
    let found = faults(&s);
    assert!(found.contains(&(2, ChainFault::Reordered)), "{found:?}");
    assert!(found.contains(&(3, ChainFault::Reordered)), "{found:?}");
}

#[test]
fn restore_saves_an_old_version_as_a_new_one() {
    let (s, file) = versioned(3);
    let restored = file.restore(1).expect("restore");
    assert_eq!(restored.versions(), [1, 2, 3, 4]);
    assert_eq!(restored.load_json().expect("load"), Some(json!({"v": 1})));
    let v1 = s.file_bytes(&key("hist/v1/doc.json")).expect("read");
    let v4 = s.file_bytes(&key("hist/v4/doc.json")).expect("read");
    assert_eq!(v1, v4, "the same stored bytes");
    assert_eq!(
        metadata(&s, 4)["previous_version_path"],
        json!("hist/v3/doc.json"),
        "the restored version follows the last one"
    );
    // History is not rewritten: the old versions are as they were.
    let reopened = reopen(&s);
    for n in 1..=3 {
        let v = reopened.version(n).expect("version").expect("held");
        assert_eq!(v.load_json().expect("load"), Some(json!({"v": n})));
    }
    assert_eq!(faults(&s), []);
}

#[test]
fn restoring_a_version_not_held_is_an_error_and_writes_nothing() {
    let (s, file) = versioned(2);
    let before = s.files_paths(None).expect("list");
    match file.restore(7) {
        Err(FileError::NoVersion {
            version: 7, held, ..
        }) => assert_eq!(held, "1-2"),
        other => panic!("expected NoVersion, got {other:?}"),
    }
    assert_eq!(s.files_paths(None).expect("list"), before);
}

#[test]
fn restoring_a_damaged_version_is_refused() {
    let (s, file) = versioned(2);
    s.file_save(&key("hist/v1/doc.json"), b"{}")
        .expect("tamper");
    assert!(
        matches!(
            file.restore(1),
            Err(FileError::HashMismatch { .. } | FileError::StaleMetadata { .. })
        ),
        "a damaged version is not restored"
    );
    assert_eq!(reopen(&s).versions(), [1, 2]);
}

/// A text file `notes` with the given versions.
fn text_versions(texts: &[&str]) -> File {
    let s = Arc::new(MemoryStorage::new());
    let spec = FileSpec::new(FileId::new("notes").expect("id"), FileType::text())
        .handlers([PathHandler::versioned()]);
    let mut file = None;
    for t in texts {
        file =
            Some(File::save_with_clock(s.clone(), clock(), &spec, Content::Text(t)).expect("save"));
    }
    file.expect("at least one")
}

#[test]
fn text_diff_is_a_unified_diff_between_versions() {
    let file = text_versions(&[
        "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\ntheta\n",
        "alpha\nbeta\nGAMMA\ndelta\nepsilon\nzeta\neta\ntheta\niota\n",
    ]);
    let memory_fs_file::Diff::Text { from, to, unified } = file.diff(1, None).expect("diff") else {
        panic!("a text file diffs as text");
    };
    assert_eq!((from.version, to.version), (Some(1), Some(2)));
    insta::assert_snapshot!(unified);
    let same = file.diff(2, Some(2)).expect("diff");
    assert!(matches!(same, memory_fs_file::Diff::Text { unified, .. } if unified.is_empty()));
    assert!(matches!(
        file.diff(5, None),
        Err(FileError::NoVersion { version: 5, .. })
    ));
}

#[test]
fn binary_diff_gives_sizes_and_hashes() {
    let s = Arc::new(MemoryStorage::new());
    let spec = FileSpec::new(FileId::new("blob").expect("id"), FileType::binary())
        .handlers([PathHandler::versioned()]);
    File::save_with_clock(s.clone(), clock(), &spec, Content::Bytes(&[0, 1, 2])).expect("save");
    let file =
        File::save_with_clock(s.clone(), clock(), &spec, Content::Bytes(&[9; 10])).expect("save");
    let memory_fs_file::Diff::Binary { from, to } = file.diff(1, Some(2)).expect("diff") else {
        panic!("a binary file diffs by size and hash");
    };
    assert_eq!((from.size, to.size), (3, 10));
    assert_eq!(from.hash, content_hash(&[0, 1, 2]));
    assert_eq!(to.hash, content_hash(&[9; 10]));
    assert_eq!(to.key, "v2/blob.bin");
}

#[test]
fn json_diff_is_an_rfc_6902_patch() {
    let s = Arc::new(MemoryStorage::new());
    let spec = FileSpec::new(FileId::new("cfg").expect("id"), FileType::json())
        .handlers([PathHandler::versioned()]);
    let a = json!({"name": "x", "n": [1, 2], "gone": true});
    let b = json!({"name": "y", "n": [1, 2, 3], "new": {"k": null}});
    File::save_with_clock(s.clone(), clock(), &spec, Content::Json(&a)).expect("save");
    let file = File::save_with_clock(s.clone(), clock(), &spec, Content::Json(&b)).expect("save");
    let memory_fs_file::Diff::Json { patch, paths, .. } = file.diff(1, None).expect("diff") else {
        panic!("a JSON file diffs as a patch");
    };
    insta::assert_json_snapshot!(patch);
    assert_eq!(paths.len(), patch.as_array().expect("array").len());
    // The patch applied to the older value gives the newer one.
    let mut applied = a.clone();
    let ops: json_patch::Patch = serde_json::from_value(patch).expect("a patch");
    json_patch::patch(&mut applied, &ops).expect("applies");
    assert_eq!(applied, b);
}

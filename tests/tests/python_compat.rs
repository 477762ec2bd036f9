//! Compatibility with the Python `memory-fs` 0.41 package, on the stores it wrote
//! (`../shared/fixtures/python-memory-fs/`, described by `cases.json`).
//!
//! Both directions: every case is read back with the same data, and replaying the
//! case's operations with the same clock writes the same bytes — except the two
//! metadata fields Python never fills (`chain_hash`, `previous_version_path`), which are
//! compared as `null` after checking ours, and the one case where Python's metadata is
//! stale by its own bug.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use memory_fs_file::{
    Content, File, FileConfig, FileError, FileId, FileMetadata, FileSpec, FileType, FixedClock,
    Placed, chain_hash,
};
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;
use serde_json::Value;

fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/python-memory-fs");
    assert!(
        dir.join("cases.json").is_file(),
        "the Python fixtures are missing: expected {} (the `shared` folder must sit beside the repository)",
        dir.display()
    );
    dir
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).expect("read cases.json");
    let all: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    all["cases"].as_array().expect("cases array").clone()
}

/// Every file of a case directory, as (key, bytes), sorted.
fn case_files(case: &Value) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures().join(case["dir"].as_str().expect("dir"));
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read fixture dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let key = path
                    .strip_prefix(base)
                    .expect("below base")
                    .to_string_lossy()
                    .into_owned();
                out.push((key, std::fs::read(&path).expect("read fixture file")));
            }
        }
    }
    walk(&dir, &dir, &mut out);
    out.sort();
    out
}

fn load_store(case: &Value) -> Arc<MemoryStorage> {
    let store = Arc::new(MemoryStorage::new());
    for (key, bytes) in case_files(case) {
        store
            .file_save(&SafePath::new(key).expect("fixture key"), &bytes)
            .expect("load fixture");
    }
    store
}

fn file_type(case: &Value) -> FileType {
    serde_json::from_value(case["file_type"].clone()).expect("file_type")
}

/// The config the case's last `file` operation used.
fn config(case: &Value, file_paths: &Value) -> FileConfig {
    let id =
        FileId::new(case["file_id_stored"].as_str().expect("id")).expect("stored ids are valid");
    let paths: Vec<String> = serde_json::from_value(file_paths.clone()).expect("file_paths");
    let mut config = FileConfig::new(id, file_type(case)).with_paths(paths);
    if let Some(key) = case["file_key"].as_str() {
        config = config.with_key(key);
    }
    config
}

fn last_file_paths(case: &Value) -> Value {
    case["operations"]
        .as_array()
        .expect("ops")
        .iter()
        .rev()
        .find(|o| o["op"] == "file")
        .expect("a file op")["file_paths"]
        .clone()
}

#[test]
fn python_stores_read_back_with_the_same_data() {
    for case in cases() {
        let name = case["name"].as_str().expect("name");
        let store = load_store(&case);
        let file = Placed::new(store.clone(), config(&case, &last_file_paths(&case)));
        assert_eq!(
            file.exists().expect("exists"),
            case["exists"].as_bool().expect("exists"),
            "{name}"
        );
        let expected = &case["expected_content"];
        if name == "update_stale_metadata" {
            // Python rewrote the content but not the metadata: we say so, naming the path.
            match file.load_json() {
                Err(FileError::StaleMetadata { path, .. }) => {
                    assert_eq!(path, "latest/counter.json")
                }
                other => panic!("{name}: expected stale metadata, got {other:?}"),
            }
            let raw = file
                .bytes_unverified()
                .expect("unverified")
                .expect("content");
            assert_eq!(
                serde_json::from_slice::<Value>(&raw).expect("json"),
                expected["value"]
            );
            continue;
        }
        match expected["encoding"].as_str().expect("encoding") {
            "json" => assert_eq!(
                file.load_json().expect("load"),
                Some(expected["value"].clone()),
                "{name}"
            ),
            "string" => assert_eq!(
                file.load_text().expect("load").as_deref(),
                expected["value"].as_str(),
                "{name}"
            ),
            "base64" => {
                let want = base64::engine::general_purpose::STANDARD
                    .decode(expected["value"].as_str().expect("b64"))
                    .expect("b64");
                assert_eq!(file.load_bytes().expect("load"), Some(want), "{name}");
            }
            // Python reads an empty file back as nothing; it is a real, empty file.
            "none" => assert_eq!(
                file.load_text().expect("load").as_deref(),
                Some(""),
                "{name}"
            ),
            other => panic!("{name}: unknown expected encoding {other}"),
        }
        if let Some(meta) = file.metadata().expect("metadata") {
            assert_eq!(
                meta.chain_hash, None,
                "{name}: Python leaves chain_hash null"
            );
        }
    }
}

fn metadata_timestamp(case: &Value, returned: &Value) -> i64 {
    let returned: Vec<&str> = returned
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    case["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["kind"] == "metadata" && returned.contains(&f["path"].as_str().unwrap_or("")))
        .and_then(|f| f["metadata_timestamp_ms"].as_i64())
        .or_else(|| case["clock"]["metadata_timestamp_ms"].as_i64())
        .unwrap_or(0)
}

#[test]
fn replaying_python_operations_writes_the_same_bytes() {
    for case in cases() {
        let name = case["name"].as_str().expect("name").to_owned();
        let store = Arc::new(MemoryStorage::new());
        let mut file: Option<FileConfig> = None;
        let mut saved: Option<File> = None;
        for op in case["operations"].as_array().expect("ops") {
            match op["op"].as_str().expect("op") {
                "file" => file = Some(config(&case, &op["file_paths"])),
                "increment_version" => file = None,
                "create" | "update" => {
                    let spec = FileSpec::from(file.clone().expect("a file op came first"));
                    let clock =
                        Arc::new(FixedClock(metadata_timestamp(&case, &op["returned_paths"])));
                    let input = &op["input"];
                    let bytes;
                    let content = match input["encoding"].as_str().expect("encoding") {
                        "json" => Content::Json(&input["value"]),
                        "string" => Content::Text(input["value"].as_str().expect("text")),
                        _ => {
                            bytes = base64::engine::general_purpose::STANDARD
                                .decode(input["value"].as_str().expect("b64"))
                                .expect("b64");
                            Content::Bytes(&bytes)
                        }
                    };
                    saved = Some(
                        File::save_with_clock(store.clone(), clock, &spec, content)
                            .unwrap_or_else(|e| panic!("{name}: save failed: {e}")),
                    );
                }
                "metadata__update" => {
                    let data = op["input"]["value"].as_object().expect("data").clone();
                    saved
                        .as_ref()
                        .expect("file")
                        .update_data(data)
                        .expect("update data");
                }
                other => panic!("{name}: unknown op {other}"),
            }
        }
        let expected = case_files(&case);
        let mut ours: Vec<(String, Vec<u8>)> = store
            .files_paths(None)
            .expect("list")
            .into_iter()
            // Our records and index postings are beside the Python layout, which ignores them.
            .filter(|k| !memory_fs_file::is_reserved(k))
            .map(|k| {
                let bytes = store.file_bytes(&k).expect("load").expect("exists");
                (k.to_string(), bytes)
            })
            .collect();
        ours.sort();
        let keys = |v: &[(String, Vec<u8>)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&expected), "{name}: the same keys");
        for ((key, mine), (_, theirs)) in ours.iter().zip(&expected) {
            if !key.ends_with(".metadata") {
                assert!(
                    mine == theirs,
                    "{name}: {key} differs:\nours:   {}\npython: {}",
                    String::from_utf8_lossy(mine),
                    String::from_utf8_lossy(theirs)
                );
                continue;
            }
            let mut meta = FileMetadata::from_json(key, mine).expect("our metadata parses");
            let content_key = key.trim_end_matches(".metadata");
            let content = &ours
                .iter()
                .find(|(k, _)| k == content_key)
                .expect("content beside metadata")
                .1;
            // Our additions, checked, then set to what Python writes.
            let expected_chain = match &meta.previous_version_path {
                // A second save at the same place chains from the first.
                None if name == "update_stale_metadata" => {
                    let first =
                        memory_fs_file::python_json(&case["operations"][1]["input"]["value"], 2);
                    chain_hash(Some(&chain_hash(None, first.as_bytes())), content)
                }
                Some(prev) => {
                    let prev_meta_key = format!("{prev}.metadata");
                    let prev_bytes = &ours
                        .iter()
                        .find(|(k, _)| *k == prev_meta_key)
                        .expect("previous version metadata")
                        .1;
                    let prev = FileMetadata::from_json(&prev_meta_key, prev_bytes).expect("parse");
                    chain_hash(prev.chain_hash.as_deref(), content)
                }
                None => chain_hash(None, content),
            };
            assert_eq!(
                meta.chain_hash.as_deref(),
                Some(expected_chain.as_str()),
                "{name}: {key} chain hash"
            );
            meta.chain_hash = None;
            meta.previous_version_path = None;
            if name == "update_stale_metadata" {
                // Python kept the first save's hash and size; ours describes the content.
                assert_eq!(
                    meta.content_hash,
                    memory_fs_file::content_hash(content),
                    "{name}"
                );
                assert_eq!(meta.content_size, content.len() as u64, "{name}");
                continue;
            }
            let mine = meta.to_json();
            assert_eq!(mine, String::from_utf8_lossy(theirs), "{name}: {key}");
        }
    }
}

#[test]
fn the_python_sqlite_store_opens_through_the_facade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("multiple_paths.sqlite");
    std::fs::copy(fixtures().join("_backends/multiple_paths.sqlite"), &db).expect("copy fixture");
    let fs = memory_fs::MemoryFs::open(&format!("sqlite://{}", db.display())).expect("open");
    // The fixture directory itself is only read: its configs are scanned, never indexed.
    let from_disk = memory_fs::MemoryFs::open(&format!(
        "file://{}",
        fixtures().join("multiple_paths").display()
    ))
    .expect("open the same store on disk");
    let listing = |fs: &memory_fs::MemoryFs| -> Vec<(String, Vec<String>, Option<Value>)> {
        memory_fs::TargetCreate::new(fs.storage().clone())
            .scan(None)
            .expect("scan")
            .iter()
            .map(|t| {
                let c = t.config();
                (
                    c.file_id.as_str().to_owned(),
                    c.file_paths.clone(),
                    t.file().load_json().expect("load"),
                )
            })
            .collect()
    };
    let found = listing(&fs);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "order-42");
    assert_eq!(
        found,
        listing(&from_disk),
        "the SQLite and directory stores agree"
    );
    // The SQLite copy, reindexed, finds the file by id; Python's table takes our
    // records beside its rows.
    assert_eq!(fs.reindex().expect("reindex").written.len(), 1);
    let file = fs.file("order-42").expect("by id");
    assert_eq!(file.info().folders.len(), 4);
    assert!(fs.verify(None).expect("verify").problems.is_empty());
}

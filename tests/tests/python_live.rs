//! Live compatibility with the Python `memory-fs` 0.41 package, both directions, on
//! freshly generated data, on disk and in SQLite: Python writes a store that we read,
//! and we write a store that Python reads. Needs a Python with the package installed, named by
//! `MEMORY_FS_PYTHON`; `cargo xtask python-compat` sets that up and runs this test
//! (ignored otherwise, since it needs that interpreter).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use memory_fs_file::storage::{SafePath, Storage};
use memory_fs_file::{Content, File, FileConfig, FileId, FileSpec, FileType, PathHandler, Placed};
use memory_fs_storage_disk::DiskStorage;
use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};
use serde_json::{Value, json};

fn python() -> String {
    std::env::var("MEMORY_FS_PYTHON").expect(
        "MEMORY_FS_PYTHON names a Python with memory-fs==0.41.0 (run `cargo xtask python-compat`)",
    )
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/live_compat.py")
}

fn run_python(args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("start python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Where a store lives, as Python's script takes it, and our storage over it.
fn store(kind: &str, dir: &Path) -> (String, Arc<dyn Storage>) {
    match kind {
        "disk" => (
            dir.to_str().expect("utf-8 path").to_owned(),
            Arc::new(DiskStorage::open(dir).expect("open store")),
        ),
        _ => {
            let db = dir.join("store.sqlite");
            let storage =
                SqliteStorage::with_config(SqliteConfig::file(&db).layout(Layout::Python))
                    .expect("open store");
            (format!("sqlite:{}", db.display()), Arc::new(storage))
        }
    }
}

fn file_type(name: &str) -> FileType {
    match name {
        "json" => FileType::json(),
        "text" => FileType::text(),
        "markdown" => FileType::markdown(),
        "binary" => FileType::binary(),
        other => panic!("unknown type {other}"),
    }
}

#[test]
#[ignore = "needs Python with memory-fs 0.41: run `cargo xtask python-compat`"]
fn python_writes_we_read() {
    python_writes_we_read_on("disk");
}

#[test]
#[ignore = "needs Python with memory-fs 0.41: run `cargo xtask python-compat`"]
fn python_writes_we_read_sqlite() {
    python_writes_we_read_on("sqlite");
}

fn python_writes_we_read_on(kind: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = match kind {
        "disk" => dir.path().to_str().expect("utf-8 path").to_owned(),
        _ => format!("sqlite:{}", dir.path().join("store.sqlite").display()),
    };
    let manifest = run_python(&["write", &spec]);
    // Opened only now, after Python made it: the SQLite layout is detected, not forced.
    let storage: Arc<dyn Storage> = match kind {
        "disk" => Arc::new(DiskStorage::open(dir.path()).expect("open store")),
        _ => {
            let s = SqliteStorage::open(dir.path().join("store.sqlite")).expect("open store");
            assert_eq!(s.layout(), Layout::Python);
            Arc::new(s)
        }
    };
    for entry in manifest.as_array().expect("manifest") {
        let id = FileId::new(entry["file_id"].as_str().expect("id")).expect("valid id");
        let paths: Vec<String> =
            serde_json::from_value(entry["file_paths"].clone()).expect("paths");
        let ty = file_type(entry["type"].as_str().expect("type"));
        let file = Placed::new(
            storage.clone(),
            FileConfig::new(id, ty.clone()).with_paths(paths),
        );
        assert!(file.exists().expect("exists"), "{entry}");
        let expected = &entry["expected"];
        match expected["encoding"].as_str().expect("encoding") {
            "json" => assert_eq!(
                file.load_json().expect("load"),
                Some(expected["value"].clone())
            ),
            "string" => assert_eq!(
                file.load_text().expect("load").as_deref(),
                expected["value"].as_str()
            ),
            "base64" => {
                let want = base64::engine::general_purpose::STANDARD
                    .decode(expected["value"].as_str().expect("b64"))
                    .expect("b64");
                assert_eq!(file.load_bytes().expect("load"), Some(want));
            }
            other => panic!("unexpected encoding {other}"),
        }
        let config_key = SafePath::new(format!(
            "latest/{}.{}.config",
            entry["file_id"].as_str().expect("id"),
            ty.file_extension
        ))
        .expect("key");
        let stored = memory_fs_file::FileConfig::from_json(
            "config",
            &storage
                .file_bytes(&config_key)
                .expect("read")
                .expect("config"),
        )
        .expect("Python's config parses");
        assert_eq!(stored.file_type, ty, "Python's file type is ours");
    }
    eprintln!(
        "python wrote {} files on {kind}; all read back",
        manifest.as_array().map_or(0, Vec::len)
    );
}

#[test]
#[ignore = "needs Python with memory-fs 0.41: run `cargo xtask python-compat`"]
fn we_write_python_reads() {
    we_write_python_reads_on("disk");
}

#[test]
#[ignore = "needs Python with memory-fs 0.41: run `cargo xtask python-compat`"]
fn we_write_python_reads_sqlite() {
    we_write_python_reads_on("sqlite");
}

fn we_write_python_reads_on(kind: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (spec, storage) = store(kind, dir.path());
    let cases = [
        (
            "rs-json",
            "json",
            json!({"n": 2, "f": 1e20, "s": "naïve ✓ 😀", "list": [1.5, null, false]}),
        ),
        ("rs-text", "text", json!("written by Rust\nline 2\n")),
        ("rs-md", "markdown", json!("# From Rust\n")),
        (
            "rs-bin",
            "binary",
            json!(base64::engine::general_purpose::STANDARD.encode([0u8, 1, 2, 255])),
        ),
    ];
    let mut manifest = Vec::new();
    for (id, ty, value) in &cases {
        let spec = FileSpec::new(FileId::new(*id).expect("id"), file_type(ty))
            .handlers([PathHandler::latest(), PathHandler::custom("backup")]);
        let bytes;
        let content = match *ty {
            "json" => Content::Json(value),
            "binary" => {
                bytes = base64::engine::general_purpose::STANDARD
                    .decode(value.as_str().expect("b64"))
                    .expect("b64");
                Content::Bytes(&bytes)
            }
            _ => Content::Text(value.as_str().expect("text")),
        };
        let file = File::save(storage.clone(), &spec, content).expect("save");
        manifest.push(json!({"file_id": id, "type": ty, "file_paths": file.config().file_paths}));
    }
    let manifest_path = dir.path().join("manifest.json.txt");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).expect("json"))
        .expect("write manifest");
    drop(storage);
    let results = run_python(&["read", &spec, manifest_path.to_str().expect("utf-8")]);
    for ((id, ty, value), result) in cases.iter().zip(results.as_array().expect("results")) {
        assert_eq!(result["file_id"], *id);
        assert_eq!(result["exists"], true, "{id}");
        let content = &result["content"];
        match *ty {
            "json" => assert_eq!(
                content,
                &json!({"encoding": "json", "value": value}),
                "{id}"
            ),
            "binary" => assert_eq!(
                content,
                &json!({"encoding": "base64", "value": value}),
                "{id}"
            ),
            _ => assert_eq!(
                content,
                &json!({"encoding": "string", "value": value}),
                "{id}"
            ),
        }
    }
    eprintln!(
        "we wrote {} files on {kind}; python read them all back",
        cases.len()
    );
}

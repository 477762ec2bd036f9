//! Targets and projects on the memory provider and on the Python fixtures.

use std::path::Path;
use std::sync::Arc;

use memory_fs_file::storage::{SafePath, Storage};
use memory_fs_file::{FileError, FileId, FileType, FixedClock, PathHandler};
use memory_fs_storage_memory::MemoryStorage;
use memory_fs_target::{Project, ProjectError, TargetCreate};
use serde_json::json;

#[test]
fn projects_place_files_by_strategy() {
    let storage = Arc::new(MemoryStorage::new());
    let project = Project::new(storage.clone())
        .with_clock(Arc::new(FixedClock(1_795_393_179_295)))
        .with_strategy("development", [PathHandler::latest()])
        .with_strategy(
            "production",
            [PathHandler::temporal(), PathHandler::versioned()],
        );
    let dev = project
        .file(
            FileId::new("report").expect("id"),
            "development",
            FileType::json(),
        )
        .expect("file");
    assert_eq!(dev.config().file_paths, ["latest"]);
    let prod = project
        .file(
            FileId::new("report").expect("id"),
            "production",
            FileType::json(),
        )
        .expect("file");
    assert_eq!(prod.config().file_paths, ["2026/11/23/00", "v1"]);
    prod.save_json(&json!({"ok": true})).expect("save");
    let err = project
        .file(FileId::new("x").expect("id"), "staging", FileType::json())
        .expect_err("unknown");
    assert!(matches!(err, ProjectError::UnknownStrategy { .. }));
    assert_eq!(
        err.to_string(),
        r#"no path strategy named "staging" (defined: development, production)"#
    );
}

#[test]
fn targets_come_back_from_stored_configs() {
    let storage = Arc::new(MemoryStorage::new());
    let project = Project::new(storage.clone()).with_strategy(
        "both",
        [PathHandler::latest(), PathHandler::custom("backup")],
    );
    for id in ["b", "a"] {
        project
            .file(FileId::new(id).expect("id"), "both", FileType::text())
            .expect("file")
            .save_text(id)
            .expect("save");
    }
    let create = TargetCreate::new(storage.clone());
    let all = create.scan(None).expect("scan");
    let ids: Vec<&str> = all.iter().map(|t| t.config().file_id.as_str()).collect();
    assert_eq!(
        ids,
        ["a", "b"],
        "one target per logical file, though stored twice"
    );
    assert_eq!(
        all[0].file().load_text().expect("load").as_deref(),
        Some("a")
    );
    let only_backup = create
        .scan(Some(&SafePath::new("backup").expect("key")))
        .expect("scan");
    assert_eq!(only_backup.len(), 2);
    assert!(
        create
            .from_config_path(&SafePath::new("nope.txt.config").expect("key"))
            .expect("lookup")
            .is_none()
    );
    storage
        .file_save(
            &SafePath::new("latest/bad.txt.config").expect("key"),
            b"{oops",
        )
        .expect("save");
    let err = create.scan(None).expect_err("corrupt");
    assert!(
        matches!(err, FileError::CorruptConfig { ref path, .. } if path == "latest/bad.txt.config"),
        "{err}"
    );
}

#[test]
fn a_python_store_can_be_browsed_without_knowing_its_ids() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/python-memory-fs/multiple_paths");
    assert!(
        dir.is_dir(),
        "the Python fixtures are missing: expected {}",
        dir.display()
    );
    let storage = Arc::new(MemoryStorage::new());
    fn load(base: &Path, dir: &Path, storage: &MemoryStorage) {
        for entry in std::fs::read_dir(dir).expect("read") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                load(base, &path, storage);
            } else {
                let key = path
                    .strip_prefix(base)
                    .expect("below")
                    .to_string_lossy()
                    .into_owned();
                storage
                    .file_save(
                        &SafePath::new(key).expect("key"),
                        &std::fs::read(&path).expect("read"),
                    )
                    .expect("save");
            }
        }
    }
    load(&dir, &dir, &storage);
    let found = TargetCreate::new(storage).scan(None).expect("scan");
    assert_eq!(found.len(), 1, "one logical file stored at four folders");
    let target = &found[0];
    assert_eq!(target.config().file_id.as_str(), "order-42");
    assert_eq!(target.config().file_paths.len(), 4);
    assert_eq!(
        target.file().load_json().expect("load"),
        Some(json!({"id": 42, "items": [1, 2, 3]}))
    );
}

//! The quickstart on SQLite: one line differs. The data outlives the process.
//!
//! `cargo run -p memory-fs --features sqlite --example sqlite [DB_PATH]`

use memory_fs::prelude::*;
use serde_json::json;

fn main() -> Result<(), memory_fs::Error> {
    let dir = tempfile_dir();
    let db = std::env::args()
        .nth(1)
        .unwrap_or_else(|| dir.join("example.db").display().to_string());

    // The only change from the in-memory quickstart: the URL.
    let fs = MemoryFs::open(&format!("sqlite://{db}"))?;

    let settings = FileConfig::new(FileId::new("user-settings")?, FileType::json())
        .with_paths(["config", "backup"]);
    fs.save()
        .json(&settings, &json!({"username": "john_doe", "theme": "dark"}))?;
    drop(fs);

    // A second open of the same file sees the data.
    let reopened = MemoryFs::open(&format!("sqlite://{db}"))?;
    let loaded = reopened.file("user-settings")?.load_json()?;
    assert_eq!(
        loaded,
        Some(json!({"username": "john_doe", "theme": "dark"}))
    );
    println!(
        "{db}: {} keys, settings = {}",
        reopened.keys(None, false)?.len(),
        loaded.unwrap_or_default()
    );
    Ok(())
}

/// A fresh directory under the system temp dir for the default database.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("memory-fs-example-{}", std::process::id()));
    // Creating it is best effort: opening the database reports any real problem.
    let _ = std::fs::create_dir_all(&dir);
    dir
}

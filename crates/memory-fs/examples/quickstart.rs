//! Quickstart: save, load, find, query, edit and delete logical files in memory.
//!
//! `cargo run -p memory-fs --example quickstart`

use memory_fs::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u32,
    items: Vec<String>,
    paid: bool,
}

fn main() -> Result<(), memory_fs::Error> {
    // The one line that picks the backend (see the `sqlite` example).
    let fs = MemoryFs::open("memory://")?;

    // A JSON file kept in two folders.
    let settings = FileConfig::new(FileId::new("user-settings")?, FileType::json())
        .with_paths(["config", "backup"]);
    fs.save()
        .json(&settings, &json!({"username": "john_doe", "theme": "dark"}))?;
    println!("loaded  {}", fs.load().json(&settings)?.unwrap_or_default());

    // Any serde type.
    let order = FileConfig::new(FileId::new("order-42")?, FileType::data()).with_paths(["orders"]);
    let value = Order {
        id: 42,
        items: vec!["book".into(), "pen".into()],
        paid: false,
    };
    fs.save().typed(&order, &value)?;
    assert_eq!(fs.load().typed::<Order>(&order)?, Some(value));

    // Text and bytes, placed by path handlers.
    let notes = FileSpec::new(FileId::new("notes")?, FileType::markdown())
        .handlers([PathHandler::latest(), PathHandler::versioned()]);
    fs.save().text(&notes, "# Notes\n\n- ship it\n")?;
    fs.save().text(&notes, "# Notes\n\n- shipped\n")?;
    let logo = FileSpec::new(FileId::new("logo")?, FileType::png());
    fs.save().bytes(&logo, b"\x89PNG\r\n\x1a\n...")?;

    // Any file by id, with no scan: its record says where it is.
    let found = fs.file("notes")?;
    let info = found.info();
    println!(
        "info    {} versions={:?} size={:?} folders={:?}",
        info.id,
        info.versions,
        info.metadata.map(|m| m.content_size),
        info.folders
    );
    fs.edit().tags(&settings, ["important"])?;
    for file in fs.query(&Query::new().tag("important"))?.files {
        println!("tagged  {}", file.id());
    }
    for file in fs.list()?.files {
        let c = file.config();
        println!(
            "file    {:<14} {:<8} in {:?}",
            c.file_id.as_str(),
            c.file_type.name,
            c.file_paths
        );
    }
    println!("keys    {}", fs.keys(None, false)?.len());

    // Deleting removes content, config and metadata in every folder, in one commit.
    let report = fs.delete().file(&settings)?;
    println!("deleted {} keys", report.deleted.len());
    assert!(!fs.data().exists(&settings)?);
    Ok(())
}

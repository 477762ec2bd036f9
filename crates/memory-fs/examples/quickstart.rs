//! Quickstart: save, load, inspect, edit and delete logical files in memory.
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

    // Text and bytes.
    let notes = fs.file("notes", FileType::markdown())?;
    notes.save_text("# Notes\n\n- ship it\n")?;
    let logo = fs.file("logo", FileType::png())?;
    logo.save_bytes(b"\x89PNG\r\n\x1a\n...")?;

    // What is stored, and what it says about itself.
    let info = fs.data().info(&settings)?;
    println!(
        "info    exists={} size={:?} hash={:?} type={}",
        info.exists, info.size, info.content_hash, info.content_type
    );
    fs.edit().tags(&settings, ["important"])?;
    for target in fs.list(None)? {
        let c = target.config();
        println!(
            "file    {:<14} {:<8} in {:?}",
            c.file_id.as_str(),
            c.file_type.name,
            c.file_paths
        );
    }
    println!("keys    {}", fs.keys(None)?.len());

    // Deleting removes content, config and metadata in every folder.
    let report = fs.delete().file(&settings)?;
    println!("deleted {} keys", report.deleted.len());
    assert!(!fs.data().exists(&settings)?);
    Ok(())
}

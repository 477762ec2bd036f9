//! Browse a store written by the Python `memory-fs` package, without knowing its ids.
//!
//! `cargo run -p memory-fs --features disk --example browse_python_store [STORE_URL]`
//!
//! Without an argument it opens a copy of the Python-written fixture store beside the
//! workspace (a reindex writes the records that make its files findable by id, so it
//! works on a copy). `sqlite://PATH` to a copy of
//! `../shared/fixtures/python-memory-fs/_backends/multiple_paths.sqlite` opens the same
//! store as Python's SQLite backend wrote it.

use memory_fs::Serialization;
use memory_fs::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/fixtures/python-memory-fs/multiple_paths");
            let copy =
                std::env::temp_dir().join(format!("memory-fs-browse-{}", std::process::id()));
            copy_dir(&fixture, &copy)?;
            format!("file://{}", copy.display())
        }
    };
    let fs = MemoryFs::open(&url)?;
    println!("{url}");
    // Python writes configs but no records: a reindex finds every file by its config.
    let report = fs.reindex()?;
    println!(
        "  reindexed: {} files found, {} records written",
        report.found,
        report.written.len()
    );
    let listing = fs.list()?;
    if listing.files.is_empty() {
        println!("  (no logical files: no .config keys in this store)");
    }
    for file in &listing.files {
        let info = file.info();
        println!(
            "  {} ({}) in {:?}: {} bytes, hash {}",
            info.id.as_str(),
            info.config.file_type.name,
            info.folders,
            info.metadata.as_ref().map_or(0, |m| m.content_size),
            info.metadata
                .as_ref()
                .map_or("-", |m| m.content_hash.as_str()),
        );
        // Content is checked against the stored hash on the way out.
        match info.config.file_type.serialization {
            Serialization::Json => println!("    {}", file.load_json()?.unwrap_or_default()),
            Serialization::String => println!("    {:?}", file.load_text()?.unwrap_or_default()),
            _ => println!("    {} bytes", file.load_bytes()?.map_or(0, |b| b.len())),
        }
    }
    Ok(())
}

/// Copies a directory tree (the fixture is never written to).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

//! Browse a store written by the Python `memory-fs` package, without knowing its ids.
//!
//! `cargo run -p memory-fs --features disk --example browse_python_store [STORE_URL]`
//!
//! Without an argument it opens the Python-written fixture store beside the workspace;
//! `sqlite://../shared/fixtures/python-memory-fs/_backends/multiple_paths.sqlite` (a
//! copy of it: opening may write) opens the same store as Python's SQLite backend wrote it.

use memory_fs::Serialization;
use memory_fs::prelude::*;

fn main() -> Result<(), memory_fs::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| {
        format!(
            "file://{}/../../../shared/fixtures/python-memory-fs/multiple_paths",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let fs = MemoryFs::open(&url)?;
    println!("{url}");
    let files = fs.list(None)?;
    if files.is_empty() {
        println!("  (no logical files: no .config keys in this store)");
    }
    for target in &files {
        let file = target.file();
        let config = target.config();
        let info = file.info()?;
        println!(
            "  {} ({}) in {:?}: {} bytes, hash {}",
            config.file_id.as_str(),
            config.file_type.name,
            config.file_paths,
            info.size.unwrap_or(0),
            info.content_hash.as_deref().unwrap_or("-"),
        );
        // Content is checked against the stored hash on the way out.
        match config.file_type.serialization {
            Serialization::Json => println!("    {}", file.load_json()?.unwrap_or_default()),
            Serialization::String => println!("    {:?}", file.load_text()?.unwrap_or_default()),
            _ => println!("    {} bytes", file.load_bytes()?.map_or(0, |b| b.len())),
        }
    }
    Ok(())
}

//! Versioned reports: a project whose `production` strategy keeps every version and a
//! `latest` copy, then reads the history back.
//!
//! `cargo run -p memory-fs --example versioned_reports`

use memory_fs::prelude::*;

fn main() -> Result<(), memory_fs::Error> {
    let fs = MemoryFs::in_memory();
    let project = fs
        .project()
        .with_strategy("development", [PathHandler::latest()])
        .with_strategy(
            "production",
            [PathHandler::latest(), PathHandler::versioned()],
        );

    for month in ["September", "October", "November"] {
        // Each `file` call on a versioned strategy picks the next free version.
        let report = project.file(
            FileId::new("monthly-report")?,
            "production",
            FileType::markdown(),
        )?;
        report.save_text(&format!("# Monthly report\n\n{month}: all green.\n"))?;
        println!("saved {:?}", report.config().file_paths);
    }

    // The history, found through the stored configs.
    let placements = fs.find("monthly-report")?;
    let history = placements
        .iter()
        .map(Target::file)
        .find(|f| f.versions().is_ok_and(|v| !v.is_empty()))
        .ok_or(memory_fs::Error::NotFound {
            id: "monthly-report".into(),
        })?;
    for n in history.versions()? {
        let version = history.version(n);
        let meta = version.metadata()?.ok_or(memory_fs::Error::NotFound {
            id: format!("v{n}"),
        })?;
        let first_line = version.load_text()?.unwrap_or_default();
        let chain = meta.chain_hash.unwrap_or_default();
        println!(
            "v{n}: {} bytes, chain {}…, {:?}",
            meta.content_size,
            chain.get(..12).unwrap_or(&chain),
            first_line.lines().nth(2).unwrap_or("")
        );
    }

    // The `latest` copy holds the newest text.
    let latest = fs.file_at(
        "monthly-report",
        FileType::markdown(),
        [PathHandler::latest()],
    )?;
    assert!(latest.load_text()?.unwrap_or_default().contains("November"));

    // Asking for an unknown strategy is a clear error, not a panic.
    let err = project
        .file(FileId::new("x")?, "staging", FileType::text())
        .unwrap_err();
    println!("error: {err}");
    Ok(())
}

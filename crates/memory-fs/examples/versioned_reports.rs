//! Versioned reports: a project whose `production` strategy keeps every version and a
//! `latest` copy, then reads the history back.
//!
//! `cargo run -p memory-fs --example versioned_reports`

use memory_fs::prelude::*;

fn main() -> Result<(), memory_fs::Error> {
    let fs = MemoryFs::in_memory();
    let project = Project::new()
        .with_strategy("development", [PathHandler::latest()])
        .with_strategy(
            "production",
            [PathHandler::latest(), PathHandler::versioned()],
        );
    let report = project.spec(
        FileId::new("monthly-report")?,
        "production",
        FileType::markdown(),
    )?;
    for month in ["September", "October", "November"] {
        // Each save through a versioned strategy takes the next version, in its commit.
        let saved = fs.save().text(
            &report,
            &format!("# Monthly report\n\n{month}: all green.\n"),
        )?;
        println!("saved {:?}", saved.config().file_paths);
    }

    // The history, from the file's record.
    let history = fs.file("monthly-report")?;
    for n in history.versions() {
        let Some(version) = history.version(n)? else {
            continue;
        };
        let meta = version
            .metadata()
            .cloned()
            .ok_or(memory_fs::Error::NotFound {
                id: format!("v{n}"),
            })?;
        let text = version.load_text()?.unwrap_or_default();
        let chain = meta.chain_hash.unwrap_or_default();
        println!(
            "v{n}: {} bytes, chain {}…, {:?}",
            meta.content_size,
            chain.get(..12).unwrap_or(&chain),
            text.lines().nth(2).unwrap_or("")
        );
    }

    // A read by id reads the last save: the `latest` copy holds the newest text.
    assert!(
        history
            .load_text()?
            .unwrap_or_default()
            .contains("November")
    );

    // Asking for an unknown strategy is a clear error, not a panic.
    let err = project
        .spec(FileId::new("x")?, "staging", FileType::text())
        .unwrap_err();
    println!("error: {err}");
    Ok(())
}

//! Small helpers shared by the xtask commands: running processes loudly, locating things.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The error type of every xtask command: a message for the person at the terminal.
pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the parent of `xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The cache directory for tools the tasks install (Python virtual environments…):
/// `$MEMORY_FS_CACHE` if set, else `<workspace>/target/xtask-cache`.
pub(crate) fn cache_dir() -> PathBuf {
    std::env::var_os("MEMORY_FS_CACHE").map_or_else(
        || workspace_root().join("target").join("xtask-cache"),
        PathBuf::from,
    )
}

/// Prints `$ program args…` and runs it from the workspace root, failing on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> Result {
    let status = status(cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed with {status}", describe(cmd)))
    }
}

/// Prints `$ program args…` and runs it from the workspace root, returning its exit status.
pub(crate) fn status(cmd: &mut Command) -> Result<std::process::ExitStatus> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(workspace_root());
    }
    eprintln!("$ {}", describe(cmd));
    cmd.status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))
}

/// A `cargo` command using the same cargo that runs xtask.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The command line of `cmd`, for printing.
pub(crate) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints a loud, impossible-to-miss skip notice.
pub(crate) fn skip_loudly(what: &str, why: &str) {
    let bar = "!".repeat(78);
    eprintln!("\n{bar}\n!! SKIPPED: {what}\n!! reason: {why}\n{bar}\n");
}

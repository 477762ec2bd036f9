//! `cargo xtask python-compat`: live compatibility with the Python `memory-fs` 0.41
//! package, both directions, on freshly generated data.
//!
//! Finds a Python ≥ 3.12 (the package needs it), installs `memory-fs==0.41.0` into a
//! virtual environment under the xtask cache, and runs the ignored tests of
//! `tests/tests/python_live.rs` with `MEMORY_FS_PYTHON` pointing at it. Without such a
//! Python it says so loudly and does nothing else.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{self, Result};

/// The package version the stores must stay compatible with.
const PACKAGE: &str = "memory-fs==0.41.0";

/// Runs the live compatibility tests.
pub(crate) fn run(_args: &[String]) -> Result {
    let Some(venv_python) = venv("cargo xtask python-compat")? else {
        return Ok(());
    };
    util::run(
        util::cargo()
            .args([
                "test",
                "-p",
                "memory-fs-tests",
                "--test",
                "python_live",
                "--",
                "--ignored",
                "--nocapture",
            ])
            .env("MEMORY_FS_PYTHON", &venv_python),
    )
}

/// `cargo xtask bench-python`: the Python package's own timings, then ours, in one run.
pub(crate) fn bench(_args: &[String]) -> Result {
    let Some(venv_python) = venv("cargo xtask bench-python")? else {
        return Ok(());
    };
    util::run(
        Command::new(&venv_python).arg(util::workspace_root().join("tests/python/bench.py")),
    )?;
    util::run(util::cargo().args(["bench", "-p", "memory-fs-file", "--bench", "file"]))
}

/// The virtual environment's interpreter with the package installed, or `None` (after
/// a loud notice) when no Python >= 3.12 exists here.
fn venv(what: &str) -> Result<Option<PathBuf>> {
    let Some(python) = find_python() else {
        util::skip_loudly(
            what,
            "no Python >= 3.12 found (looked for python3.13, python3.12 and pyenv versions)",
        );
        return Ok(None);
    };
    eprintln!("using {}", python.display());
    let venv = util::cache_dir().join("python-memory-fs-0.41");
    let venv_python = venv.join("bin").join("python");
    if !venv_python.is_file() {
        util::run(Command::new(&python).args(["-m", "venv"]).arg(&venv))?;
    }
    let installed = Command::new(&venv_python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('memory-fs'))",
        ])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0.41.0");
    if !installed {
        util::run(Command::new(&venv_python).args(["-m", "pip", "install", "--quiet", PACKAGE]))?;
    }
    Ok(Some(venv_python))
}

/// A Python interpreter of version 3.12 or later.
fn find_python() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = ["python3.13", "python3.12", "python3"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(root) = pyenv_root
        && let Ok(entries) = std::fs::read_dir(root.join("versions"))
    {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin").join("python3"))
            .collect();
        found.sort();
        found.reverse();
        candidates.extend(found);
    }
    candidates.into_iter().find(is_recent)
}

fn is_recent(python: &PathBuf) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

//! `cargo xtask difftest --ops N --seed S`: the Linux differential test, longer.
//!
//! Runs `difftest/tests/differential.rs` in release mode with `MEMORY_FS_DIFF_OPS` and
//! `MEMORY_FS_DIFF_SEED` set, showing its report.

use crate::util::{self, Result};

/// Parses `--ops N` and `--seed S` and runs the test.
pub(crate) fn run(args: &[String]) -> Result {
    let mut ops = "1000000".to_owned();
    let mut seed = "0".to_owned();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = || {
            it.clone()
                .next()
                .cloned()
                .ok_or(format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--ops" => ops = value()?,
            "--seed" => seed = value()?,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (usage: cargo xtask difftest [--ops N] [--seed S])"
                ));
            }
        }
        it.next();
    }
    for (name, v) in [("--ops", &ops), ("--seed", &seed)] {
        v.parse::<u64>()
            .map_err(|_| format!("{name} takes a whole number, not `{v}`"))?;
    }
    util::run(
        util::cargo()
            .args([
                "test",
                "--release",
                "-p",
                "memory-fs-difftest",
                "--test",
                "differential",
                "--",
                "--nocapture",
            ])
            .env("MEMORY_FS_DIFF_OPS", &ops)
            .env("MEMORY_FS_DIFF_SEED", &seed),
    )
}

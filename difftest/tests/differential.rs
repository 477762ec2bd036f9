//! The POSIX core against Linux: random sequences, every result and errno compared.
//!
//! CI runs `MEMORY_FS_DIFF_OPS` operations (default 100,000) from fixed seeds plus
//! `MEMORY_FS_DIFF_SEED` if set; `cargo xtask difftest --ops N --seed S` runs more.
//! Where the kernel side cannot run (not root, no chroot), the test says so loudly and
//! returns without claiming anything.

use memory_fs_difftest::{
    Op, Outcome, Run, Val, core, first_difference, generate, kernel::Oracle, render, shrink,
};

const SEQ_LEN: usize = 50;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn core_matches_linux() {
    let mut oracle = match Oracle::spawn(env!("CARGO_BIN_EXE_posix-oracle")) {
        Ok(o) => o,
        Err(why) => {
            let bar = "!".repeat(78);
            eprintln!(
                "\n{bar}\n!! SKIPPED: POSIX differential test against Linux\n!! reason: {why}\n{bar}\n"
            );
            return;
        }
    };
    let total_ops = env_u64("MEMORY_FS_DIFF_OPS", 100_000);
    let first_seed = env_u64("MEMORY_FS_DIFF_SEED", 0);
    let sequences = total_ops.div_ceil(SEQ_LEN as u64);
    let mut ran = 0u64;
    let mut coverage = Coverage::default();
    for seed in first_seed..first_seed + sequences {
        let ops = generate::sequence(seed, SEQ_LEN);
        let kernel_run = oracle.run(&ops).expect("the oracle answers");
        let core_run = core::run(&ops);
        ran += ops.len() as u64;
        coverage.add(&ops, &kernel_run);
        if let Some(diff) = first_difference(&ops, &core_run, &kernel_run) {
            let minimal = shrink::minimize(ops.clone(), |candidate| {
                let k = oracle.run(candidate).expect("the oracle answers");
                first_difference(candidate, &core::run(candidate), &k).is_some()
            });
            let k = oracle.run(&minimal).expect("the oracle answers");
            let why = first_difference(&minimal, &core::run(&minimal), &k).unwrap_or(diff);
            panic!(
                "core and Linux differ (seed {seed}, after {ran} operations)\nminimal sequence:\n{}{why}",
                render(&minimal)
            );
        }
    }
    eprintln!(
        "differential test: {ran} operations in {sequences} sequences (seeds {first_seed}..{}), 0 mismatches",
        first_seed + sequences
    );
    eprintln!("{coverage}");
}

/// How many operations of each kind succeeded and failed (on both sides alike), so a
/// run shows what it exercised: a generator that never reaches a case tests nothing.
#[derive(Default)]
struct Coverage {
    by_op: std::collections::BTreeMap<&'static str, (u64, u64)>,
    /// `getcwd` answers below the root, and `ENOENT` answers (a removed directory).
    cwd_below_root: u64,
    cwd_removed: u64,
}

impl Coverage {
    fn add(&mut self, ops: &[Op], run: &Run) {
        for (op, outcome) in ops.iter().zip(&run.outcomes) {
            let name = op_name(op);
            let counts = self.by_op.entry(name).or_default();
            match outcome {
                Outcome::Ok(value) => {
                    counts.0 += 1;
                    if matches!(value, Val::Str(cwd) if name == "getcwd" && cwd != "/") {
                        self.cwd_below_root += 1;
                    }
                }
                Outcome::Err(errno) => {
                    counts.1 += 1;
                    if name == "getcwd" && *errno == libc::ENOENT {
                        self.cwd_removed += 1;
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "coverage (ok/failed):")?;
        for (name, (ok, failed)) in &self.by_op {
            write!(f, " {name} {ok}/{failed}")?;
        }
        write!(
            f,
            "; getcwd below / {}, in a removed directory {}",
            self.cwd_below_root, self.cwd_removed
        )
    }
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Mkdir { .. } => "mkdir",
        Op::Open { .. } => "open",
        Op::Close { .. } => "close",
        Op::Write { .. } => "write",
        Op::Read { .. } => "read",
        Op::Pread { .. } => "pread",
        Op::Pwrite { .. } => "pwrite",
        Op::Lseek { .. } => "lseek",
        Op::Ftruncate { .. } => "ftruncate",
        Op::Fstat { .. } => "fstat",
        Op::Unlink { .. } => "unlink",
        Op::Rmdir { .. } => "rmdir",
        Op::Rename { .. } => "rename",
        Op::Link { .. } => "link",
        Op::Symlink { .. } => "symlink",
        Op::Readlink { .. } => "readlink",
        Op::Chmod { .. } => "chmod",
        Op::Stat { .. } => "stat",
        Op::Lstat { .. } => "lstat",
        Op::Readdir { .. } => "readdir",
        Op::Truncate { .. } => "truncate",
        Op::Access { .. } => "access",
        Op::Chdir { .. } => "chdir",
        Op::Fchdir { .. } => "fchdir",
        Op::Getcwd => "getcwd",
    }
}

//! The POSIX core against Linux: random sequences, every result and errno compared.
//!
//! CI runs `MEMORY_FS_DIFF_OPS` operations (default 100,000) from fixed seeds plus
//! `MEMORY_FS_DIFF_SEED` if set; `cargo xtask difftest --ops N --seed S` runs more.
//! Where the kernel side cannot run (not root, no chroot), the test says so loudly and
//! returns without claiming anything.

use memory_fs_difftest::{core, first_difference, generate, kernel::Oracle, render, shrink};

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
    for seed in first_seed..first_seed + sequences {
        let ops = generate::sequence(seed, SEQ_LEN);
        let kernel_run = oracle.run(&ops).expect("the oracle answers");
        let core_run = core::run(&ops);
        ran += ops.len() as u64;
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
}

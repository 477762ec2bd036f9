//! `cargo xtask ci`: every check the project has, one after another, with a summary.
//!
//! Steps run in order and CI goes on after a failed step so one run reports every
//! problem; the exit code is non-zero if any step failed. A test that needs what the
//! machine lacks (root, for the kernel side of the differential test) says so loudly
//! in the test output instead of passing silently.

use std::time::{Duration, Instant};

use crate::util::{self, Result};

/// How a step ended.
enum Outcome {
    Passed,
    Failed(String),
}

/// One named check.
struct Step {
    name: &'static str,
    run: fn() -> Outcome,
}

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        run: fmt,
    },
    Step {
        name: "layering",
        run: layering,
    },
    Step {
        name: "clippy",
        run: clippy,
    },
    Step {
        name: "test",
        run: test,
    },
    Step {
        name: "features",
        run: features,
    },
    Step {
        name: "examples",
        run: examples,
    },
    Step {
        name: "difftest",
        run: difftest,
    },
    Step {
        name: "posix",
        run: posix,
    },
    Step {
        name: "python-compat",
        run: python_compat,
    },
    Step {
        name: "doc",
        run: doc,
    },
];

/// Runs every step and prints a summary table.
pub(crate) fn run(_args: &[String]) -> Result {
    let started = Instant::now();
    let mut results: Vec<(&str, Outcome, Duration)> = Vec::new();
    for step in STEPS {
        eprintln!("\n==> ci step: {}", step.name);
        let t = Instant::now();
        let outcome = (step.run)();
        results.push((step.name, outcome, t.elapsed()));
    }
    eprintln!("\n==> ci summary ({:.0?} in all)", started.elapsed());
    let mut failed = 0;
    for (name, outcome, took) in &results {
        let (word, detail) = match outcome {
            Outcome::Passed => ("passed", String::new()),
            Outcome::Failed(why) => {
                failed += 1;
                ("FAILED", format!(": {why}"))
            }
        };
        eprintln!("  {word:<8} {name:<14} {took:>8.1?}{detail}");
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} ci step(s) failed"))
    }
}

fn outcome(result: Result) -> Outcome {
    match result {
        Ok(()) => Outcome::Passed,
        Err(why) => Outcome::Failed(why),
    }
}

fn fmt() -> Outcome {
    outcome(util::run(
        util::cargo().args(["fmt", "--all", "--", "--check"]),
    ))
}

fn layering() -> Outcome {
    outcome(crate::layering::run(&[]))
}

fn clippy() -> Outcome {
    outcome(util::run(util::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])))
}

/// SIGKILLs per provider in the crash test of logical files (`cargo test` alone runs 40).
const CI_LOGICAL_KILLS: &str = "200";

fn test() -> Outcome {
    // The differential test runs in its own step, in release mode and with its report shown.
    outcome(util::run(
        util::cargo()
            .args([
                "test",
                "--workspace",
                "--all-features",
                "--locked",
                "--",
                "--skip",
                "core_matches_linux",
            ])
            .env("MEMORY_FS_LOGICAL_KILLS", CI_LOGICAL_KILLS),
    ))
}

/// The facade with no backend compiled in: every URL names the feature it needs.
fn features() -> Outcome {
    outcome(util::run(util::cargo().args([
        "test",
        "--package",
        "memory-fs",
        "--no-default-features",
        "--lib",
        "--tests",
        "--locked",
    ])))
}

/// The facade's examples, as a newcomer runs them.
const EXAMPLES: &[&str] = &[
    "quickstart",
    "sqlite",
    "versioned_reports",
    "browse_python_store",
    "async_service",
];

fn examples() -> Outcome {
    for example in EXAMPLES {
        let ran = util::run(util::cargo().args([
            "run",
            "--quiet",
            "--package",
            "memory-fs",
            "--all-features",
            "--locked",
            "--example",
            example,
        ]));
        if let Err(why) = ran {
            return Outcome::Failed(format!("example {example}: {why}"));
        }
    }
    Outcome::Passed
}

/// Operations the differential test runs in CI (`cargo xtask difftest` runs more).
const CI_DIFF_OPS: &str = "300000";

fn difftest() -> Outcome {
    let args = ["--ops", CI_DIFF_OPS, "--seed", "0"].map(String::from);
    outcome(crate::difftest::run(&args))
}

fn posix() -> Outcome {
    match crate::posix::fuse_usable() {
        Ok(()) => outcome(crate::posix::run(&[])),
        Err(why) => {
            util::skip_loudly("pjdfstest on the FUSE mount (cargo xtask posix)", &why);
            Outcome::Passed
        }
    }
}

fn python_compat() -> Outcome {
    outcome(crate::python::run(&[]))
}

fn doc() -> Outcome {
    outcome(util::run(
        util::cargo()
            .args([
                "doc",
                "--workspace",
                "--no-deps",
                "--all-features",
                "--locked",
            ])
            .env("RUSTDOCFLAGS", "-D warnings"),
    ))
}

//! Project automation: `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! Commands print every process they start, so a log shows exactly what ran.

mod ci;
mod difftest;
mod layering;
mod posix;
mod python;
mod s3_moto;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  ci         every check: fmt, layering, clippy, tests, docs (and the optional suites)
  layering   check internal crate dependencies against the layer table
  difftest   the POSIX core against Linux: [--ops N] [--seed S] (release mode)
  posix      pjdfstest against the core mounted through FUSE: [--on-tmpfs] (root)
  s3-moto    the S3 provider's tests against moto_server (installed into a cache venv)
  python-compat  live compatibility with Python memory-fs 0.41, both directions
  bench-python   the Python package's own timings beside the file-layer benchmark
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "ci" => ci::run(rest),
        "layering" => layering::run(rest),
        "difftest" => difftest::run(rest),
        "posix" => posix::run(rest),
        "s3-moto" => s3_moto::run(rest),
        "python-compat" => python::run(rest),
        "bench-python" => python::bench(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprint!("unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

//! The kernel side of the differential test: chroots into a fresh tmpfs directory as
//! uid 1000 and runs each sequence read on stdin with real system calls.
//!
//! Protocol: the first line is `ready <dir>` or `unavailable: <why>`; then one JSON
//! sequence per input line gets one JSON `Run` per output line.

use std::io::{BufRead, Write};

use memory_fs_difftest::{Op, Run, kernel};

fn main() {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match kernel::enter_sandbox() {
        Ok(base) => {
            let _ = writeln!(out, "ready {base}");
        }
        Err(why) => {
            let _ = writeln!(out, "unavailable: {why}");
            return;
        }
    }
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let ops: Vec<Op> = match serde_json::from_str(&line) {
            Ok(ops) => ops,
            Err(e) => {
                eprintln!("posix-oracle: bad input: {e}");
                break;
            }
        };
        let outcomes = kernel::execute(&ops);
        let tree = kernel::as_root(kernel::tree);
        if let Err(e) = kernel::as_root(kernel::reset) {
            eprintln!("posix-oracle: cannot reset the tree: {e}");
            break;
        }
        let run = Run { outcomes, tree };
        let Ok(json) = serde_json::to_string(&run) else {
            break;
        };
        if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}

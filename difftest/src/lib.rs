//! The Linux differential test of `memory-fs-posix`: random operation sequences run
//! against the core and against the real kernel, compared result by result.
//!
//! - [`ops`]: the operations and their outcomes (serialisable, so the kernel side can
//!   run in a separate process).
//! - [`generate`]: a seeded generator biased towards collisions and odd paths.
//! - [`core`]: runs a sequence on a fresh `MemoryFileSystem`.
//! - [`kernel`]: runs a sequence in the `posix-oracle` helper process, which chroots
//!   into a fresh tmpfs directory and drops to uid 1000 so permission checks are real.
//! - [`shrink`]: delta debugging down to a minimal mismatching sequence.

pub mod core;
pub mod generate;
pub mod kernel;
pub mod ops;
pub mod shrink;

pub use ops::{Entry, Op, Outcome, Run, Val};

/// The uid and gid both sides act as.
pub const UID: u32 = 1000;
/// The umask both sides use.
pub const UMASK: u32 = 0o022;

/// The first point where two runs of the same sequence differ, in words.
pub fn first_difference(ops: &[Op], core: &Run, kernel: &Run) -> Option<String> {
    for (i, op) in ops.iter().enumerate() {
        let (c, k) = (core.outcomes.get(i), kernel.outcomes.get(i));
        if c != k {
            return Some(format!(
                "op #{i} {op:?}\n    core:   {c:?}\n    kernel: {k:?}"
            ));
        }
    }
    if core.tree != kernel.tree {
        let c: std::collections::BTreeSet<_> = core.tree.iter().collect();
        let k: std::collections::BTreeSet<_> = kernel.tree.iter().collect();
        let only_core: Vec<_> = c.difference(&k).collect();
        let only_kernel: Vec<_> = k.difference(&c).collect();
        return Some(format!(
            "final trees differ\n    only in core:   {only_core:?}\n    only in kernel: {only_kernel:?}"
        ));
    }
    None
}

/// Prints a sequence as numbered lines, one operation each.
pub fn render(ops: &[Op]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, op)| format!("  {i:>3}: {op:?}\n"))
        .collect()
}

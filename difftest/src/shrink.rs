//! Delta debugging: the smallest sequence (by removing operations) that still differs.

use crate::ops::Op;

/// Removes chunks, then single operations, while `fails` still holds.
pub fn minimize(mut ops: Vec<Op>, mut fails: impl FnMut(&[Op]) -> bool) -> Vec<Op> {
    let mut chunk = ops.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        let mut removed_any = false;
        while i < ops.len() {
            let end = (i + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..i].iter().chain(&ops[end..]).cloned().collect();
            if !candidate.is_empty() && fails(&candidate) {
                ops = candidate;
                removed_any = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 && !removed_any {
            return ops;
        }
        if !removed_any {
            chunk = (chunk / 2).max(1);
        }
    }
}

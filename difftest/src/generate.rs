//! A seeded generator of operation sequences, biased towards name collisions, odd
//! paths (`.`, `..`, `//`, trailing slashes, a 256-byte name) and tricky symlinks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ops::Op;

const NAMES: &[&str] = &["a", "b", "c"];
const PREFIXES: &[&str] = &["", "", "", "", "", "", "/", "/", "./", "../", "a/../", "//"];
const SUFFIXES: &[&str] = &["", "", "", "", "", "", "", "", "", "/", "/.", "/.."];
const MODES: &[u32] = &[
    0, 0o200, 0o400, 0o500, 0o600, 0o644, 0o700, 0o755, 0o777, 0o1777, 0o2755,
];

fn long_name() -> String {
    "L".repeat(256)
}

/// A path built from a few names, special components and separators.
pub fn path(rng: &mut StdRng) -> String {
    match rng.gen_range(0..60) {
        0 => return String::new(),
        1 => return ".".into(),
        2 => return "..".into(),
        3 => return "/".into(),
        4 => return format!("a/{}", long_name()),
        _ => {}
    }
    let mut p = PREFIXES[rng.gen_range(0..PREFIXES.len())].to_owned();
    let depth = match rng.gen_range(0..10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    for i in 0..depth {
        if i > 0 {
            p.push_str(if rng.gen_bool(0.1) { "//" } else { "/" });
        }
        p.push_str(NAMES[rng.gen_range(0..NAMES.len())]);
    }
    p.push_str(SUFFIXES[rng.gen_range(0..SUFFIXES.len())]);
    p
}

fn target(rng: &mut StdRng) -> String {
    match rng.gen_range(0..8) {
        0 => String::new(),
        1 => "/a".into(),
        2 => "a".into(),
        3 => "../b".into(),
        4 => "c/..".into(),
        _ => path(rng),
    }
}

fn mode(rng: &mut StdRng) -> u32 {
    MODES[rng.gen_range(0..MODES.len())]
}

/// Open flags: every combination occurs, but the ones that make an open fail
/// outright (`CREATE | DIRECTORY`, `EXCL`) are rarer so later operations have files.
fn open_flags(rng: &mut StdRng) -> u32 {
    let mut f = rng.gen_range(0..256u32);
    if rng.gen_bool(0.8) {
        f &= !(1 << 6); // DIRECTORY
    }
    if rng.gen_bool(0.6) {
        f &= !(1 << 4); // EXCL
    }
    if rng.gen_bool(0.5) {
        f |= 0b1010; // WRITE | CREATE
    }
    f
}

fn chmod_mode(rng: &mut StdRng) -> u32 {
    if rng.gen_bool(0.7) {
        [0o755, 0o644, 0o700, 0o600, 0o777][rng.gen_range(0..5)]
    } else {
        mode(rng)
    }
}

/// A sequence of `len` operations from `seed`.
pub fn sequence(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next_id = 0u32;
    let mut ops = Vec::with_capacity(len);
    for _ in 0..len {
        let id = if next_id == 0 || rng.gen_bool(0.6) {
            next_id
        } else {
            rng.gen_range(0..next_id + 1)
        };
        let op = match rng.gen_range(0..106) {
            0..=11 => Op::Mkdir {
                path: path(&mut rng),
                mode: if rng.gen_bool(0.8) {
                    0o755
                } else {
                    mode(&mut rng)
                },
            },
            12..=25 => {
                next_id += 1;
                Op::Open {
                    id: next_id,
                    path: path(&mut rng),
                    flags: open_flags(&mut rng),
                    mode: if rng.gen_bool(0.7) {
                        0o644
                    } else {
                        mode(&mut rng)
                    },
                }
            }
            26..=29 => Op::Close { id },
            30..=35 => Op::Write {
                id,
                len: rng.gen_range(0..20),
                byte: rng.r#gen(),
            },
            36..=39 => Op::Read {
                id,
                len: rng.gen_range(0..30),
            },
            40..=41 => Op::Pread {
                id,
                len: rng.gen_range(0..30),
                offset: rng.gen_range(-2..40),
            },
            42..=43 => Op::Pwrite {
                id,
                len: rng.gen_range(0..10),
                byte: rng.r#gen(),
                offset: rng.gen_range(-2..40),
            },
            44..=46 => Op::Lseek {
                id,
                offset: rng.gen_range(-5..40),
                whence: rng.gen_range(0..3),
            },
            47 => Op::Ftruncate {
                id,
                len: rng.gen_range(0..40),
            },
            48 => Op::Fstat { id },
            49..=54 => Op::Unlink {
                path: path(&mut rng),
            },
            55..=59 => Op::Rmdir {
                // `../name` often removes the working directory itself.
                path: if rng.gen_bool(0.3) {
                    format!("../{}", NAMES[rng.gen_range(0..NAMES.len())])
                } else {
                    path(&mut rng)
                },
            },
            60..=66 => Op::Rename {
                from: path(&mut rng),
                to: path(&mut rng),
            },
            67..=70 => Op::Link {
                from: path(&mut rng),
                to: path(&mut rng),
            },
            71..=77 => Op::Symlink {
                target: target(&mut rng),
                path: path(&mut rng),
            },
            78..=79 => Op::Readlink {
                path: path(&mut rng),
            },
            80..=84 => Op::Chmod {
                path: path(&mut rng),
                mode: chmod_mode(&mut rng),
            },
            85..=88 => Op::Stat {
                path: path(&mut rng),
            },
            89..=91 => Op::Lstat {
                path: path(&mut rng),
            },
            92..=94 => Op::Readdir {
                path: path(&mut rng),
            },
            95..=97 => Op::Truncate {
                path: path(&mut rng),
                len: rng.gen_range(0..40),
            },
            98..=99 => Op::Access {
                path: path(&mut rng),
                mode: rng.gen_range(0..8),
            },
            // The working directory: later relative paths start where these leave it.
            // Plain names make a chdir into a directory just made likely.
            100..=103 => Op::Chdir {
                path: if rng.gen_bool(0.5) {
                    NAMES[rng.gen_range(0..NAMES.len())].to_owned()
                } else {
                    path(&mut rng)
                },
            },
            104 => {
                if rng.gen_bool(0.5) {
                    // A descriptor on a directory to change into.
                    next_id += 1;
                    ops.push(Op::Open {
                        id: next_id,
                        path: path(&mut rng),
                        flags: 1 | 1 << 6, // READ | DIRECTORY
                        mode: 0,
                    });
                }
                Op::Fchdir { id: next_id }
            }
            _ => Op::Getcwd,
        };
        ops.push(op);
    }
    ops.truncate(len);
    ops
}

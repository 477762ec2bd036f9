//! `memory-fs save` and `load` stream: a large value goes in and out of a store with
//! the process's peak memory a bounded amount above a run that moves nothing, and
//! comes back byte for byte.
//!
//! The value is 256 MiB here; `MEMORY_FS_STREAM_MIB=1024` runs the 1 GiB.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Peak memory allowed above the baseline run, in bytes.
const BOUND: u64 = 64 << 20;

fn size_mib() -> u64 {
    std::env::var("MEMORY_FS_STREAM_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Runs the binary with `args` in `dir` and returns its exit code and peak resident
/// memory in bytes (the kernel's `ru_maxrss` of the child, from `wait4`).
fn run(dir: &Path, vars: &[(String, String)], args: &[String]) -> (i32, u64, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memory-fs"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("MEMORY_FS_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    // Its own process group, so nothing else is counted with it.
    cmd.process_group(0);
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, for its rusage"
    )]
    let mut child = cmd.spawn().expect("spawn memory-fs");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let pid = i32::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: `rusage` is plain data that `wait4` fills; `pid` is our own child, which
    // is reaped here (std's `Child` is not waited on afterwards).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a status word and a `rusage`, for our own child.
    let reaped = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let stderr = reader.join().expect("stderr reader");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let peak = u64::try_from(usage.ru_maxrss).expect("maxrss") * 1024;
    (code, peak, stderr)
}

/// Writes a file of `mib` MiB of a pattern that no run of zeros could pass for.
fn input(path: &Path, mib: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create input"));
    let mut block = vec![0u8; 1 << 20];
    for m in 0..mib {
        for (i, b) in block.iter_mut().enumerate() {
            *b = ((i as u64).wrapping_mul(2_654_435_761).wrapping_add(m) >> 7) as u8;
        }
        file.write_all(&block).expect("write input");
    }
    file.flush().expect("flush input");
}

fn same_files(a: &Path, b: &Path) -> bool {
    use std::io::Read as _;
    let (mut a, mut b) = (
        std::fs::File::open(a).expect("open"),
        std::fs::File::open(b).expect("open"),
    );
    let (mut x, mut y) = (Vec::new(), Vec::new());
    loop {
        x.clear();
        y.clear();
        let n = (&mut a).take(1 << 20).read_to_end(&mut x).expect("read");
        let m = (&mut b).take(1 << 20).read_to_end(&mut y).expect("read");
        if x != y {
            return false;
        }
        if n == 0 && m == 0 {
            return true;
        }
    }
}

fn save_and_load(store: &str, vars: &[(String, String)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mib = size_mib();
    let big = dir.path().join("big.bin");
    input(&big, mib);
    let store_arg = ["--store", store];
    let with = |rest: &[&str]| -> Vec<String> {
        store_arg
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };

    // What a run that moves no value costs: the baseline.
    let small = dir.path().join("small.bin");
    std::fs::write(&small, b"small").expect("write");
    let baseline_args = with(&["save", small.to_str().expect("utf-8")]);
    let (code, baseline, err) = run(dir.path(), vars, &baseline_args);
    assert_eq!(code, 0, "{store}: saving a small file: {err}");

    let save_args = with(&["save", big.to_str().expect("utf-8")]);
    let (code, saved, err) = run(dir.path(), vars, &save_args);
    assert_eq!(code, 0, "{store}: saving {mib} MiB: {err}");
    let out = dir.path().join("out.bin");
    let load_args = with(&["load", "big", "-o", out.to_str().expect("utf-8")]);
    let (code, loaded, err) = run(dir.path(), vars, &load_args);
    assert_eq!(code, 0, "{store}: loading {mib} MiB: {err}");
    assert!(
        same_files(&big, &out),
        "{store}: the value came back changed"
    );
    let mb = |b: u64| b as f64 / f64::from(1 << 20);
    eprintln!(
        "{store}: {mib} MiB, peak memory: baseline {:.1} MiB, save {:.1} MiB (+{:.1}), load {:.1} MiB (+{:.1})",
        mb(baseline),
        mb(saved),
        mb(saved.saturating_sub(baseline)),
        mb(loaded),
        mb(loaded.saturating_sub(baseline))
    );
    assert!(
        saved.saturating_sub(baseline) <= BOUND,
        "{store}: a save of {mib} MiB took {:.1} MiB above the baseline",
        mb(saved.saturating_sub(baseline))
    );
    assert!(
        loaded.saturating_sub(baseline) <= BOUND,
        "{store}: a load of {mib} MiB took {:.1} MiB above the baseline",
        mb(loaded.saturating_sub(baseline))
    );
}

#[test]
fn disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().display());
    save_and_load(&url, &[]);
}

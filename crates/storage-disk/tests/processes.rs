//! Conditional writes across processes: several processes incrementing one counter
//! lose no increment, and the lock that orders them dies with a process killed while
//! holding it.
//!
//! Each child is this test binary re-run on one ignored entry point, with its job in
//! environment variables; a child says `ready` and waits for a line on its standard
//! input, so the parent releases all of them at once.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use memory_fs_storage::{Batch, ErrorKind, Expect, SafePath, Storage};
use memory_fs_storage_disk::{DiskConfig, DiskStorage};

const ROOT: &str = "MEMORY_FS_DISK_CHILD_ROOT";
const JOB: &str = "MEMORY_FS_DISK_CHILD_JOB";
const INCREMENTS: u64 = 40;

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

fn open(root: &str) -> DiskStorage {
    DiskStorage::with_config(DiskConfig {
        fsync: false,
        ..DiskConfig::new(root)
    })
    .expect("open")
}

/// One read, then a conditional write of the counter plus one: through
/// `file_save_if`, or through a batch that also claims the number. Whether it won.
fn increment(store: &DiskStorage, by_batch: bool) -> bool {
    let counter = key("counter");
    let (bytes, version) = store.file_get(&counter).expect("get").expect("seeded");
    let n: u64 = std::str::from_utf8(&bytes)
        .expect("utf-8")
        .parse()
        .expect("number");
    let next = (n + 1).to_string();
    let outcome = if by_batch {
        let claim = key(&format!("claims/{:06}", n + 1));
        let me = std::process::id().to_string();
        store.apply(
            &Batch::new()
                .check(counter.clone(), Expect::Version(version))
                .check(claim.clone(), Expect::Absent)
                .put(claim, me.as_bytes())
                .put(counter, next.as_bytes()),
        )
    } else {
        store
            .file_save_if(&counter, next.as_bytes(), &Expect::Version(version))
            .map(drop)
    };
    match outcome {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::PreconditionFailed => false,
        Err(e) => panic!("increment: {e}"),
    }
}

/// The children's entry point (run only by the tests below, hence ignored).
#[test]
#[ignore = "entry point of the child processes of this file's tests"]
fn disk_child() {
    let root = std::env::var(ROOT).expect("run by a parent test");
    let job = std::env::var(JOB).expect("run by a parent test");
    let store = open(&root);
    println!("ready");
    std::io::stdout().flush().expect("flush");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("stdin");
    match job.as_str() {
        "increment" => {
            let mut done = 0;
            while done < INCREMENTS {
                if increment(&store, done % 2 == 1) {
                    done += 1;
                }
            }
        }
        // Until killed.
        "increment-forever" => loop {
            increment(&store, false);
        },
        other => panic!("unknown job {other}"),
    }
}

fn spawn(job: &str, root: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "disk_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(ROOT, root)
        .env(JOB, job)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Waits for a child's `ready` (the end of a line: the harness may have begun it) and
/// hands back the rest of its output, kept open so it can go on printing.
fn ready(child: &mut Child) -> std::io::Lines<BufReader<std::process::ChildStdout>> {
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    for line in lines.by_ref() {
        if line.map_or(true, |l| l.ends_with("ready")) {
            break;
        }
    }
    lines
}

fn go(child: &mut Child) {
    // A child that died before reading gets nothing; its exit status tells.
    let _ = child.stdin.as_mut().expect("piped").write_all(b"go\n");
}

fn seeded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    open(dir.path().to_str().expect("utf-8"))
        .file_save(&key("counter"), b"0")
        .expect("seed");
    dir
}

/// Four processes increment one counter, half of the time through a batch that also
/// claims the number: no increment is lost, no number is claimed twice.
#[test]
fn conditional_writes_hold_across_processes() {
    let dir = seeded();
    let mut children: Vec<Child> = (0..4).map(|_| spawn("increment", dir.path())).collect();
    let outputs: Vec<_> = children.iter_mut().map(ready).collect();
    children.iter_mut().for_each(go);
    for (child, rest) in children.into_iter().zip(outputs) {
        let rest: Vec<String> = rest.map_while(Result::ok).collect();
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "a child failed:\n{}\n{}",
            rest.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = open(dir.path().to_str().expect("utf-8"));
    assert_eq!(
        store.file_bytes(&key("counter")).expect("load"),
        Some((4 * INCREMENTS).to_string().into_bytes()),
        "every increment counted once"
    );
    assert_eq!(
        store.files_paths(Some(&key("claims"))).expect("list").len(),
        usize::try_from(4 * INCREMENTS / 2).expect("small"),
        "every batch claimed its own number"
    );
}

/// A child increments without end and is killed (`SIGKILL`) at moments of the
/// parent's choosing, often while it holds the lock. Each time, the parent's own
/// conditional write must get through (the lock died with the child) and find a whole
/// number.
#[test]
fn the_lock_dies_with_a_killed_process() {
    let dir = seeded();
    let store = open(dir.path().to_str().expect("utf-8"));
    let mut last = 0u64;
    for round in 0..5u64 {
        let mut child = spawn("increment-forever", dir.path());
        let rest = ready(&mut child);
        go(&mut child);
        std::thread::sleep(Duration::from_millis(30 + round * 23));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        drop(rest);
        let started = Instant::now();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let won = increment(&store, false);
                let _ = done_tx.send(won);
            });
            let won = done_rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the lock was released when its holder died");
            assert!(won, "nobody else writes now");
        });
        let n: u64 = String::from_utf8(
            store
                .file_bytes(&key("counter"))
                .expect("load")
                .expect("exists"),
        )
        .expect("utf-8")
        .parse()
        .expect("a whole number");
        assert!(n > last, "round {round}: {n} after {last}");
        last = n;
        eprintln!(
            "round {round}: counter at {n}, lock taken {:?} after the kill",
            started.elapsed()
        );
    }
}

//! Several processes on one database file: opening a file that does not exist yet at
//! the same moment, and conditional writes and batches that must not lose an update.
//!
//! Each child is this test binary re-run on one ignored entry point, with its job in
//! environment variables; a child says `ready` and waits for a line on its standard
//! input, so the parent releases all of them at once.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use memory_fs_storage::{Batch, ErrorKind, Expect, SafePath, Storage};
use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};

const DB: &str = "MEMORY_FS_SQLITE_CHILD_DB";
const JOB: &str = "MEMORY_FS_SQLITE_CHILD_JOB";
const LAYOUT: &str = "MEMORY_FS_SQLITE_CHILD_LAYOUT";

fn key(s: &str) -> SafePath {
    SafePath::new(s).expect("valid key")
}

/// Says `ready` (at the end of a line: the test harness may have started it) and
/// waits for the parent's go.
fn wait_for_go() {
    println!("ready");
    std::io::stdout().flush().expect("flush");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("stdin");
}

fn child_config(path: &str) -> SqliteConfig {
    let config = SqliteConfig::file(path).synchronous_normal();
    match std::env::var(LAYOUT).as_deref() {
        Ok("python") => config.layout(Layout::Python),
        _ => config,
    }
}

/// The children's entry point (run only by the tests below, hence ignored).
#[test]
#[ignore = "entry point of the child processes of this file's tests"]
fn sqlite_child() {
    let path = std::env::var(DB).expect("run by a parent test");
    let job = std::env::var(JOB).expect("run by a parent test");
    let me = std::process::id();
    wait_for_go();
    match job.as_str() {
        "open-and-save" => {
            let store = SqliteStorage::with_config(child_config(&path))
                .unwrap_or_else(|e| panic!("child {me}: open: {e}"));
            store
                .file_save(&key(&format!("opened/{me}")), b"here")
                .unwrap_or_else(|e| panic!("child {me}: save: {e}"));
        }
        "increment" => {
            let store = SqliteStorage::with_config(child_config(&path)).expect("open");
            let counter = key("counter");
            let mut done = 0;
            while done < INCREMENTS {
                let (bytes, version) = store.file_get(&counter).expect("get").expect("seeded");
                let n: u64 = std::str::from_utf8(&bytes)
                    .expect("utf-8")
                    .parse()
                    .expect("number");
                let next = (n + 1).to_string();
                // Every other increment goes through a batch that also claims the number.
                let outcome = if done % 2 == 0 {
                    store
                        .file_save_if(&counter, next.as_bytes(), &Expect::Version(version))
                        .map(drop)
                } else {
                    let claim = key(&format!("claims/{:06}", n + 1));
                    let mine = me.to_string();
                    store.apply(
                        &Batch::new()
                            .check(counter.clone(), Expect::Version(version))
                            .check(claim.clone(), Expect::Absent)
                            .put(claim, mine.as_bytes())
                            .put(counter.clone(), next.as_bytes()),
                    )
                };
                match outcome {
                    Ok(()) => done += 1,
                    Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                    Err(e) => panic!("child {me}: {e}"),
                }
            }
        }
        other => panic!("unknown job {other}"),
    }
}

/// Starts `n` children on `job` against `db` and waits until each says it is ready.
fn spawn(n: usize, job: &str, db: &Path, layout: &str) -> Vec<Child> {
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<Child> = (0..n)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "sqlite_child", "--ignored", "--nocapture"])
                .args(["--test-threads", "1"])
                .env(DB, db)
                .env(JOB, job)
                .env(LAYOUT, layout)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    children
}

/// Releases every child at once, then waits for all and returns their failures.
fn release_and_wait(mut children: Vec<Child>) -> Vec<String> {
    let mut outputs = Vec::new();
    for child in &mut children {
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.ends_with("ready") => break,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        // Kept open (and drained below): a child must be able to print its result.
        outputs.push(lines);
    }
    for child in &mut children {
        // A child that died before reading gets nothing; its exit status tells.
        let _ = child.stdin.as_mut().expect("piped").write_all(b"go\n");
    }
    children
        .into_iter()
        .zip(outputs)
        .filter_map(|(child, rest)| {
            let rest: Vec<String> = rest.map_while(std::result::Result::ok).collect();
            let out = child.wait_with_output().expect("wait");
            (!out.status.success()).then(|| {
                format!(
                    "{}\n{}",
                    rest.join("\n"),
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        })
        .collect()
}

/// Eight processes open a database file that does not exist yet, at once, and save;
/// twenty times over (and five in the Python layout), on a fresh file each time.
/// Every open and every save succeeds.
#[test]
fn eight_processes_open_a_fresh_file_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (layout, rounds) in [("native", 20), ("python", 5)] {
        for round in 0..rounds {
            let db = dir.path().join(format!("fresh-{layout}-{round}.db"));
            let children = spawn(8, "open-and-save", &db, layout);
            let failures = release_and_wait(children);
            assert!(
                failures.is_empty(),
                "{layout} round {round}: {} of 8 failed:\n{}",
                failures.len(),
                failures.join("\n---\n")
            );
            let store = SqliteStorage::open(&db).expect("open");
            assert_eq!(
                store.files_paths(Some(&key("opened"))).expect("list").len(),
                8,
                "{layout} round {round}"
            );
        }
    }
}

const INCREMENTS: u64 = 40;

/// Four processes increment one counter by read, then conditional write (or a batch
/// that checks the counter and claims the number): no increment is lost and no number
/// is claimed twice.
#[test]
fn conditional_writes_hold_across_processes() {
    for layout in ["native", "python"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("shared.db");
        let config = SqliteConfig::file(&db).synchronous_normal();
        let config = if layout == "python" {
            config.layout(Layout::Python)
        } else {
            config
        };
        SqliteStorage::with_config(config)
            .expect("open")
            .file_save(&key("counter"), b"0")
            .expect("seed");
        let failures = release_and_wait(spawn(4, "increment", &db, layout));
        assert!(
            failures.is_empty(),
            "{layout}: {}",
            failures.join("\n---\n")
        );
        let store = SqliteStorage::open(&db).expect("open");
        assert_eq!(
            store.file_bytes(&key("counter")).expect("load"),
            Some((4 * INCREMENTS).to_string().into_bytes()),
            "{layout}: every increment counted once"
        );
        assert_eq!(
            store.files_paths(Some(&key("claims"))).expect("list").len(),
            usize::try_from(4 * INCREMENTS / 2).expect("small"),
            "{layout}: every batch claimed its own number"
        );
    }
}

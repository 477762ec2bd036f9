//! Logical files against killed and racing processes, on disk, SQLite and S3 (the
//! in-process server, which these child processes reach over 127.0.0.1):
//! - a process saving a versioned file and committing transactions of two files is
//!   killed with SIGKILL at random moments; after each kill no file is torn, every
//!   acknowledged save and transaction is there, the two files of a transaction are
//!   always from the same transaction, and after recovery the store verifies clean;
//! - four processes save new versions of one file at once: every acknowledged version
//!   is stored, under a number no other writer got, with the bytes its writer wrote.
//!
//! `MEMORY_FS_LOGICAL_KILLS` sets the number of kills per provider (default 40;
//! `cargo xtask ci` runs 200).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use memory_fs::{
    Catalog, Content, File, FileId, FileSpec, FileType, PathHandler, Storage, SystemClock,
};
use memory_fs_storage_disk::DiskStorage;
use memory_fs_storage_s3::S3Storage;
use memory_fs_storage_sqlite::SqliteStorage;

const STORE: &str = "MEMORY_FS_TEST_STORE";
const MODE: &str = "MEMORY_FS_TEST_MODE";
const WRITER: &str = "MEMORY_FS_TEST_WRITER";

fn id(s: &str) -> FileId {
    FileId::new(s).expect("id")
}

/// Where a child finds its store: `disk:<dir>`, `sqlite:<file>` or `s3:<prefix>`
/// (the server's endpoint and credentials in the usual environment variables).
fn open(spec: &str) -> Arc<dyn Storage> {
    let (kind, rest) = spec.split_once(':').expect("kind:where");
    match kind {
        "disk" => Arc::new(DiskStorage::open(rest).expect("disk")),
        "sqlite" => Arc::new(SqliteStorage::open(rest).expect("sqlite")),
        "s3" => {
            // A child is told where the parent's server is; the parent has it.
            let config = match std::env::var("MEMORY_FS_TEST_ENDPOINT") {
                Ok(endpoint) => {
                    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} unset"));
                    memory_fs_storage_s3::S3Config::new(var("MEMORY_FS_TEST_BUCKET"))
                        .with_endpoint(endpoint)
                        .with_allow_http(true)
                        .with_credentials(var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
                        .with_nested_keys(false)
                        .with_conditional_create(true)
                        .with_conditional_write(true)
                }
                Err(_) => common::server().config(),
            };
            Arc::new(S3Storage::new(config.with_prefix(rest)).expect("s3"))
        }
        other => panic!("no store kind {other}"),
    }
}

fn doc() -> FileSpec {
    FileSpec::new(id("doc"), FileType::text()).handlers([
        PathHandler::latest(),
        PathHandler::custom("mirror"),
        PathHandler::versioned(),
    ])
}

fn pair(name: &str) -> FileSpec {
    FileSpec::new(id(name), FileType::text()).handlers([PathHandler::custom("pairs")])
}

/// The round a stored text says it is from (`"<what> <round>\n…"`).
fn round_of(text: &str) -> u64 {
    text.split_whitespace()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("not a round: {text:?}"))
}

fn text(storage: &Arc<dyn Storage>, name: &str) -> Option<String> {
    File::open(storage.clone(), &id(name))
        .unwrap_or_else(|e| panic!("{name}: record unreadable: {e}"))
        .map(|f| {
            f.load_text()
                .unwrap_or_else(|e| panic!("{name} is torn: {e}"))
                .unwrap_or_else(|| panic!("{name} is listed without content"))
        })
}

/// The child of the kill test: saves `doc` and commits transactions of `a` and `b`,
/// printing an `ack` line after each returns. Never returns.
fn crash_child(storage: &Arc<dyn Storage>) -> ! {
    let catalog = Catalog::new(storage.clone(), Arc::new(SystemClock));
    let mut round = text(storage, "a").map_or(0, |t| round_of(&t)) + 1;
    loop {
        // Long enough that contents are several packets on S3 and many pages on SQLite.
        let body = format!("doc {round}\n{}", "d".repeat(20_000));
        File::save(storage.clone(), &doc(), Content::Text(&body)).expect("save doc");
        println!("ack save {round}");
        let mut tx = catalog.transaction();
        tx.save(&pair("a"), Content::Text(&format!("a {round}\n")))
            .expect("a");
        tx.save(
            &pair("b"),
            Content::Text(&format!("b {round}\n{}", "b".repeat(5_000))),
        )
        .expect("b");
        tx.add_tags(&id("b"), [format!("r{round}")]);
        tx.commit().expect("transaction");
        println!("ack tx {round}");
        round += 1;
    }
}

/// The child of the race test: 20 new versions of `shared`, printing each version
/// number it was given.
fn versions_child(storage: &Arc<dyn Storage>, writer: usize) {
    let spec = FileSpec::new(id("shared"), FileType::text())
        .handlers([PathHandler::latest(), PathHandler::versioned()]);
    for round in 0..20 {
        let body = format!("writer {writer} round {round}\n");
        let file = File::save(storage.clone(), &spec, Content::Text(&body)).expect("save");
        let folder = &file.config().file_paths[1];
        println!("ack {writer} {round} {folder}");
    }
}

/// The children run as ignored tests of this binary.
#[test]
#[ignore = "started by the crash and race tests, not on its own"]
fn child() {
    let storage = open(&std::env::var(STORE).expect("store"));
    match std::env::var(MODE).expect("mode").as_str() {
        "crash" => crash_child(&storage),
        _ => versions_child(
            &storage,
            std::env::var(WRITER)
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0),
        ),
    }
}

fn child_command(spec: &str, mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--exact",
        "child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(STORE, spec)
    .env(MODE, mode)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let server = common::server();
    cmd.env("MEMORY_FS_TEST_BUCKET", &server.bucket)
        .env("MEMORY_FS_TEST_ENDPOINT", &server.endpoint)
        .env("AWS_ACCESS_KEY_ID", &server.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &server.secret_key);
    cmd
}

/// Every provider the processes share: (name, where the children find it).
fn stores(tag: &str) -> Vec<(&'static str, String, Box<dyn std::any::Any>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = format!("disk:{}", dir.path().join("disk").display());
    std::fs::create_dir_all(dir.path().join("disk")).expect("mkdir");
    let sqlite = format!("sqlite:{}", dir.path().join("store.db").display());
    let s3 = format!("s3:{tag}-{}", std::process::id());
    vec![
        ("disk", disk, Box::new(()) as Box<dyn std::any::Any>),
        ("sqlite", sqlite, Box::new(())),
        ("s3", s3, Box::new(dir)),
    ]
}

fn kills() -> usize {
    std::env::var("MEMORY_FS_LOGICAL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// How long a child runs before it is killed: long enough to start and get through a
/// few commits on this provider (measured: a first acknowledgement after about 30 ms
/// on SQLite, 70 ms on disk, 170 ms on S3 here, then a commit every 6, 50 and 45 ms),
/// at a random point of its work.
fn lifetime(name: &str, rng: u64) -> Duration {
    let (first, span) = match name {
        "sqlite" => (20, 200),
        "disk" => (50, 500),
        _ => (120, 600),
    };
    Duration::from_millis(first + rng % span)
}

fn kill_loop(name: &str, spec: &str) {
    let storage = open(spec);
    let (mut saved, mut committed) = (0u64, 0u64);
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15 ^ spec.len() as u64;
    let mut acks = 0;
    for kill in 0..kills() {
        let mut child = child_command(spec, "crash").spawn().expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(lifetime(name, rng));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reap");
        assert!(
            status.code().is_none(),
            "{name}: the child ended by itself: {status}"
        );
        for line in reader.join().expect("reader") {
            // The test harness may print on the same line before the first ack.
            let Some(at) = line.find("ack ") else {
                continue;
            };
            let mut words = line[at..].split_whitespace();
            match (
                words.next(),
                words.next(),
                words.next().and_then(|r| r.parse().ok()),
            ) {
                (Some("ack"), Some("save"), Some(r)) => saved = saved.max(r),
                (Some("ack"), Some("tx"), Some(r)) => committed = committed.max(r),
                _ => continue,
            }
            acks += 1;
        }
        let case = format!("{name} kill {kill}");
        // Before any recovery, what a reader sees is whole.
        if let Some(d) = text(&storage, "doc") {
            assert!(
                round_of(&d) >= saved,
                "{case}: doc at {d:.8} lost save {saved}"
            );
        } else {
            assert_eq!(saved, 0, "{case}: doc vanished");
        }
        match (text(&storage, "a"), text(&storage, "b")) {
            (Some(a), Some(b)) => {
                if round_of(&a) != round_of(&b) {
                    let raw = |n: &str| {
                        memory_fs_file::storage::SafePath::new(format!(".memory-fs/files/{n}"))
                            .ok()
                            .and_then(|k| storage.file_bytes(&k).ok().flatten())
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    };
                    let tx = storage
                        .files_paths(Some(
                            &memory_fs_file::storage::SafePath::new(".memory-fs/tx").expect("key"),
                        ))
                        .expect("list");
                    panic!(
                        "{case}: a and b from different transactions: {a:?} {b:?}\nrecord a: {:?}\nrecord b: {:?}\ntx keys: {tx:?}",
                        raw("a"),
                        raw("b")
                    );
                }
                assert!(
                    round_of(&a) >= committed,
                    "{case}: transaction {committed} lost"
                );
            }
            (None, None) => assert_eq!(committed, 0, "{case}: the pair vanished"),
            (a, b) => panic!("{case}: half a transaction: {a:?} {b:?}"),
        }
        // Every version of doc reads whole.
        if let Some(file) = File::open(storage.clone(), &id("doc")).expect("open") {
            assert!(
                file.versions().len() as u64 >= saved,
                "{case}: versions lost"
            );
            for n in file.versions() {
                let version = file.version(n).expect("version").expect("held");
                version
                    .load_text()
                    .unwrap_or_else(|e| panic!("{case}: v{n} is torn: {e}"));
            }
        }
    }
    let catalog = Catalog::new(storage.clone(), Arc::new(SystemClock));
    catalog.recover().expect("recover");
    let report = catalog.verify(None).expect("verify");
    assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
    assert!(acks > 0, "{name}: the child never acknowledged anything");
    eprintln!(
        "{name}: {} kills, {acks} acknowledgements, {saved} saves and {committed} transactions checked",
        kills()
    );
}

#[test]
fn killed_writers_leave_no_torn_file() {
    let stores = stores("kill");
    std::thread::scope(|s| {
        for (name, spec, _) in &stores {
            s.spawn(move || kill_loop(name, spec));
        }
    });
}

#[test]
fn racing_writers_never_share_a_version() {
    for (name, spec, _keep) in stores("race") {
        let children: Vec<_> = (0..4)
            .map(|w| {
                child_command(&spec, "versions")
                    .env(WRITER, w.to_string())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let mut acks: Vec<(usize, u32, String)> = Vec::new();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert!(out.status.success(), "{name}: a writer failed");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let Some(at) = line.find("ack ") else {
                    continue;
                };
                let words: Vec<&str> = line[at..].split_whitespace().collect();
                if let ["ack", w, r, folder] = words[..] {
                    acks.push((
                        w.parse().expect("w"),
                        r.parse().expect("r"),
                        folder.to_owned(),
                    ));
                }
            }
        }
        assert_eq!(acks.len(), 80, "{name}: 4 writers × 20 saves acknowledged");
        let mut folders: Vec<&str> = acks.iter().map(|(_, _, f)| f.as_str()).collect();
        folders.sort_unstable();
        folders.dedup();
        assert_eq!(
            folders.len(),
            80,
            "{name}: two writers were given the same version"
        );
        let storage = open(&spec);
        let file = File::open(storage.clone(), &id("shared"))
            .expect("open")
            .expect("saved");
        assert_eq!(file.versions().len(), 80, "{name}: every version is stored");
        for (w, r, folder) in &acks {
            let n: u32 = folder.trim_start_matches('v').parse().expect("vN");
            let got = file
                .version(n)
                .expect("read")
                .expect("held")
                .load_text()
                .expect("load");
            assert_eq!(
                got.as_deref(),
                Some(format!("writer {w} round {r}\n").as_str()),
                "{name}: {folder} holds another writer's bytes"
            );
        }
        let catalog = Catalog::new(storage, Arc::new(SystemClock));
        assert!(
            catalog.verify(None).expect("verify").problems.is_empty(),
            "{name}"
        );
        eprintln!("{name}: 80 racing saves, 80 distinct versions, none lost");
    }
}

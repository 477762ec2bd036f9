//! Crash safety: a child saving versions of many keys is SIGKILLed at random moments;
//! every key must then hold one complete version, never older than an acknowledged
//! one. `MEMORY_FS_CRASH_KILLS` sets the number of kills.

use memory_fs_storage::testkit::crash;
use memory_fs_storage_sqlite::SqliteStorage;

const CHILD_ENV: &str = "MEMORY_FS_CRASH_CHILD_DB";

/// The child's entry point, run only by `survives_sigkill` (hence ignored).
#[test]
#[ignore = "entry point of the crash child process; run by survives_sigkill"]
fn crash_child() {
    let path = std::env::var(CHILD_ENV).expect("run by survives_sigkill");
    let store = SqliteStorage::open(path).expect("open store");
    crash::child(&store);
}

#[test]
fn survives_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.db");
    let kills = std::env::var("MEMORY_FS_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let exe = std::env::current_exe().expect("test binary");
    let ran = crash::run(
        || {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path);
            cmd
        },
        || Box::new(SqliteStorage::open(&path).expect("reopen store")),
        kills,
        0xdb,
    );
    eprintln!("sqlite crash test: {ran} kills, every key whole and no acknowledged write lost");
}

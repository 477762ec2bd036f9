//! Crash safety: a child saving versions of many keys (fsync on) is SIGKILLed at
//! random moments; every key must then hold one complete version, never torn, never
//! older than an acknowledged one. `MEMORY_FS_CRASH_KILLS` sets the number of kills.

use memory_fs_storage::testkit::crash;
use memory_fs_storage_disk::DiskStorage;

const CHILD_ENV: &str = "MEMORY_FS_CRASH_CHILD_DIR";

/// The child's entry point, run only by `survives_sigkill` (hence ignored).
#[test]
#[ignore = "entry point of the crash child process; run by survives_sigkill"]
fn crash_child() {
    let dir = std::env::var(CHILD_ENV).expect("run by survives_sigkill");
    let store = DiskStorage::open(dir).expect("open store");
    crash::child(&store);
}

#[test]
fn survives_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    let ran = crash::sigkill_current_test(
        "crash_child",
        CHILD_ENV,
        path.as_os_str(),
        || Box::new(DiskStorage::open(&path).expect("reopen store")),
        0x5eed,
    );
    eprintln!("disk crash test: {ran} kills, every key whole and no acknowledged write lost");
}
